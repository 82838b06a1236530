-- step.lua: stores a durable step's output (or the checkpoint) of a
-- running attempt, fenced.
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms  [3] job id  [4] fence
--       [5] step name  [6] output
-- Returns: 1 if stored, 0 if the lease is stale (the job is not running
--       under this fence: reaped, claimed again, ended, or gone).
--
-- Steps are fields "S:<name>" of the job hash itself, so they live and
-- expire with the job's record (finish, purge and retry need not know of
-- them) and sit in the job's slot.

local k = K_job(ARGV[3])
local f = redis.call('HMGET', k, 's', 'r')
if f[1] == 'r' and fence_of(f[2]) == tonumber(ARGV[4]) then
  redis.call('HSET', k, STEP_PREFIX .. ARGV[5], ARGV[6])
  return 1
end
return 0
