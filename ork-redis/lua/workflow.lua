-- workflow.lua: stores and reads workflow descriptions (opaque bytes).
--
-- KEYS: [1] {ns}:queues  [2] {ns}:wfs (zset: workflow ids by first store)
--       [3] {ns}:wfs:seq (counter)
-- ARGV: [1] prefix  [2] default result TTL ms  [3] mode, then
--       put: [4] workflow id [5] description
--       get: [4] workflow id
--       ids: [4] offset [5] limit
-- Returns: put: 1; get: the description or nil; ids: workflow ids, newest
--       first (by first store).
--
-- Descriptions live in {ns}:wf:<id> and are kept until deleted.

local mode = ARGV[3]
if mode == 'put' then
  redis.call('SET', K_workflow(ARGV[4]), ARGV[5])
  if not redis.call('ZSCORE', KEYS[2], ARGV[4]) then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[4])
  end
  return 1
elseif mode == 'get' then
  return redis.call('GET', K_workflow(ARGV[4]))
end
local offset, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
if limit <= 0 then return {} end
return redis.call('ZREVRANGE', KEYS[2], offset, offset + limit - 1)
