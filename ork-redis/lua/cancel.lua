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
-- It reaches the job's run-time children and their descendants the same
-- way (cancel_tree in lib.lua); each running one is published on the
-- channel {ns}:cancels, so its worker stops it at once.

local id = ARGV[3]
local st = redis.call('HGET', K_job(id), 's')
if not st then return { 0, '' } end
cancel_tree(id)
flush()
if st == 'r' then return { 2, st } end
if st == 'o' or st == 'd' or st == 'c' then return { 3, st } end
return { 1, 'c' }
