-- progress.lua: records a running attempt's progress.
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms  [3] job id  [4] fence
--       [5] percent (0 to 100)
-- Returns: 1 if recorded, 0 if the lease is stale.

local k = K_job(ARGV[3])
local f = redis.call('HMGET', k, 's', 'r')
if f[1] == 'r' and fence_of(f[2]) == tonumber(ARGV[4]) then
  redis.call('HSET', k, 'pg', ARGV[5])
  return 1
end
return 0
