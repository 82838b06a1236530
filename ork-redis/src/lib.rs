//! The Redis engine of [ork](https://docs.rs/ork): [`RedisBackend`]
//! implements [`ork_core::Backend`] with one Lua script per step.
//!
//! ```no_run
//! use ork_core::Ork;
//! use ork_redis::RedisExt;
//!
//! # async fn demo() -> ork_core::Result<()> {
//! let ork = Ork::redis("redis://127.0.0.1:6379").await?;
//! // or, configured:
//! let backend = ork_redis::RedisBackend::builder("rediss://user:secret@redis.internal:6380")
//!     .namespace("billing")
//!     .pool_size(8)
//!     .build()
//!     .await?;
//! let ork = Ork::with_backend(backend);
//! # Ok(()) }
//! ```
//!
//! Needs Redis 6.2 or newer (`LPOP` with a count); on Redis 7 the scripts
//! that drain work carry the `allow-oom` flag (see "A full Redis"). URLs: `redis://` and
//! `rediss://` (TLS with rustls and the `ring` provider; feature `tls`,
//! default), an ACL user and password in the URL. Redis Cluster through
//! [`RedisBackendBuilder::cluster`] (feature `cluster`, default). Redis
//! Sentinel through a `redis+sentinel://` URL (see [Failover](#failover)).
//! An application's `deadpool_redis::Pool` through
//! `RedisBackend::from_deadpool` (feature `deadpool`, off by default).
//!
//! # Guarantees
//!
//! Every change of state is one Lua script, so it is atomic. Deadlines
//! (delays, leases, retries, expiry) are read from the server's `TIME`
//! inside the scripts, never from a worker's clock. Each claim raises the
//! job's fencing token; a heartbeat, progress report or finish with an older
//! token changes nothing. A delayed job sits in a sorted set until due and
//! is never handed out because of its delay. A job whose lease expired goes
//! back to its queue (the attempt does not count, `lost` grows by one).
//! A workflow join is queued exactly once: each finished dependency is
//! added to the join's done-set and a fired-marker is set once, never a
//! counter.
//!
//! # Failover
//!
//! `redis+sentinel://[user:password@]host:26379[,host:26379...]/service[/db]`
//! (`rediss+sentinel://` for TLS) connects through Redis Sentinel: the
//! backend asks the sentinels, in the order given, for the primary of
//! `service` (`SENTINEL get-master-addr-by-name`), and uses the first
//! address whose server answers `ROLE` with `master`. The credentials and
//! database are the primary's; the sentinels are reached without them.
//!
//! Its connections never reconnect to a fixed address: a connection that
//! fails (I/O error, timeout, closed) or whose server answers `READONLY`
//! (demoted) is dropped, that command fails with a transient backend
//! error, and the next command asks the sentinels again. A killed primary
//! that comes back (empty, or stale) is therefore never written to. The
//! backend also asks the sentinels every second whom they name: when they
//! name another primary, every connection made before is dropped before its
//! next command, so a primary replaced while it stays up (a manual
//! failover, a healed partition) is left within about a second, not when
//! the sentinels get round to demoting it (seconds later). Workers
//! retry claims, heartbeats and finishes by themselves; a producer retries
//! a failed enqueue (under the same job id, which makes it idempotent).
//! Work goes on against the new primary as soon as the sentinels name it:
//! their `down-after-milliseconds`, an election and the promotion, then
//! the next retry (about 2.5 s in the tests, with `down-after-milliseconds`
//! 1000). The scripts are loaded again on the new primary when it first
//! answers `NOSCRIPT`.
//!
//! **What a failover can lose.** Redis replicates asynchronously: the
//! primary acknowledges a write before any replica has it. Without
//! [`replicas`](RedisBackendBuilder::replicas), a failover loses what the
//! old primary acknowledged but had not yet sent to the promoted replica:
//! the replication lag at the moment it died (usually well under a
//! millisecond on a local network, more under load). A primary that is cut
//! off rather than dead goes on acknowledging writes until it is demoted,
//! and all of them are lost: from the start of the partition until it can
//! talk to the sentinels again (at least `down-after-milliseconds` plus the
//! failover). The server's `min-replicas-to-write` and
//! `min-replicas-max-lag` bound that second window. Those writes are
//! enqueues (the job is gone), finishes (the job runs again: at-least-once
//! holds), claims and lease renewals (the job runs again).
//!
//! **Replicated acknowledgements.** With `.replicas(n)`, every enqueue and
//! every finish is followed by `WAIT n <timeout>` in the same pipeline, and
//! returns only once `n` replicas have the write (and every write before
//! it). A job whose enqueue was acknowledged then survives the loss of the
//! primary, as long as the sentinels promote a replica that has it (they
//! promote the most up-to-date replica they can reach). When fewer than
//! `n` replicas confirm within
//! [`replica_timeout`](RedisBackendBuilder::replica_timeout), the call
//! fails with a backend error saying so: the write is on the primary and
//! may or may not survive a failover; sending the same job (same id) again
//! is safe. With one replica and `.replicas(1)`, writes fail from the loss
//! of either server until a replica is back: run two replicas to keep
//! writing through a failover. `WAIT` holds its connection until the
//! replicas answer, which delays the commands pipelined behind it.
//!
//! `WAIT` does not make Redis strongly consistent, and one window remains:
//! a failover while the old primary is still up. From the promotion of a
//! replica until the sentinels move the other replicas to it, a replica
//! still following the old primary confirms its writes, and drops them
//! when it moves; the backend leaves the old primary within about a second
//! of the sentinels naming the new one. A primary that died (the common
//! case) takes no writes in that window, and then an acknowledged enqueue
//! is not lost.
//!
//! # Startup and timeouts
//!
//! [`wait_for_server`](RedisBackendBuilder::wait_for_server) lets `build`
//! wait for a server (or, with Sentinel, an elected primary) that is not up
//! yet, retrying with a growing pause, so a service may start before its
//! Redis; by default `build` fails at once. Every ordinary command fails
//! after [`response_timeout`](RedisBackendBuilder::response_timeout)
//! (default 10 s) without a reply; blocking claims are bounded by the
//! worker instead.
//!
//! # Connections, and why not a connection pool
//!
//! Ordinary commands go round-robin over
//! [`pool_size`](RedisBackendBuilder::pool_size) (default 4) multiplexed
//! connections: redis-rs `ConnectionManager`s, which pipeline concurrent
//! requests on one socket and reconnect by themselves. `pool_size` is
//! that number of sockets, not a limit on concurrent requests: every
//! caller shares them, and more sockets only help when one socket's
//! throughput is the limit (a Cluster uses one multiplexed client, which
//! holds a connection per node). Each blocked claimer has a connection of
//! its own (a blocking `BZPOPMIN` would hold up everything queued behind
//! it on a shared socket), taken from an idle stack and kept for reuse;
//! a worker's lease thread opens one more for its renewals.
//!
//! The engine does not use a checkout pool such as deadpool-redis, for two
//! reasons:
//!
//! - **A round trip per checkout.** deadpool-redis recycles a connection
//!   on every checkout with `UNWATCH` + `PING`, so each command on the hot
//!   path (enqueue, claim, finish) would cost two round trips instead of
//!   one.
//! - **Multiplexing makes a pool moot.** A checked-out connection serves
//!   one caller at a time, so N concurrent callers need N sockets; a
//!   multiplexed connection serves all of them at once, and pipelines
//!   their requests.
//!
//! An application that already has a `deadpool_redis::Pool` can hand it
//! over with `RedisBackend::from_deadpool` (feature `deadpool`): the
//! pool's manager then decides where and how to connect, and the engine
//! takes its connections out of the pool once (the same ones as above)
//! instead of opening them itself.
//!
//! # Data model
//!
//! Every key of namespace `ns` starts with `{ns}:`, so the whole namespace
//! (or, with several shards, each shard: see [Shards](#shards) below)
//! hashes to one Cluster slot. Key names are built in `src/keys.rs` and,
//! identically, in `lua/lib.lua`. The table shows shard 0, whose prefix is
//! `{ns}:`; shard `i` holds the same keys under `{ns:i}:`.
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `{ns}:job:<id>` | hash | one job (fields below) |
//! | `{ns}:q:<queue>:<p>` | list | ready job ids of a queue at priority `p` (0–9), first in at the head |
//! | `{ns}:s:<queue>` | sorted set | scheduled jobs (delayed, run-at, retry backoff) by due time (ms) |
//! | `{ns}:w:<queue>` | sorted set | jobs waiting for dependencies, by enqueue time |
//! | `{ns}:r:<queue>` | sorted set | running jobs by lease deadline (ms) |
//! | `{ns}:o:<queue>` | sorted set | succeeded jobs by expiry (ms) |
//! | `{ns}:c:<queue>` | sorted set | cancelled jobs by expiry (ms) |
//! | `{ns}:d:<queue>` | sorted set | dead letters by the time they died; never expire |
//! | `{ns}:k:<queue>` | sorted set | the wake token (at most one member) idle claimers block on |
//! | `{ns}:dn:<id>` | set | ids of the jobs waiting for job `id` (expires with the job) |
//! | `{ns}:dd:<id>` | set | the finished dependencies of waiting job `id` |
//! | `{ns}:ch:<id>` | set | ids of the run-time children of job `id` (enqueued with it as their parent; expires with the job) |
//! | `{ns}:ik:<key>` | string | the id of the job holding an idempotency key (expires with that job) |
//! | `{ns}:cancels` | pub/sub channel | ids of running jobs whose cancellation was just requested |
//! | `{ns}:queues` | set | every queue name used |
//! | `{ns}:uniq` | hash | unique key → id of the unfinished job holding it |
//! | `{ns}:workers` | hash | pool run (`<worker id>#<instance>`) → `<last seen ms>\|<WorkerInfo JSON>` |
//! | `{ns}:workers:exp` | sorted set | pool runs by expiry |
//! | `{ns}:wf:<id>` | string | a workflow's description (opaque bytes), kept until deleted |
//! | `{ns}:wfs` | sorted set | workflow ids by the order they were first stored |
//! | `{ns}:wfs:seq` | string | the counter giving that order |
//! | `{ns}:cron:<name>` | hash | a periodic schedule: `def` definition, `thr` processed through (ms), `last` last job id, `pz` paused |
//! | `{ns}:crons` | set | schedule names |
//! | `{ns}:sig:<key>` | sorted set | signals kept under signal `key`, scored by seq, each member `<seq>:<value>`; trimmed to the retention at each signal, expiring with it |
//! | `{ns}:sigw:<key>` | hash | jobs waiting on signal `key` → until (ms); taken by the next signal, kept a minute past the latest until |
//! | `{ns}:flow` | hash | flow settings: paused queues `q:<queue>` and tasks `t:<task>`, queue running caps `c:<queue>` (copied into every shard) |
//! | `{ns}:limiters` | hash | named rate limiters → `<count>\t<period ms>\t<burst>` (each shard holds its share; copied into every shard) |
//! | `{ns}:h:<queue>` | list | jobs of a queue set aside by a claim: their task is paused, or a running cap of theirs is full |
//! | `{ns}:rl:<cap>` | set | ids of the jobs holding a slot of running cap `<cap>` (`t:<task>`, `k:<key>`, `q:<queue>`) |
//! | `{ns}:pk:<cap>` | list | jobs parked on a full running cap, in the order parked |
//! | `{ns}:pkc`, `{ns}:caps` | set, hash | the caps that have parked jobs; each cap's size as last seen by a claim |
//! | `{ns}:tb:<bucket>`, `{ns}:tr:<bucket>` | string | a rate bucket's next token time (GCRA), and the same bucket metering hand-outs |
//! | `{ns}:audit` | list | operator actions taken from the dashboard (`AuditEntry` JSON), newest first, capped by `LPUSH` + `LTRIM` at `AUDIT_LIMIT` |
//! | `{ns}:shards` | sorted set | shard 0 only, absent while 1: the highest shard count the namespace was built with (member `count`) |
//!
//! Job hash fields, kept few and short (a queued no-op job costs about 210
//! bytes of Redis memory): `d` the record (its stored form, below, without
//! its id, which is in the key), `s` the state code, `q`
//! the queue, `t` enqueued at; only when they differ from the default: `p`
//! priority, `x` result TTL, `u` unique key, `af` allow-failure, `n` the
//! number of distinct deps, `dl`/`ra` delay and run-at of a waiting job.
//! Written later: `r` the attempt, `<fence>:<attempts>:<lost leases>:<started
//! at>` in one field (a claim appends one field, not four), `ft` finished
//! at, `pg` progress (not written by a success, which reads as 100), `rp` the
//! fence of an attempt whose lease the reaper took (until the next claim), `e`
//! last error, `R` result, `cr` cancel requested, `h` has dependants, `F`
//! fired-marker, `C` has run-time children, `ik` idempotency key,
//! `S:<name>` the output of durable step `<name>` (`S:@checkpoint` the
//! checkpoint; see "Durable steps" below), `pk` why the job is parked (a
//! durable sleep or wait; meaningful while it is scheduled), `wk` woken by
//! a signal while it ran (its next park makes it ready at once); flow
//! control's `hd` (set aside for a paused task), `lm` (its running caps),
//! `sl` (the caps whose slots the attempt holds), `cp` (the cap it is
//! parked on), `rl` (its rate bucket), `rv` (holds a reserved token). A
//! succeeded job's `d` has an empty payload (see "A full Redis" below), and
//! its `e` is "result dropped: Redis out of memory" when its result could
//! not be kept.
//!
//! ## Shards
//!
//! A namespace is spread over `S` shards
//! ([`RedisBackendBuilder::shards`]; on a Cluster the default gives every
//! primary shards). Each shard is a complete copy of the layout above
//! under its own hash tag: `{ns}:` for shard 0 (so one shard is exactly
//! the unsharded layout), `{ns:i}:` for shard `i`. Every script runs on
//! one shard's keys, so every atomic step stays in one slot, and on a
//! Cluster the shards' slots spread the namespace, and its load, over the
//! primaries. Placement:
//!
//! - A job goes to the shard of its *root*: its id up to the first `.`.
//!   A run-time child's id is `<parent>.<n>` and a workflow node's
//!   `<workflow>.<n>`, so a workflow, its nodes' run-time children and a
//!   parent's sub-tasks share their root's shard, and fan-in, cancel and
//!   parent/child bookkeeping stay single-slot.
//! - A job (a root) with an idempotency key goes to that key's shard, else
//!   with a unique key to that key's shard, so two enqueues with one key
//!   meet in one shard. A job carrying both keys is placed by its
//!   idempotency key: its unique key then holds among the jobs of that
//!   shard. A unique key on a child or a workflow node holds within its
//!   root's shard.
//! - Records of one enqueue linked by dependencies go together: where a
//!   dependency outside the batch lives, else where the first of them is
//!   placed.
//! - Flow control keeps each limit whole in one shard, so it holds
//!   exactly: a root of a task with a named limiter goes to the shard of
//!   `l:<limiter>`; else one of a task with `max_running` or a `rate` to
//!   the shard of `t:<task>`; else one with a concurrency key or a rate
//!   key to that key's shard. These come before an idempotency or unique
//!   key. The cost: a limited task's work is one shard's (one primary's).
//!   A child or a workflow node stays with its root, and its limits are
//!   counted in its root's shard.
//! - Flow settings (pauses, queue caps, named limiters) are written to
//!   every shard, since each shard's claim reads its own copy. A queue's
//!   running cap is split evenly, as its jobs spread over every shard:
//!   each shard allows `ceil(N / S)`, so the namespace allows at most
//!   `S × ceil(N / S)` (exactly `N` with one shard, or when `S` divides
//!   it).
//! - A schedule and its ticks go to the shard of the schedule's name (a
//!   schedule stored before the shard count changed stays where it is).
//! - Workflow descriptions (`wf`, `wfs`), the worker registry and the
//!   audit trail live in shard 0 (no script reads them with jobs).
//! - The shard of a root, a key or a name is the 64-bit FNV-1a hash of its
//!   UTF-8 bytes modulo `S`. Stored data depends on it: it never changes.
//!
//! A job that lives away from where its root hashes (a keyed job, a tick,
//! a job stored before the count was raised) is found without help on the
//! hot path: a claim knows the shard it took the job from, and the backend
//! remembers it for the job's root, so heartbeats, progress, steps,
//! finishes and the sub-tasks it spawns go straight to that shard. A
//! lookup by id from a client (`job`, `wait`, `cancel`, `retry`,
//! `children`) tries the computed shard first, then the others.
//!
//! Workers claim from every shard: each claim splits its batch over the
//! shards and asks them all at once (the remainder going to the first
//! shards of a round that starts one further each time, so a busy shard
//! does not starve the others), then asks the shards that filled their
//! share for what is left of the batch. When none has work, an idle claimer
//! blocks on the wake keys of every shard at once: one `BZPOPMIN` naming
//! them all on a single server; on a Cluster, where a blocking command
//! names keys of one slot, one wait per shard, each on a connection of its
//! own (the first to end closes the others). **Priorities and first-in
//! first-out hold within a shard; ordering across shards is not global.**
//! Lease reaping and schedule firing run per shard. Reads and operations
//! on the whole namespace (`list`, `counts`, `purge`, schedules, the `ork`
//! command, the dashboard, metrics) ask every shard and merge: a listing
//! orders queues by name and states in life order, and within one state
//! goes shard by shard. Memory is read from every node.
//!
//! The namespace records the highest shard count it was built with in
//! `{ns}:shards` (a sorted set, member `count`, absent while the count is
//! 1), and a backend never uses fewer: raising the count on a live
//! namespace strands nothing, and a client built without `.shards(n)` sees
//! every shard. Cancel requests are published on each shard's channel
//! (`{ns}:cancels`, `{ns:i}:cancels`), and a worker subscribes to all of
//! them. An ACL user of a sharded namespace needs the keys `~{ns}:*` and
//! `~{ns:*}:*`.
//!
//! ## Durable steps
//!
//! The outputs of a job's durable steps (`ctx.step`) and its checkpoint
//! (`ctx.checkpoint`) are fields `S:<name>` of the job's own hash, written
//! by `step.lua` only while the job runs under the writer's fence. Being in
//! the hash, they live and expire with the job's record (kept while the job
//! is unfinished, then for its result TTL; a dead job keeps them, and a
//! hand retry re-runs it with them), are deleted by a purge, and sit in
//! the job's slot whatever shard the job is placed on. Reading them is one
//! `HGETALL` of the hash. The costs of that choice: a lookup of the job
//! (`ork show`, a parent polling a child) carries its step outputs too, and
//! an output over 64 bytes makes the hash a hash table rather than a
//! listpack. Older workers ignore the fields (they read the fields they
//! know), so a mixed fleet reads these records correctly.
//!
//! ## Durable sleeps and waits
//!
//! A park (`ctx.sleep`, `ctx.wait_for`) is a finish of kind `park`: the job
//! is scheduled for its due time in `{ns}:s:<queue>`, its attempt count
//! goes back by one, and `pk` says why; if `wk` is set (a signal woke the
//! job while it ran), `finish.lua` clears it and queues the job at once
//! instead. Signals live under the signal key's own prefix, the waiting
//! job under its own: no script touches both. A waiter runs `listen.lua`
//! (the key's side: the first kept signal after its cursor, or it registers
//! in `{ns}:sigw:<key>`), then parks (the job's side). A sender runs
//! `signal.lua` (the key's side: records the signal, takes the waiters),
//! then `wake.lua` per waiter (the job's side: a parked job is queued, a
//! running or queued one gets `wk`). Seqs are the server time in ms × 1000,
//! or one more than the last when that is higher, so they keep growing
//! after old signals expired. The timer or wait itself is a step of the
//! job (`S:@sleep:<n>`, `S:@wait:<n>:<key>`).
//!
//! ## Stored formats
//!
//! A job's record `d`, a workflow's description and a schedule's `def` are
//! ork-core's stored forms ([`ork_core::stored`]), written and read in
//! Rust; the scripts treat them as opaque, but for one step: a success
//! drops the payload from `d` (`without_payload` in `lua/lib.lua`, which
//! knows formats 1 and 2 and leaves any other as it is).
//!
//! Format 2 is a format byte, then tagged fields (a tag byte, a varint
//! length, the value), each left out when at its default. The choice, over
//! positional bincode with a migration per version: a field added later
//! needs no migration and no rewrite of stored records (old records lack
//! it and read as its default; older workers skip it), and leaving defaults
//! out makes the common record smaller than before, where a tag per field
//! would have made it larger. A no-op job's record is 22 bytes (56 in
//! format 1, which wrote every field), and a queued no-op job takes 211
//! bytes of Redis memory, down from 243 (`tests/cost.rs`); a record with
//! every field set is a little larger than before (346 bytes against 324
//! for the golden one). Redis does the same work per job as before: the
//! scripts pass `d` through, and a success's payload drop walks the fields
//! before the payload (one, the task, for most records) instead of three
//! lengths; the command counts of `tests/cost.rs` are unchanged.
//!
//! A change that an older worker must not ignore raises the format, and
//! only the records that need it are written in the new one. A worker that
//! claims a record of a format newer than it knows dead-letters the job
//! with "undecodable job record: written by a newer ork (format N)…" and
//! keeps the record as it was, to be retried once newer workers run. Format
//! 1 records (a 1, then the record in positional bincode) are still read.
//! Golden records of each format are decoded by the test suite
//! (`tests/golden.rs`).
//!
//! # Cancel
//!
//! `cancel.lua` cancels a job and, in the same step, its run-time children
//! (`{ns}:ch:<id>`: map items, sub-tasks, the nodes of replacement
//! workflows) and their descendants: unstarted ones end cancelled with
//! their waiting dependants, running ones get `cr` (their heartbeats answer
//! "cancel requested") and their id is published on `{ns}:cancels`. Each
//! worker pool holds one subscriber connection to that channel and stops
//! the job at once; after a lost connection it subscribes again with a
//! growing pause, heartbeats carrying the requests meanwhile. A Redis user
//! needs `+publish +subscribe &{ns}:cancels` for the push (without it,
//! cancel works at heartbeat speed). On a Cluster, requests arrive with
//! heartbeats only.
//!
//! Succeeded and cancelled jobs get a `PEXPIRE` of their result TTL (the
//! record's, or the builder's [`result_ttl`](RedisBackendBuilder::result_ttl)
//! when the record's is 0); their index entries are trimmed by the scripts
//! that read those indexes and by `reap`. Dead letters stay until retried
//! or purged.
//!
//! # Job states
//!
//! State codes in the job hash: `w` waiting, `s` scheduled, `q` queued,
//! `r` running, `o` succeeded, `d` dead, `c` cancelled.
//!
//! ```text
//! enqueue ─┬─ deps ──────▶ w ──(all deps done, once)──▶ q (or s if delayed)
//!          ├─ delay/at ──▶ s ──(due, at claim)──────────▶ q
//!          └────────────────────────────────────────────▶ q ──claim──▶ r
//! r ──finish ok──────▶ o (expires)        r ──finish retry──▶ s
//! r ──finish dead────▶ d (stays)          r ──finish release / reap──▶ q
//! r ──finish cancel──▶ c (expires)        w | s | q ──cancel / purge──▶ c
//! d | c ──retry──▶ w ──(deps settled again)──▶ q / s, or d / c again
//! a dead (without allow-failure), cancelled or unknown dep ──▶ w becomes d / c
//! ```
//!
//! A retried job goes through its dependencies again as at enqueue
//! (`settle_deps` in `lib.lua`); with none left it is queued at once
//! (its delay is not applied again).
//!
//! # Scripts
//!
//! All in `lua/`: `lib.lua` (shared helpers) and one file per script; each
//! file's header states its KEYS, ARGV and reply. On Redis 7 and newer they
//! run as one Redis Functions library (`FUNCTION LOAD` once, `FCALL` per
//! call), elsewhere as `EVALSHA` scripts, each `lib.lua` followed by its
//! file (see `src/scripts.rs`).
//!
//! | script | does |
//! |--------|------|
//! | `enqueue.lua` | stores a batch of records (idempotent by id, idempotency key and unique key), records run-time children, queues, schedules or parks them, settles deps already finished (`enqueue_records` in `lib.lua`, shared with `fire.lua`) |
//! | `claim.lua` | promotes due scheduled jobs, pops up to `max` ids (priority 9 to 0, FIFO), leases them, dead-letters garbage entries, reports the next due time |
//! | `heartbeat.lua` | extends current leases; reports lost ones and cancel requests |
//! | `finish.lua` | records a batch of outcomes (a park schedules the job without using an attempt); terminal ones release unique keys and settle dependants; a success drops the payload |
//! | `reap.lua` | requeues jobs whose lease expired; trims expired index entries |
//! | `progress.lua` | records progress of a current lease |
//! | `step.lua` | stores a durable step's output or the checkpoint (a `S:<name>` field of the job hash) for a current lease |
//! | `listen.lua` | a waiter's first step, on the signal key's side: the first kept signal after a seq, or registers the job as a waiter |
//! | `signal.lua` | records a signal under its key (trimming expired ones) and takes the key's waiters |
//! | `wake.lua` | wakes a job for a signal: a parked job is queued, a running or queued one flagged |
//! | `jobs.lua` | looks scheduled jobs up with their due time, atomically (other lookups are pipelined `HGETALL`s: reading changes nothing) |
//! | `cancel.lua` | cancels an unstarted job or flags a running one, and its run-time descendants; publishes running ones |
//! | `retry.lua` | gives a dead or cancelled job a fresh attempt count and settles its deps again |
//! | `purge.lua` | cancels and deletes a queue's unstarted jobs |
//! | `counts.lua` | counts per queue and state |
//! | `list.lua` | pages through ids by queue and state |
//! | `workers.lua` | registers, unregisters and lists workers |
//! | `workflow.lua` | stores, reads and lists workflow descriptions |
//! | `schedule.lua` | stores, deletes, pauses and lists periodic schedules |
//! | `fire.lua` | the scheduler's step: a compare-and-set on a schedule's processed-through instant, and the enqueue of its ticks' jobs, atomically |
//! | `time.lua` | the clock of the namespace's server (routed by key on a Cluster) |
//!
//! Every script declares `{ns}:queues` and the fixed keys it touches in
//! KEYS. Keys named after job ids (and after queues read from job hashes,
//! for a released dependant in another queue) can't be known before the
//! script runs; they share the namespace's hash tag, so on a Cluster they
//! are in the slot of the declared keys.
//!
//! # Blocking claims
//!
//! When nothing is ready, a claim blocks on `BZPOPMIN` over its queues' wake
//! keys on a dedicated connection; scripts that make work ready add the
//! token, and a claim that filled its batch while work remains passes it on.
//! The claim script is pipelined behind the wait (plain TCP connections), so
//! an idle worker gets its job in the round trip that woke it. The script
//! runs only after the wait, and an abandoned wait shuts its connection
//! down at once, so a claim future dropped while blocked claims nothing.
//! See `src/claim.rs`.
//!
//! # Bad input
//!
//! A queue entry with no job record behind it (bytes pushed into a queue
//! list by hand) is dead-lettered by the claim script with the error
//! "undecodable job record: …"; a record that exists but can't be decoded
//! is dead-lettered by the backend right after its claim (with "written by
//! a newer ork (format N)" when a newer ork wrote it). Neither reaches a
//! worker, and neither is claimed again unless retried. A job for a task no
//! worker knows is dead-lettered by the worker.
//!
//! # Memory and eviction
//!
//! Queued work has no TTL, so a `maxmemory-policy` of `allkeys-*` could
//! evict it: the builder warns once per backend when it finds one.
//! `noeviction` is the right policy; `volatile-*` policies only evict keys
//! with a TTL (finished jobs, whose results may then go before their time),
//! so they don't warn.
//!
//! # A full Redis
//!
//! With `maxmemory` set and `noeviction`, a backlog can fill Redis. Then:
//!
//! - **Enqueues are refused**, with [`Error::OutOfMemory`]: "Redis is out
//!   of memory (maxmemory reached); the job was not enqueued. …". A
//!   refused script call writes nothing (Redis refuses a script at its
//!   first write that could grow memory, and only while it has written
//!   nothing). A batch goes out in calls of 250 records; when some were
//!   stored before the refusal, the message says how many (enqueue is
//!   idempotent by id: the batch can be sent again). So are the other
//!   steps that only add data: progress reports, retrying a dead job, the
//!   scheduler's ticks, storing workflows and schedules.
//! - **Draining goes on.** The scripts that claim, heartbeat, finish
//!   (success, retry, dead letter, cancel, hand back), reap, cancel and
//!   purge, and the worker registry run past `maxmemory`: on Redis 7 they
//!   carry the `#!lua flags=allow-oom` shebang; on Redis 6.2 (where a
//!   shebang is a syntax error) their first write is a `DEL`, which Redis
//!   never refuses for memory and after which it refuses nothing. The form
//!   is chosen by the server's version at build (`src/scripts.rs`).
//! - **A success frees memory.** It drops the job's payload (its
//!   arguments) from the record, and a job hash that the payload had made
//!   a hash table is written anew as a compact listpack. Measured on Redis
//!   7.0 with 200-byte arguments: a queued job takes 800 bytes, a claim
//!   adds 233 while it runs, and the succeeded job takes 233 bytes fewer
//!   than the queued one did. For tiny jobs (no arguments) a success costs
//!   more than the queued job did (the attempt, the result, the
//!   succeeded-index entry and the TTL: about 270 bytes each), so draining
//!   a Redis full of them takes it past `maxmemory` by that much per job
//!   until their results expire ([`result_ttl`]): leave that headroom.
//! - **A result that does not fit is dropped.** A finish first runs as
//!   usual; refused for memory, it runs again in its full form, where a
//!   result larger than the payload it freed is not stored: the job
//!   succeeds without it, its error reads "result dropped: Redis out of
//!   memory" (shown by `ork job`), and a handle's `result()` fails with
//!   that message. The job is not run again.
//! - **Claims go on.** A pool keeps claiming while Redis is full, because
//!   every claimed job can be finished whatever Redis answers (the finish
//!   runs past `maxmemory`, and drops a result that does not fit), and a
//!   full queue drains only by claiming. What a claim adds lasts while the
//!   job runs and is bounded by the pools' concurrency.
//!
//! The other refusals a user can meet are typed as well, each with the
//! Redis error as its `source()`: [`Error::ReadOnly`] (a replica, e.g.
//! after a failover; transient), [`Error::NoPermission`] (an ACL `NOPERM`;
//! not transient), [`Error::Busy`] (a long script; transient), and
//! [`Error::Script`] (a script failed; not transient). Anything else is
//! [`Error::Backend`]. `src/error.rs` is the one place where Redis errors
//! are converted.
//!
//! [`Queries::memory`](ork_core::backend::Queries::memory) reads `INFO memory`
//! (`used_memory` against `maxmemory`, `None` for no limit; on a Cluster,
//! the node nearest its limit); `ork status` shows it. The backend reads
//! it when built and then at most every 5 seconds, in the background, on
//! an enqueue, claim or heartbeat, and logs a warning once when usage
//! passes 80% (again only after it fell below 70%). Redis's own memory
//! counts: its start, the cached scripts and their Lua VM (about 1.2 MB
//! for ork's), and the clients' buffers.
//!
//! [`Error::OutOfMemory`]: ork_core::Error::OutOfMemory
//! [`Error::ReadOnly`]: ork_core::Error::ReadOnly
//! [`Error::NoPermission`]: ork_core::Error::NoPermission
//! [`Error::Busy`]: ork_core::Error::Busy
//! [`Error::Script`]: ork_core::Error::Script
//! [`Error::Backend`]: ork_core::Error::Backend
//! [`result_ttl`]: RedisBackendBuilder::result_ttl
//!
//! [`JobRecord`]: ork_core::JobRecord

mod backend;
mod builder;
mod cancels;
mod claim;
mod conn;
#[cfg(feature = "deadpool")]
mod deadpool;
mod error;
mod ext;
mod keys;
mod memory;
mod record;
mod scripts;
mod sentinel;
mod shards;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::RedisBackend;
pub use builder::{
    RedisBackendBuilder, DEFAULT_PAYLOAD_LIMIT, DEFAULT_REPLICA_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT,
};
pub use ext::RedisExt;

/// The redis-rs crate this engine is built on.
pub use redis;
