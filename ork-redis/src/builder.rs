//! [`RedisBackendBuilder`]: where a [`RedisBackend`] is configured.

use std::sync::Arc;
use std::time::Duration;

use ork_core::{Error, Result};

use crate::backend::{Inner, RedisBackend, Settings};
use crate::conn::{connect_error, not_up, probe, Blocking, Pool, Target, Timeouts};
use crate::keys::Keys;
use crate::sentinel::{Resolver, SentinelUrl};

/// The largest payload accepted by default: 512 KiB.
pub const DEFAULT_PAYLOAD_LIMIT: usize = 512 * 1024;

/// How long an ordinary Redis command may take by default before it fails:
/// 10 seconds.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write waits for its replicas by default, with
/// [`RedisBackendBuilder::replicas`]: 1 second.
pub const DEFAULT_REPLICA_TIMEOUT: Duration = Duration::from_secs(1);

/// Configures and connects a [`RedisBackend`]. Get one with
/// [`RedisBackend::builder`].
///
/// ```no_run
/// # async fn demo() -> ork_core::Result<()> {
/// use std::time::Duration;
/// let backend = ork_redis::RedisBackend::builder("redis://127.0.0.1:6379")
///     .namespace("billing")
///     .result_ttl(Duration::from_secs(3600))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisBackendBuilder {
    url: String,
    cluster: Option<Vec<String>>,
    namespace: String,
    shards: Option<usize>,
    pool_size: usize,
    result_ttl: Duration,
    payload_limit: usize,
    response_timeout: Duration,
    wait_for_server: Duration,
    replicas: usize,
    replica_timeout: Duration,
    #[cfg(feature = "tls")]
    root_cert: Option<Vec<u8>>,
    #[cfg(feature = "testing")]
    legacy_scripts: bool,
    #[cfg(feature = "deadpool")]
    deadpool: Option<deadpool_redis::Pool>,
}

impl RedisBackendBuilder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        RedisBackendBuilder {
            url: url.into(),
            cluster: None,
            namespace: "ork".to_owned(),
            shards: None,
            pool_size: 4,
            result_ttl: ork_core::DEFAULT_RESULT_TTL,
            payload_limit: DEFAULT_PAYLOAD_LIMIT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            wait_for_server: Duration::ZERO,
            replicas: 0,
            replica_timeout: DEFAULT_REPLICA_TIMEOUT,
            #[cfg(feature = "tls")]
            root_cert: None,
            #[cfg(feature = "testing")]
            legacy_scripts: false,
            #[cfg(feature = "deadpool")]
            deadpool: None,
        }
    }

    /// A builder whose connections come from an application's pool (see
    /// [`RedisBackend::from_deadpool`]).
    #[cfg(feature = "deadpool")]
    pub(crate) fn with_deadpool(pool: deadpool_redis::Pool) -> Self {
        let mut builder = RedisBackendBuilder::new(String::new());
        builder.deadpool = Some(pool);
        builder
    }

    /// The namespace every key starts with (default `ork`). Namespaces on
    /// one server share nothing. It becomes the keys' hash tag (`{ns}`,
    /// and `{ns:i}` for shard `i`), so it may not contain `{` or `}`; and
    /// a sharded namespace `ns` shares its shards' tags with namespaces
    /// named `ns:1`, `ns:2`...: don't use both.
    pub fn namespace(&mut self, ns: impl Into<String>) -> &mut Self {
        self.namespace = ns.into();
        self
    }

    /// How many shards the namespace is spread over (at least 1), each a
    /// complete copy of the key layout under its own hash tag: `{ns}:` for
    /// shard 0 (so one shard is exactly the unsharded layout), `{ns:i}:`
    /// for shard `i`. On a Redis Cluster the shards' slots spread them
    /// over the primaries, and throughput grows with them. The crate docs
    /// ("Shards") say which shard holds what.
    ///
    /// A namespace records the highest count it was built with (above 1,
    /// in `{ns}:shards`), and a backend never uses fewer: a lower count
    /// asked for is raised to it, so no shard holding work is left out.
    /// Without `.shards(n)`, the recorded count applies; for a namespace
    /// with none recorded, the default is 1 on a single server or through
    /// Sentinel, and on a Cluster twice the number of primaries found at
    /// build, raised one by one (up to eight times the primaries) until
    /// every primary holds at least one shard (the slot of shard `i` is
    /// the CRC16 of its tag `ns:i`, as `CLUSTER KEYSLOT` computes it). So
    /// the `ork` command and the dashboard, built without `.shards(n)`,
    /// see every shard.
    ///
    /// Raising the count on a live namespace strands nothing: workers
    /// claim from every shard, and jobs, schedules and workflows stored
    /// before are found where they are.
    pub fn shards(&mut self, n: usize) -> &mut Self {
        self.shards = Some(n.max(1));
        self
    }

    /// How many multiplexed connections carry ordinary commands (default 4).
    /// Blocking claims use connections of their own.
    pub fn pool_size(&mut self, n: usize) -> &mut Self {
        self.pool_size = n.max(1);
        self
    }

    /// How long results and finished jobs are kept when a record says
    /// nothing (`result_ttl_ms` of 0). Default: 24 hours.
    pub fn result_ttl(&mut self, ttl: Duration) -> &mut Self {
        self.result_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The largest payload accepted, in bytes (default 512 KiB); for a
    /// workflow node, the arguments given at submit count. A batch with a
    /// larger one is refused whole with [`Error::PayloadTooLarge`] and
    /// writes nothing.
    pub fn payload_limit(&mut self, bytes: usize) -> &mut Self {
        self.payload_limit = bytes;
        self
    }

    /// How long an ordinary command may wait for its reply before it fails
    /// with a backend error (default [`DEFAULT_RESPONSE_TIMEOUT`], 10 s).
    /// Blocking claims are bounded by the worker instead. A shorter limit
    /// notices a dead or cut-off server sooner (with Sentinel, the backend
    /// then asks the sentinels for the primary again); it must stay above
    /// the slowest command the server runs under load.
    pub fn response_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.response_timeout = timeout;
        self
    }

    /// Lets [`build`](Self::build) wait up to `limit` for a server that is
    /// not up yet (connection refused or timed out, still loading its data,
    /// no primary elected by the sentinels), trying again with a growing
    /// pause (50 ms doubling to 1 s), so a service may start before its
    /// Redis. Errors that waiting won't mend (a bad URL, password or
    /// certificate) still fail at once. Default: zero, fail fast.
    pub fn wait_for_server(&mut self, limit: Duration) -> &mut Self {
        self.wait_for_server = limit;
        self
    }

    /// Replicated acknowledgements: an enqueue (and a worker's finish)
    /// returns only once `n` replicas have the write (`WAIT n`), so an
    /// acknowledged job survives the failover to one of them. When fewer
    /// replicas confirm within [`replica_timeout`](Self::replica_timeout),
    /// the call fails with a backend error: the write is on the primary and
    /// may or may not survive a failover; enqueueing again with the same id
    /// is safe. Default 0: Redis replicates asynchronously, and a failover
    /// can lose the writes of the last moments before the primary died
    /// (see the crate docs).
    ///
    /// `WAIT` holds the connection it is sent on until the replicas answer,
    /// so commands queued behind it on that connection wait too (well under
    /// a millisecond with healthy replicas nearby, up to the timeout when
    /// they are missing).
    pub fn replicas(&mut self, n: usize) -> &mut Self {
        self.replicas = n;
        self
    }

    /// How long a write waits for its [`replicas`](Self::replicas)
    /// (default [`DEFAULT_REPLICA_TIMEOUT`], 1 s).
    pub fn replica_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.replica_timeout = timeout;
        self
    }

    /// Connects to a Redis Cluster instead of one server: the builder's URL
    /// and these are its seed nodes (any reachable primaries will do).
    #[cfg(feature = "cluster")]
    pub fn cluster<I, S>(&mut self, nodes: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cluster = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// Trusts this root certificate (PEM) for `rediss://` URLs, instead of
    /// the system's roots (for a private CA).
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(&mut self, pem: impl Into<Vec<u8>>) -> &mut Self {
        self.root_cert = Some(pem.into());
        self
    }

    /// Runs the Redis 6.2 form of the scripts that must work on a full
    /// Redis (see `src/scripts.rs`) whatever the server's version, so that
    /// tests on Redis 7 check it too.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn legacy_scripts(&mut self, yes: bool) -> &mut Self {
        self.legacy_scripts = yes;
        self
    }

    /// Connects, checks the server, loads the scripts.
    ///
    /// # Errors
    /// A malformed URL or namespace, a zero response timeout, an
    /// unreachable server (after [`wait_for_server`](Self::wait_for_server)),
    /// or a server older than Redis 6.2.
    pub async fn build(&self) -> Result<RedisBackend> {
        if self.namespace.is_empty() || self.namespace.contains(['{', '}']) {
            return Err(Error::Invalid(format!(
                "namespace {:?} must be non-empty, without braces",
                self.namespace
            )));
        }
        if self.response_timeout.is_zero() {
            return Err(Error::Invalid(
                "the Redis response timeout must be above zero".to_owned(),
            ));
        }
        #[cfg(feature = "tls")]
        install_crypto_provider();
        let timeouts = Timeouts {
            connect: crate::conn::CONNECT_TIMEOUT,
            response: self.response_timeout,
        };
        let target = self.target()?;
        if !self.wait_for_server.is_zero() {
            self.await_server(&target, timeouts).await?;
        }
        let pool = Pool::open(&target, self.pool_size, timeouts).await?;
        if let Target::Sentinel(resolver) = &target {
            resolver.watch();
        }
        let mut inner = Inner {
            keys: Keys::new(&self.namespace),
            pool: Arc::new(pool),
            timeouts,
            blocking: Blocking::new(target, timeouts.connect),
            settings: Settings {
                namespace: self.namespace.clone(),
                result_ttl_ms: self.result_ttl.as_millis().max(1) as u64,
                payload_limit: self.payload_limit,
                replicas: (self.replicas > 0).then(|| {
                    (
                        self.replicas,
                        self.replica_timeout.as_millis().max(1) as u64,
                    )
                }),
                shards: 1,
            },
            flavor: crate::scripts::Flavor::Shebang,
            memory_watch: Arc::new(crate::memory::Watch::new()),
        };
        inner.flavor = inner.check_server().await?;
        #[cfg(feature = "testing")]
        if self.legacy_scripts {
            inner.flavor = crate::scripts::Flavor::Legacy;
        }
        inner.flavor = inner.load_scripts().await?;
        // A first reading: a process that starts on a nearly full Redis
        // says so at once.
        if let Err(e) = inner.memory().await {
            tracing::debug!(error = %e, "could not read Redis memory use");
        }
        let default = async {
            match inner.blocking.is_cluster() {
                true => crate::shards::cluster_default(&inner, &self.namespace).await,
                false => Ok(1),
            }
        };
        let count = crate::shards::settle_count(&inner, self.shards, default).await?;
        inner.settings.shards = u32::try_from(count).unwrap_or(u32::MAX);
        let shards = (0..count)
            .map(|i| Arc::new(inner.for_shard(Keys::shard(&self.namespace, i))))
            .collect();
        Ok(RedisBackend::over(shards, None))
    }

    /// Tries the server until it answers or [`wait_for_server`] is spent.
    ///
    /// [`wait_for_server`]: Self::wait_for_server
    async fn await_server(&self, target: &Target, timeouts: Timeouts) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.wait_for_server;
        let mut pause = Duration::from_millis(50);
        loop {
            let e = match probe(target, timeouts).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let now = tokio::time::Instant::now();
            if !not_up(&e) || now >= deadline {
                return Err(connect_error(e));
            }
            tracing::info!(error = %e, retry_in = ?pause, "Redis is not up yet: waiting");
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    fn target(&self) -> Result<Target> {
        #[cfg(feature = "deadpool")]
        if let Some(pool) = &self.deadpool {
            return Ok(Target::Deadpool(pool.clone()));
        }
        let bad_url = |e: redis::RedisError| Error::Invalid(format!("Redis URL: {e}"));
        if let Some(parsed) = SentinelUrl::parse(&self.url) {
            let url = parsed.map_err(|e| Error::Invalid(format!("Redis URL: {e}")))?;
            if self.cluster.is_some() {
                return Err(Error::Invalid(
                    "a sentinel URL can't be combined with cluster nodes".to_owned(),
                ));
            }
            return Ok(Target::Sentinel(Arc::new(Resolver::new(
                url,
                crate::conn::CONNECT_TIMEOUT,
                self.response_timeout,
                #[cfg(feature = "tls")]
                self.root_cert.clone(),
            ))));
        }
        if let Some(nodes) = &self.cluster {
            #[cfg(feature = "cluster")]
            {
                let mut all = vec![self.url.clone()];
                all.extend(nodes.iter().cloned());
                let build = |blocking: bool| {
                    let b = redis::cluster::ClusterClientBuilder::new(all.clone())
                        .connection_timeout(crate::conn::CONNECT_TIMEOUT)
                        .response_timeout(if blocking {
                            Duration::from_secs(24 * 3600)
                        } else {
                            self.response_timeout
                        });
                    #[cfg(feature = "tls")]
                    let b = match &self.root_cert {
                        Some(pem) => b.certs(redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(pem.clone()),
                        }),
                        None => b,
                    };
                    b.build()
                };
                return Ok(Target::Cluster {
                    shared: build(false).map_err(bad_url)?,
                    blocking: build(true).map_err(bad_url)?,
                });
            }
            #[cfg(not(feature = "cluster"))]
            let _ = nodes;
        }
        #[cfg(feature = "tls")]
        if let Some(pem) = &self.root_cert {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            };
            return Client::build_with_tls(self.url.as_str(), certs)
                .map(Target::Single)
                .map_err(bad_url);
        }
        Client::open(self.url.as_str())
            .map(Target::Single)
            .map_err(|e| match e.kind() {
                redis::ErrorKind::InvalidClientConfig => bad_url(e),
                _ => connect_error(e),
            })
    }
}

use redis::Client;

/// rustls needs one process-wide crypto provider; ork builds with `ring`
/// only (quick to compile, no cmake). If the application installed one
/// already, that one stays.
#[cfg(feature = "tls")]
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
