//! [`RedisBackend`]: the [`Backend`] trait over the Lua scripts.
//!
//! `jobs.rs` holds a job's life (enqueue, claim, finish, lookups), and
//! `admin.rs` the operations around it (lists, counts, purge, workers,
//! workflows, schedules).

mod admin;
mod audit;
mod flow;
mod jobs;
mod routed;
mod signals;
mod steps;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ork_core::backend::{Admin, JobStore, Queries, ScheduleStore, WorkerRegistry, WorkflowStore};
use ork_core::backend::{
    BoxFuture, CancelRequests, ClaimRequest, Claimed, Enqueued, Finish, FireTicks, Lease,
    LeaseStatus, StoredSchedule,
};
use ork_core::job::{JobId, JobInfo, JobRecord};
use ork_core::{Backend, Error, Result};
use ork_core::{CancelOutcome, JobQuery, MemoryUsage, QueueCounts, WorkerInfo};
use redis::Value;

use crate::builder::RedisBackendBuilder;
use crate::conn::{Blocking, Pool};
use crate::keys::Keys;
use crate::record::{bytes_of, int_of};
use crate::scripts::{self, Call, Flavor, Lua};
use crate::shards::Router;

/// The Redis engine. Cheap to clone (clones share connections).
///
/// See the [crate docs](crate) for the data model.
#[derive(Clone)]
pub struct RedisBackend {
    /// Shard 0, which also holds the namespace's shared state.
    pub(crate) inner: Arc<Inner>,
    /// Every shard, and where things live among them.
    pub(crate) router: Arc<Router>,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("namespace", &self.inner.settings.namespace)
            .field("shards", &self.router.count())
            .field("result_ttl_ms", &self.inner.settings.result_ttl_ms)
            .field("payload_limit", &self.inner.settings.payload_limit)
            .field("replicas", &self.inner.settings.replicas)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// A builder for a backend on `url`: `redis://[user:password@]host:port[/db]`,
    /// or `rediss://...` for TLS, or, through Redis Sentinel,
    /// `redis+sentinel://[user:password@]host:26379[,host:26379...]/service[/db]`
    /// (`rediss+sentinel://` for TLS; the credentials are the primary's).
    pub fn builder(url: impl Into<String>) -> RedisBackendBuilder {
        RedisBackendBuilder::new(url)
    }

    /// A builder for a backend whose connections come from an application's
    /// existing [`deadpool_redis::Pool`] (feature `deadpool`): its manager
    /// decides where and how to connect (URL, TLS, credentials), and the
    /// other settings of the builder apply as usual.
    ///
    /// The engine takes its connections out of the pool once and keeps them
    /// (`pool_size` for ordinary commands, one per blocked claimer, one for
    /// a worker's lease thread), rather than checking one out per command:
    /// each checkout would cost deadpool's recycle round trip. A taken
    /// connection no longer counts against the pool's `max_size`; one that
    /// breaks is replaced by another taken from the pool. Cancel requests
    /// arrive with heartbeats rather than through a subscription.
    ///
    /// ```no_run
    /// # async fn demo() -> ork_core::Result<()> {
    /// let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:6379")
    ///     .create_pool(None)
    ///     .expect("a valid URL");
    /// let backend = ork_redis::RedisBackend::from_deadpool(pool)
    ///     .namespace("billing")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "deadpool")]
    pub fn from_deadpool(pool: deadpool_redis::Pool) -> RedisBackendBuilder {
        RedisBackendBuilder::with_deadpool(pool)
    }

    /// Connects to `url` with the default settings.
    pub async fn connect(url: &str) -> Result<RedisBackend> {
        RedisBackend::builder(url).build().await
    }

    /// The namespace (key prefix) of this backend.
    pub fn namespace(&self) -> &str {
        &self.inner.settings.namespace
    }

    /// How many shards the namespace is spread over (see the crate docs,
    /// "Shards").
    pub fn shards(&self) -> usize {
        self.router.count()
    }

    /// A backend over the shards' `Inner`s.
    pub(crate) fn over(shards: Vec<Arc<Inner>>, router: Option<&Router>) -> RedisBackend {
        let inner = shards[0].clone();
        let router = match router {
            Some(r) => Router::sharing(shards, r.moved()),
            None => Router::new(shards),
        };
        RedisBackend {
            inner,
            router: Arc::new(router),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) namespace: String,
    pub(crate) result_ttl_ms: u64,
    pub(crate) payload_limit: usize,
    /// Replicated acknowledgements: (replicas, timeout ms) for `WAIT`.
    pub(crate) replicas: Option<(usize, u64)>,
    /// How many shards the namespace is split into (task-wide and
    /// queue-wide limits are split evenly across them).
    pub(crate) shards: u32,
}

pub(crate) struct Inner {
    /// The keys of this shard (see [`crate::shards`]).
    pub(crate) keys: Keys,
    /// Shared by every shard of a backend.
    pub(crate) pool: Arc<Pool>,
    /// The connections' time limits, for connections opened later.
    pub(crate) timeouts: crate::conn::Timeouts,
    pub(crate) blocking: Blocking,
    pub(crate) settings: Settings,
    /// How scripts that must run on a full Redis are written (by the
    /// server's version, read at build).
    pub(crate) flavor: Flavor,
    /// Reads memory use now and then, and warns when it passes 80%.
    pub(crate) memory_watch: Arc<crate::memory::Watch>,
}

pub(crate) use crate::error::backend_error;

impl Inner {
    /// This shard's keys, sharing everything else (the connections).
    pub(crate) fn for_shard(&self, keys: Keys) -> Inner {
        Inner {
            keys,
            pool: self.pool.clone(),
            timeouts: self.timeouts,
            blocking: self.blocking.clone(),
            settings: self.settings.clone(),
            flavor: self.flavor,
            memory_watch: self.memory_watch.clone(),
        }
    }

    /// Puts jobs whose lease ran out back in their queues.
    pub(crate) async fn reap(&self) -> Result<usize> {
        let inv = self.script(&scripts::REAP);
        Ok(int_of(&self.run(&inv).await?).unwrap_or(0).max(0) as usize)
    }

    /// An invocation with the arguments every script takes.
    pub(crate) fn script(&self, script: &'static Lua) -> Call {
        self.invocation(script.pick(self.flavor))
    }

    /// An invocation of a script's variant that runs on a full Redis.
    pub(crate) fn script_full(&self, script: &'static Lua) -> Call {
        self.invocation(script.full_variant(self.flavor))
    }

    fn invocation(&self, inv: Call) -> Call {
        self.invocation_in(inv, &self.keys)
    }

    /// An invocation of a script under `keys` (a prefix other than the
    /// backend's own, such as a signal key's).
    pub(crate) fn script_in(&self, script: &'static Lua, keys: &Keys) -> Call {
        self.invocation_in(script.pick(self.flavor), keys)
    }

    fn invocation_in(&self, mut inv: Call, keys: &Keys) -> Call {
        inv.key(keys.queues())
            .arg(keys.prefix())
            .arg(self.settings.result_ttl_ms);
        inv
    }

    pub(crate) async fn run(&self, inv: &Call) -> Result<Value> {
        let mut conn = self.pool.get();
        inv.invoke(&mut conn).await.map_err(backend_error)
    }

    /// Runs a script whose writes a caller is told are stored (an enqueue,
    /// a finish). With replicated acknowledgements, `WAIT` follows it in
    /// the same pipeline, so on the same connection: it covers this write
    /// (and every write before it in the replication stream).
    pub(crate) async fn run_acked(&self, inv: &Call, what: &str) -> Result<Value> {
        let (reply, wait) = self.invoke_acked(inv).await.map_err(backend_error)?;
        self.check_acked(wait.as_ref(), what)?;
        Ok(reply)
    }

    /// [`run_acked`](Self::run_acked) without judging the replies: the
    /// script's reply and, with replicated acknowledgements, `WAIT`'s.
    pub(crate) async fn invoke_acked(
        &self,
        inv: &Call,
    ) -> redis::RedisResult<(Value, Option<Value>)> {
        let mut conn = self.pool.get();
        let Some((replicas, timeout_ms)) = self.settings.replicas else {
            return inv.invoke(&mut conn).await.map(|v| (v, None));
        };
        let mut pipe = redis::pipe();
        pipe.add_command(inv.cmd())
            .cmd("WAIT")
            .arg(replicas)
            .arg(timeout_ms);
        let replies: Vec<Value> = match pipe.query_async(&mut conn).await {
            // Not in the script cache (a new primary, say): nothing ran.
            Err(e) if crate::scripts::is_missing(&e) => {
                inv.load(&mut conn).await?;
                pipe.query_async(&mut conn).await
            }
            other => other,
        }?;
        let mut replies = replies.into_iter();
        let reply = replies.next().unwrap_or(Value::Nil);
        Ok((reply, replies.next()))
    }

    /// The reply of a `WAIT`: an error when fewer replicas confirmed than
    /// asked.
    pub(crate) fn check_acked(&self, wait: Option<&Value>, what: &str) -> Result<()> {
        let Some((replicas, timeout_ms)) = self.settings.replicas else {
            return Ok(());
        };
        let acked = wait.and_then(int_of).unwrap_or(0).max(0) as usize;
        if acked >= replicas {
            return Ok(());
        }
        Err(Error::backend(format!(
            "{what}: {acked} of {replicas} replicas confirmed the write within {timeout_ms} ms; \
             it is on the primary and may or may not survive a failover (sending it again is safe)"
        )))
    }

    /// Checks the server version (and returns the flavor of scripts it
    /// runs); warns when eviction could drop work.
    pub(crate) async fn check_server(&self) -> Result<Flavor> {
        let mut conn = self.pool.get();
        // On a cluster these go to every node and come back as a map:
        // every node is checked.
        let info: Value = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| {
                let message = format!("could not reach Redis: {}", crate::error::what_failed(&e));
                Error::backend_caused_by(message, crate::error::is_transient(&e), e)
            })?;
        let mut flavor = Flavor::Functions;
        for text in strings_in(&info) {
            let Some(version) = text
                .lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .map(str::trim)
            else {
                continue;
            };
            let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            if (major, minor) < (6, 2) {
                return Err(Error::Backend {
                    message: format!("ork needs Redis 6.2 or newer; the server runs {version}"),
                    transient: false,
                    source: None,
                });
            }
            if major < 7 {
                flavor = Flavor::Legacy;
            }
        }
        let policy: redis::RedisResult<Value> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut conn)
            .await;
        match policy {
            Ok(reply) => {
                if let Some(policy) = strings_in(&reply).into_iter().find(|s| evicts_work(s)) {
                    tracing::warn!(
                        policy = %policy,
                        "Redis maxmemory-policy may evict queued jobs; set it to noeviction (or a volatile-* policy)"
                    );
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not read maxmemory-policy"),
        }
        Ok(flavor)
    }

    /// Loads every script, so a broken one fails at build, not mid-claim.
    /// On Redis 7 and newer that is the functions library; a server that
    /// refuses it (an ACL user without `FUNCTION`, say) runs the scripts
    /// with `EVALSHA` instead. Returns the flavor the scripts then run as.
    pub(crate) async fn load_scripts(&self) -> Result<Flavor> {
        let mut conn = self.pool.get();
        let mut flavor = self.flavor;
        if flavor == Flavor::Functions {
            if let Err(e) = scripts::load_library(&mut conn).await {
                if crate::error::refusal_of(&e) == Some(crate::error::Refusal::ReadOnly) {
                    // A replica (Sentinel mid-failover, or a URL that names
                    // one): it gets the library from its primary, and the
                    // first call that finds it missing loads it; until
                    // then calls fail with the replica's typed refusal.
                    tracing::info!("Redis is a read-only replica: the functions library loads once a primary answers");
                } else if crate::error::is_transient(&e) {
                    return Err(backend_error(e));
                } else {
                    tracing::info!(error = %e, "Redis refused the ork functions library; running scripts with EVALSHA");
                    flavor = Flavor::Shebang;
                }
            }
        }
        for script in scripts::all()
            .into_iter()
            .flat_map(|s| s.variants(flavor))
            .filter(|c| !c.is_function())
        {
            script.load(&mut conn).await.map_err(backend_error)?;
        }
        Ok(flavor)
    }
}

/// Every string in a reply, however nested (cluster replies are maps).
pub(crate) fn strings_in(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().flat_map(strings_in).collect(),
        Value::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| strings_in(k).into_iter().chain(strings_in(v)))
            .collect(),
        other => bytes_of(other)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .into_iter()
            .collect(),
    }
}

/// Whether a `maxmemory-policy` may evict keys without a TTL, which hold
/// queued work. `volatile-*` policies evict only keys with a TTL (finished
/// jobs, whose results may then go early), so they don't warn.
fn evicts_work(policy: &str) -> bool {
    policy.starts_with("allkeys-")
}

impl JobStore for RedisBackend {
    fn now_ms(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.inner.now_ms())
    }

    fn enqueue(&self, jobs: Vec<JobRecord>) -> BoxFuture<'_, Result<Vec<Enqueued>>> {
        crate::memory::watch(&self.inner);
        Box::pin(self.enqueue_routed(jobs))
    }

    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Vec<Claimed>>> {
        crate::memory::watch(&self.inner);
        Box::pin(crate::claim::claim_routed(&self.router, req))
    }

    fn heartbeat<'a>(
        &'a self,
        leases: &'a [Lease],
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>>> {
        crate::memory::watch(&self.inner);
        Box::pin(self.heartbeat_routed(leases, lease))
    }

    fn finish<'a>(&'a self, batch: &'a [Finish]) -> BoxFuture<'a, Result<Vec<bool>>> {
        Box::pin(self.finish_routed(batch))
    }

    fn reap(&self) -> BoxFuture<'_, Result<usize>> {
        Box::pin(self.reap_routed())
    }

    fn progress<'a>(&'a self, lease: &'a Lease, percent: u8) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let shard = self.router.shard(self.router.for_job(lease.id.as_str()));
            let mut inv = shard.script(&scripts::PROGRESS);
            inv.arg(lease.id.as_str())
                .arg(lease.fence)
                .arg(percent.min(100));
            shard.run(&inv).await.map(drop)
        })
    }

    fn cancel<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<CancelOutcome>> {
        Box::pin(self.cancel_routed(id))
    }

    fn children<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Vec<JobId>>> {
        Box::pin(self.children_routed(id))
    }

    /// On a single server, a subscription to the channels of cancel
    /// requests of every shard (see the crate docs). On a cluster, none
    /// yet: heartbeats carry the requests.
    fn cancel_requests(&self) -> BoxFuture<'_, Result<CancelRequests>> {
        Box::pin(async move {
            match self.inner.blocking.single_client() {
                Some(client) => {
                    let channels = self.router.all().iter().map(|s| s.keys.cancels());
                    crate::cancels::open(client, channels.collect()).await
                }
                None => Ok(CancelRequests::never()),
            }
        })
    }
}

impl Queries for RedisBackend {
    fn jobs<'a>(&'a self, ids: &'a [JobId]) -> BoxFuture<'a, Result<Vec<Option<JobInfo>>>> {
        Box::pin(self.lookup_routed(ids))
    }

    fn wait<'a>(
        &'a self,
        id: &'a JobId,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<JobInfo>>> {
        Box::pin(self.wait_routed(id, timeout))
    }

    fn list<'a>(&'a self, query: &'a JobQuery) -> BoxFuture<'a, Result<Vec<JobInfo>>> {
        Box::pin(self.list_routed(query))
    }

    fn counts(&self) -> BoxFuture<'_, Result<Vec<QueueCounts>>> {
        Box::pin(self.counts_routed())
    }

    fn memory(&self) -> BoxFuture<'_, Result<Option<MemoryUsage>>> {
        Box::pin(self.inner.memory())
    }
}

impl Admin for RedisBackend {
    fn retry<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.retry_routed(id))
    }

    fn purge<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.purge_routed(queue))
    }

    fn record_audit<'a>(
        &'a self,
        entry: &'a ork_core::backend::AuditEntry,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.inner.record_audit(entry))
    }

    fn audit_log(&self, limit: usize) -> BoxFuture<'_, Result<Vec<ork_core::backend::AuditEntry>>> {
        Box::pin(self.inner.audit_log(limit))
    }
}

impl WorkerRegistry for RedisBackend {
    fn register_worker<'a>(
        &'a self,
        info: &'a WorkerInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.inner.register_worker(info, ttl))
    }

    fn unregister_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.inner.unregister_worker(id))
    }

    fn workers(&self) -> BoxFuture<'_, Result<Vec<WorkerInfo>>> {
        Box::pin(self.inner.workers())
    }
}

/// Workflow descriptions and their index live in shard 0 whatever the
/// shard count (no script reads them with a workflow's jobs), so the
/// listing keeps one order.
impl WorkflowStore for RedisBackend {
    fn put_workflow<'a>(&'a self, id: &'a JobId, meta: Vec<u8>) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.router.home().put_workflow(id, meta))
    }

    fn workflow<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(self.router.home().workflow(id))
    }

    fn workflow_ids(&self, offset: usize, limit: usize) -> BoxFuture<'_, Result<Vec<JobId>>> {
        Box::pin(self.router.home().workflow_ids(offset, limit))
    }
}

impl ScheduleStore for RedisBackend {
    fn put_schedule<'a>(
        &'a self,
        name: &'a str,
        definition: Vec<u8>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.schedule_op_routed("put", name, Some(definition)))
    }

    fn delete_schedule<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.schedule_op_routed("delete", name, None))
    }

    fn pause_schedule<'a>(&'a self, name: &'a str, paused: bool) -> BoxFuture<'a, Result<bool>> {
        let flag = if paused { b"1".to_vec() } else { b"0".to_vec() };
        Box::pin(self.schedule_op_routed("pause", name, Some(flag)))
    }

    fn schedules(&self) -> BoxFuture<'_, Result<Vec<StoredSchedule>>> {
        Box::pin(self.schedules_routed())
    }

    fn fire(&self, ticks: FireTicks) -> BoxFuture<'_, Result<Option<Vec<Enqueued>>>> {
        Box::pin(self.fire_routed(ticks))
    }
}

impl Backend for RedisBackend {
    fn standalone(&self) -> BoxFuture<'_, Result<Option<Arc<dyn Backend>>>> {
        Box::pin(async move {
            // One connection of its own: a worker's lease renewals, reaps
            // and registrations, from the worker's lease thread.
            let target = self.inner.blocking.target().clone();
            let timeouts = self.inner.timeouts;
            let pool = Pool::open(&target, 1, timeouts).await?;
            let inner = Inner {
                keys: self.inner.keys.clone(),
                pool: Arc::new(pool),
                timeouts,
                blocking: Blocking::new(target, timeouts.connect),
                settings: self.inner.settings.clone(),
                flavor: self.inner.flavor,
                // One watch per backend, whatever runtime reads it.
                memory_watch: self.inner.memory_watch.clone(),
            };
            let shards = self
                .router
                .all()
                .iter()
                .map(|s| Arc::new(inner.for_shard(s.keys.clone())))
                .collect();
            let copy: Arc<dyn Backend> = Arc::new(RedisBackend::over(shards, Some(&self.router)));
            Ok(Some(copy))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn eviction_policies() {
        assert!(super::evicts_work("allkeys-lru"));
        assert!(!super::evicts_work("noeviction"));
        assert!(!super::evicts_work("volatile-ttl"));
    }
}
