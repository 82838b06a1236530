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
//! Needs Redis 6.2 or newer (`LPOP` with a count). URLs: `redis://` and
//! `rediss://` (TLS with rustls and the `ring` provider; feature `tls`,
//! default), an ACL user and password in the URL. Redis Cluster through
//! [`RedisBackendBuilder::cluster`] (feature `cluster`, default).
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
//! # Data model
//!
//! Every key of namespace `ns` starts with `{ns}:`, so the whole namespace
//! hashes to one Cluster slot. Key names are built in `src/keys.rs` and,
//! identically, in `lua/lib.lua`.
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
//! | `{ns}:workers` | hash | worker id → `<last seen ms>\|<WorkerInfo JSON>` |
//! | `{ns}:workers:exp` | sorted set | worker ids by expiry |
//! | `{ns}:wf:<id>` | string | a workflow's description (opaque bytes), kept until deleted |
//! | `{ns}:wfs` | sorted set | workflow ids by the order they were first stored |
//! | `{ns}:wfs:seq` | string | the counter giving that order |
//! | `{ns}:cron:<name>` | hash | a periodic schedule: `def` definition, `thr` processed through (ms), `last` last job id, `pz` paused |
//! | `{ns}:crons` | set | schedule names |
//!
//! Job hash fields, kept few and short (a queued no-op job costs well under
//! 300 bytes): `d` the record (a version byte, then the [`JobRecord`] in
//! bincode without its id, which is in the key), `s` the state code, `q`
//! the queue, `t` enqueued at; only when they differ from the default: `p`
//! priority, `x` result TTL, `u` unique key, `af` allow-failure, `n` the
//! number of distinct deps, `dl`/`ra` delay and run-at of a waiting job.
//! Written later: `r` the attempt, `<fence>:<attempts>:<lost leases>:<started
//! at>` in one field (a claim appends one field, not four), `ft` finished
//! at, `pg` progress (not written by a success, which reads as 100), `e`
//! last error, `R` result, `cr` cancel requested, `h` has dependants, `F`
//! fired-marker, `C` has run-time children, `ik` idempotency key.
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
//! All in `lua/`, each `lib.lua` (shared helpers) followed by its file; each
//! file's header states its KEYS, ARGV and reply.
//!
//! | script | does |
//! |--------|------|
//! | `enqueue.lua` | stores a batch of records (idempotent by id, idempotency key and unique key), records run-time children, queues, schedules or parks them, settles deps already finished (`enqueue_records` in `lib.lua`, shared with `fire.lua`) |
//! | `claim.lua` | promotes due scheduled jobs, pops up to `max` ids (priority 9 to 0, FIFO), leases them, dead-letters garbage entries, reports the next due time |
//! | `heartbeat.lua` | extends current leases; reports lost ones and cancel requests |
//! | `finish.lua` | records a batch of outcomes; terminal ones release unique keys and settle dependants |
//! | `reap.lua` | requeues jobs whose lease expired; trims expired index entries |
//! | `progress.lua` | records progress of a current lease |
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
//! is dead-lettered by the backend right after its claim. Neither reaches a
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
//! [`JobRecord`]: ork_core::JobRecord

mod backend;
mod builder;
mod cancels;
mod claim;
mod conn;
mod ext;
mod keys;
mod record;
mod scripts;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::RedisBackend;
pub use builder::{RedisBackendBuilder, DEFAULT_PAYLOAD_LIMIT};
pub use ext::RedisExt;

/// The redis-rs crate this engine is built on.
pub use redis;
