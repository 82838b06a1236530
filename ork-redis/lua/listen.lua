-- listen.lua: a waiter's first step (signal side: the signal key's
-- prefix): the first signal kept under the key after a seq, or else the
-- job registered as a waiter.
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms  [3] signal key
--       [4] after (seq)  [5] job id  [6] until (ms)
-- Returns: the signal's member ("<seq>:<value>"), or false when none is
--       kept: then the job is registered in the key's waiters hash, kept
--       at least a minute past `until`.

local key, job, till = ARGV[3], ARGV[5], tonumber(ARGV[6]) or 0
local found = redis.call('ZRANGEBYSCORE', K_signals(key), '(' .. ARGV[4], '+inf', 'LIMIT', 0, 1)
if found[1] then return found[1] end
local waiters = K_listeners(key)
redis.call('HSET', waiters, job, str(till))
local keep = till - now() + 60000
if keep > 0 and redis.call('PTTL', waiters) < keep then
  redis.call('PEXPIRE', waiters, str(keep))
end
return false
