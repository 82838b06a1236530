-- enqueue.lua: stores job records, in order, atomically.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:uniq
-- ARGV: [1] prefix  [2] default result TTL ms  [3] record count, then per
--       record: id, blob, queue, priority, unique ('' none), delay ms,
--       run-at ms ('' none), result TTL ms ('' default), allow_failure
--       ('1'/'0'), dependency count N, then N dependency ids.
-- Returns: per record two entries, 1 and the id (created) or 0 and the id
--       of the job that stands for it (same id, or same unique key).
--
-- A record without deps is queued (or scheduled when it has a delay or a
-- run-at time). A record with deps waits; deps already finished count at
-- once, exactly like a later completion; unknown deps make it dead.

local out = enqueue_records(3)
flush()
return out
