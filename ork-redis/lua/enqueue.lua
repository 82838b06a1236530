-- enqueue.lua: stores job records, in order, atomically.
--
-- KEYS: [1] {ns}:queues  [2] {ns}:uniq
-- ARGV: [1] prefix  [2] default result TTL ms  [3] record count, then per
--       record: id, blob, queue, N, then N option pairs (name, value), only
--       those that differ from the default: p priority (1-9), u unique key,
--       dl delay ms, ra run-at ms, x result TTL ms, af allow_failure ('1'),
--       dep a dependency id (one pair per dependency, in order), pa the
--       parent's id (a run-time child), ik an idempotency key and lm the
--       record's running caps ("<cap>\t<name>" lines, see claim.lua).
-- Returns: per record 1 (created) or the id of the job that stands for it
--       (the same id, or the holder of the same idempotency key while its
--       hash is kept, or of the same unique key while it is unfinished).
--
-- A record without deps is queued (or scheduled when it has a delay or a
-- run-at time). A record with deps waits; deps already finished count at
-- once, exactly like a later completion; unknown deps make it dead.

local out = enqueue_records(3)
flush()
return out
