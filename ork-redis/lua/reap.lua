-- reap.lua: puts jobs whose lease expired back in their queue, and trims
-- expired entries from the finished indexes.
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms
-- Returns: how many jobs were put back.
--
-- The attempt does not count (attempts-1) and the job's lost count grows
-- by one. The fence is not changed here, and `rp` keeps it: until the next
-- claim raises the fence, the old holder's heartbeat or finish still counts
-- and takes the job back (see unreap() in lib.lua), so a holder that was
-- slow, not dead, never has its finished work run again.

local n = 0
for _, q in ipairs(all_queues()) do
  local ids = redis.call('ZRANGEBYSCORE', K_run(q), '-inf', now(), 'LIMIT', 0, 1000)
  for _, id in ipairs(ids) do
    local k = K_job(id)
    local f = redis.call('HMGET', k, 's', 'p', 'r', 'sl')
    if f[1] == 'r' then
      if f[4] then release_slots(id, f[4]) end
      local fence, attempts, lost, started = run_of(f[3])
      make_ready(id, q, f[2], 'r', run_field(fence, math.max(attempts - 1, 0), lost + 1, started),
        'e', 'lease expired (the worker died or stalled)', 'rp', str(fence))
      n = n + 1
    end
  end
  if #ids > 0 then redis.call('ZREM', K_run(q), unpack(ids)) end
  trim_finished(q)
end
-- Caps with parked jobs and free slots (a job moved forward, then
-- cancelled before a claim took it): move parked jobs forward now.
for _, cap in ipairs(redis.call('SMEMBERS', K_PARKED_CAPS)) do
  if redis.call('LLEN', K_parked(cap)) == 0 then
    if redis.call('SCARD', K_slots(cap)) == 0 then
      redis.call('SREM', K_PARKED_CAPS, cap)
      redis.call('HDEL', K_CAPS, cap)
    end
  else
    local limit = tonumber(redis.call('HGET', K_CAPS, cap)) or 1
    local free = limit - redis.call('SCARD', K_slots(cap))
    if free > 0 then unpark(cap, free) end
  end
end
flush()
return n
