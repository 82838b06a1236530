-- heartbeat.lua: extends leases that are still current.
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms  [3] lease ms
--       [4..] pairs of job id and fencing token
-- Returns: per lease 1 (held, extended), 2 (held, extended, cancellation
--       requested) or 0 (lost: stale fence, not running, or gone). A lease
--       the reaper took is held again if nobody claimed the job since.

local deadline = str(now() + tonumber(ARGV[3]))
local out = {}
for i = 4, #ARGV, 2 do
  local id, fence = ARGV[i], tonumber(ARGV[i + 1])
  local f = redis.call('HMGET', K_job(id), 'r', 's', 'q', 'cr')
  if f[2] == 'q' and f[3] and fence_of(f[1]) == fence and unreap(id, f[3], fence, f[1]) then
    -- Reaped but not claimed again: the holder is alive, the job is its own.
    f[2] = 'r'
  end
  if f[2] == 'r' and fence_of(f[1]) == fence then
    defer('ZADD', memo(K_run, f[3]), deadline, id)
    out[#out + 1] = f[4] and 2 or 1
  else
    out[#out + 1] = 0
  end
end
flush()
return out
