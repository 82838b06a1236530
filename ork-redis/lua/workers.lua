-- workers.lua: the registry of live worker processes.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:workers (hash: key -> "<last seen ms>|<json>")
--       [3] {ns}:workers:exp (zset: key by expiry ms)
-- ARGV: [1] prefix  [2] default result TTL ms  [3] mode, then
--       register: [4] key [5] WorkerInfo as JSON [6] TTL ms
--       unregister: [4] key
-- A key is a pool run's: its id, '#' and its instance (WorkerInfo::key),
-- so pools that share an id have entries of their own.
--       list: nothing
-- Returns: list: the live entries ("<last seen ms>|<json>"); else 1.
--
-- Expired entries are removed on every call.

local K_WORKERS, K_WORKERS_EXP = KEYS[2], KEYS[3]
local expired = redis.call('ZRANGEBYSCORE', K_WORKERS_EXP, '-inf', now())
if #expired > 0 then
  redis.call('HDEL', K_WORKERS, unpack(expired))
  redis.call('ZREM', K_WORKERS_EXP, unpack(expired))
end
local mode = ARGV[3]
if mode == 'register' then
  redis.call('HSET', K_WORKERS, ARGV[4], now() .. '|' .. ARGV[5])
  redis.call('ZADD', K_WORKERS_EXP, now() + tonumber(ARGV[6]), ARGV[4])
  return 1
elseif mode == 'unregister' then
  redis.call('HDEL', K_WORKERS, ARGV[4])
  redis.call('ZREM', K_WORKERS_EXP, ARGV[4])
  return 1
end
local ids = redis.call('ZRANGEBYSCORE', K_WORKERS_EXP, '(' .. now(), '+inf')
if #ids == 0 then return {} end
local out = {}
for _, v in ipairs(redis.call('HMGET', K_WORKERS, unpack(ids))) do
  if v then out[#out + 1] = v end
end
return out
