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
    local f = redis.call('HMGET', k, 's', 'p', 'r')
    if f[1] == 'r' then
      local fence, attempts, lost, started = run_of(f[3])
      make_ready(id, q, f[2], 'r', run_field(fence, math.max(attempts - 1, 0), lost + 1, started),
        'e', 'lease expired (the worker died or stalled)', 'rp', str(fence))
      n = n + 1
    end
  end
  if #ids > 0 then redis.call('ZREM', K_run(q), unpack(ids)) end
  trim_finished(q)
end
flush()
return n
