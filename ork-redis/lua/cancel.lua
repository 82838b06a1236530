-- cancel.lua: cancels a job that has not started, or asks a running one to
-- stop.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:uniq
-- ARGV: [1] prefix  [2] default result TTL ms  [3] job id
-- Returns: { code, state }: code 0 unknown job, 1 cancelled, 2 requested
--       (running: its heartbeats now answer "cancel requested"), 3 already
--       finished (state is the terminal state code).
--
-- Cancelling settles dependants: waiting ones are cancelled, recursively.

local id = ARGV[3]
local k = K_job(id)
local st = redis.call('HGET', k, 's')
if not st then return { 0, '' } end
if st == 'r' then
  redis.call('HSET', k, 'cr', '1')
  return { 2, st }
end
if st == 'o' or st == 'd' or st == 'c' then return { 3, st } end
terminate(id, 'c', nil)
flush()
return { 1, 'c' }
