-- fire.lua: the scheduler's atomic step, a compare-and-set on a schedule's
-- processed-through instant, with the enqueue of its ticks' jobs.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:uniq  [3] {ns}:cron:<name>
-- ARGV: [1] prefix  [2] default result TTL ms  [3] expected processed-through
--       ms  [4] new processed-through ms  [5] record count, then the records
--       as in enqueue.lua
-- Returns: { 0 } refused (no such schedule, paused, or processed through
--       another instant: nothing changed); else { 1, then what enqueue.lua
--       returns }.
--
-- The schedule's last job becomes the last record's id (when there is
-- one). The records carry their tick's deterministic id, a second guard.

local k = KEYS[3]
local f = redis.call('HMGET', k, 'thr', 'pz')
if not f[1] or f[2] or tonumber(f[1]) ~= tonumber(ARGV[3]) then return { 0 } end
local fields = { 'thr', ARGV[4] }
local count = tonumber(ARGV[5])
if count > 0 then
  -- The last record's id: walk the records to find where it starts.
  local i, last = 6, nil
  for _ = 1, count do
    last = ARGV[i]
    i = i + 4 + 2 * tonumber(ARGV[i + 3])
  end
  append(fields, 'last', last)
end
redis.call('HSET', k, unpack(fields))
local out = enqueue_records(5)
flush()
table.insert(out, 1, 1)
return out
