-- signal.lua: records a signal under its key and takes the key's waiters
-- (signal side: the signal key's prefix; waking the waiters is a job-side
-- step of their own, wake.lua).
--
-- KEYS: [1] {ns}:queues
-- ARGV: [1] prefix  [2] default result TTL ms  [3] signal key  [4] value
--       [5] retention ms
-- Returns: { seq, { job ids that were waiting } }. The seq is above every
--       earlier one under the key: the server's time in µs-like units
--       (ms * 1000), or one more than the last seq when that is higher, so
--       it keeps growing after old signals expired.

local key, value, retention = ARGV[3], ARGV[4], tonumber(ARGV[5])
local log, waiters = K_signals(key), K_listeners(key)
local t = now()
redis.call('ZREMRANGEBYSCORE', log, '-inf', '(' .. str((t - retention) * 1000))
local seq = t * 1000
local last = redis.call('ZREVRANGE', log, 0, 0, 'WITHSCORES')
if last[2] and tonumber(last[2]) >= seq then seq = tonumber(last[2]) + 1 end
redis.call('ZADD', log, str(seq), str(seq) .. ':' .. value)
redis.call('PEXPIRE', log, retention)
-- HGETALL rather than HKEYS: the commands an ACL must grant stay the same.
local all, jobs = redis.call('HGETALL', waiters), {}
for i = 1, #all, 2 do jobs[#jobs + 1] = all[i] end
if #jobs > 0 then redis.call('DEL', waiters) end
return { seq, jobs }
