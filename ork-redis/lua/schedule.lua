-- schedule.lua: stores periodic schedules and their state.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:crons (set of schedule names)
-- ARGV: [1] prefix  [2] default result TTL ms  [3] mode, then
--       put: [4] name [5] definition
--       delete: [4] name
--       pause: [4] name [5] '1' pause / '0' resume
--       list: nothing
-- Returns: put: 1 new, 0 replaced; delete: 1 existed, 0 not; pause: 1 the
--       schedule exists, 0 not; list: per schedule (by name) five entries:
--       name, definition, processed-through ms, last job id ('' none),
--       paused ('1' or '0').
--
-- Each schedule is a hash {ns}:cron:<name>: def (definition), thr
-- (processed through, ms, server clock), last (last job id), pz (paused).
-- A new schedule is processed through now; resuming one moves it up to now,
-- so ticks of the pause are never fired.

local mode, name = ARGV[3], ARGV[4]
if mode == 'put' then
  local k = K_schedule(name)
  if redis.call('EXISTS', k) == 1 then
    redis.call('HSET', k, 'def', ARGV[5])
    return 0
  end
  redis.call('HSET', k, 'def', ARGV[5], 'thr', now())
  redis.call('SADD', K_SCHEDULES, name)
  return 1
elseif mode == 'delete' then
  redis.call('SREM', K_SCHEDULES, name)
  return redis.call('DEL', K_schedule(name))
elseif mode == 'pause' then
  local k = K_schedule(name)
  local f = redis.call('HMGET', k, 'thr', 'pz')
  if not f[1] then return 0 end
  if ARGV[5] == '1' then
    redis.call('HSET', k, 'pz', '1')
  else
    if f[2] then
      redis.call('HSET', k, 'thr', math.max(tonumber(f[1]) or 0, now()))
    end
    redis.call('HDEL', k, 'pz')
  end
  return 1
end
local out = {}
local names = redis.call('SMEMBERS', K_SCHEDULES)
table.sort(names)
for _, n in ipairs(names) do
  local f = redis.call('HMGET', K_schedule(n), 'def', 'thr', 'last', 'pz')
  if f[1] then
    out[#out + 1] = n
    out[#out + 1] = f[1]
    out[#out + 1] = f[2] or '0'
    out[#out + 1] = f[3] or ''
    out[#out + 1] = f[4] and '1' or '0'
  end
end
return out
