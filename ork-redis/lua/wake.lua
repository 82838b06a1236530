-- wake.lua: wakes a job for a signal (job side: the job's own prefix).
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms  [3] job id
-- Returns: 1 when the job was parked (scheduled with `pk`) and is now
--       ready; 2 when it is running or queued and is flagged (`wk`), so
--       that its next park makes it ready at once; 0 otherwise (ended,
--       gone, or scheduled for another reason).

local id = ARGV[3]
local k = K_job(id)
local f = redis.call('HMGET', k, 's', 'q', 'pk', 'p')
local st, q = f[1], f[2]
if st == 's' and q and f[3] then
  redis.call('ZREM', K_sched(q), id)
  make_ready(id, q, f[4])
  flush()
  return 1
elseif (st == 'r' or st == 'q') and q then
  redis.call('HSET', k, 'wk', '1')
  return 2
end
return 0
