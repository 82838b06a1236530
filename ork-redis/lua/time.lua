-- time.lua: the clock of the server that holds the namespace.
--
-- KEYS: [1] {ns}:queues (only to route the call to the namespace's node)
-- ARGV: [1] prefix  [2] default result TTL ms
-- Returns: { seconds, microseconds } (TIME).

return redis.call('TIME')
