-- purge.lua: deletes every job of a queue that has not started.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:uniq  [3] {ns}:w:<queue>  [4] {ns}:s:<queue>
--       [5] {ns}:c:<queue>  [6..15] the ten ready lists {ns}:q:<queue>:9 .. :0
-- ARGV: [1] prefix  [2] default result TTL ms  [3] queue
-- Returns: how many jobs were deleted.
--
-- Jobs set aside because their task is paused ({ns}:h:<queue>) go too.
-- Each job ends cancelled ("purged") first, so unique keys are released
-- and dependants (in any queue) are cancelled, then it is deleted.

local q = ARGV[3]
local doomed = {}
local function collect(ids)
  for _, id in ipairs(ids) do doomed[#doomed + 1] = id end
end
collect(redis.call('ZRANGE', K_wait(q), 0, -1))
collect(redis.call('ZRANGE', K_sched(q), 0, -1))
for p = 9, 0, -1 do collect(redis.call('LRANGE', K_ready(q, p), 0, -1)) end
collect(redis.call('LRANGE', K_held(q), 0, -1))
redis.call('DEL', K_held(q), K_wait(q), K_sched(q), K_ready(q, 0), K_ready(q, 1), K_ready(q, 2),
  K_ready(q, 3), K_ready(q, 4), K_ready(q, 5), K_ready(q, 6), K_ready(q, 7),
  K_ready(q, 8), K_ready(q, 9))
SKIP_QUEUE = q
for _, id in ipairs(doomed) do
  local f = redis.pcall('HMGET', K_job(id), unpack(TERM_FIELDS))
  if not f.err and (f[1] == 'w' or f[1] == 's' or f[1] == 'q') and f[2] == q then
    terminate(id, 'c', 'purged', f)
  end
end
flush()
for j = 1, #doomed, 1000 do
  local chunk = { unpack(doomed, j, math.min(j + 999, #doomed)) }
  local keys = {}
  for _, id in ipairs(chunk) do
    keys[#keys + 1] = K_job(id)
    keys[#keys + 1] = K_done_deps(id)
    keys[#keys + 1] = K_dependants(id)
    keys[#keys + 1] = K_children(id)
  end
  redis.call('DEL', unpack(keys))
  redis.call('ZREM', K_cancel(q), unpack(chunk))
end
return #doomed
