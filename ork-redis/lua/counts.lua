-- counts.lua: how many jobs each queue holds in each state.
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms
-- Returns: per known queue (sorted) eight entries: the queue, then waiting,
--       scheduled, queued, running, succeeded, dead, cancelled.
--
-- Succeeded and cancelled count jobs not yet expired (their index is
-- trimmed first).

local out = {}
for _, q in ipairs(all_queues()) do
  trim_finished(q)
  local queued = 0
  for p = 0, 9 do queued = queued + redis.call('LLEN', K_ready(q, p)) end
  queued = queued + redis.call('LLEN', K_held(q))
  out[#out + 1] = q
  out[#out + 1] = redis.call('ZCARD', K_wait(q))
  out[#out + 1] = redis.call('ZCARD', K_sched(q))
  out[#out + 1] = queued
  out[#out + 1] = redis.call('ZCARD', K_run(q))
  out[#out + 1] = redis.call('ZCARD', K_ok(q))
  out[#out + 1] = redis.call('ZCARD', K_dead(q))
  out[#out + 1] = redis.call('ZCARD', K_cancel(q))
end
return out
