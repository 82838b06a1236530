//! [`RedisBackendBuilder`]: where a [`RedisBackend`] is configured.

use std::sync::Arc;
use std::time::Duration;

use ork_core::{Error, Result};

use crate::backend::{Inner, RedisBackend, Settings};
use crate::conn::{connect_error, Blocking, Pool, Target};
use crate::keys::Keys;

/// The largest payload accepted by default: 512 KiB.
pub const DEFAULT_PAYLOAD_LIMIT: usize = 512 * 1024;

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
    pool_size: usize,
    result_ttl: Duration,
    payload_limit: usize,
    #[cfg(feature = "tls")]
    root_cert: Option<Vec<u8>>,
    #[cfg(feature = "testing")]
    legacy_scripts: bool,
}

impl RedisBackendBuilder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        RedisBackendBuilder {
            url: url.into(),
            cluster: None,
            namespace: "ork".to_owned(),
            pool_size: 4,
            result_ttl: ork_core::DEFAULT_RESULT_TTL,
            payload_limit: DEFAULT_PAYLOAD_LIMIT,
            #[cfg(feature = "tls")]
            root_cert: None,
            #[cfg(feature = "testing")]
            legacy_scripts: false,
        }
    }

    /// The namespace every key starts with (default `ork`). Namespaces on
    /// one server share nothing. It becomes the keys' hash tag (`{ns}`), so
    /// it may not contain `{` or `}`.
    pub fn namespace(&mut self, ns: impl Into<String>) -> &mut Self {
        self.namespace = ns.into();
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
    /// A malformed URL or namespace, an unreachable server, or a server
    /// older than Redis 6.2.
    pub async fn build(&self) -> Result<RedisBackend> {
        if self.namespace.is_empty() || self.namespace.contains(['{', '}']) {
            return Err(Error::Invalid(format!(
                "namespace {:?} must be non-empty, without braces",
                self.namespace
            )));
        }
        #[cfg(feature = "tls")]
        install_crypto_provider();
        let target = self.target()?;
        let pool = Pool::open(&target, self.pool_size).await?;
        let mut inner = Inner {
            keys: Keys::new(&self.namespace),
            pool,
            blocking: Blocking::new(target),
            settings: Settings {
                namespace: self.namespace.clone(),
                result_ttl_ms: self.result_ttl.as_millis().max(1) as u64,
                payload_limit: self.payload_limit,
            },
            flavor: crate::scripts::Flavor::Shebang,
            memory_watch: crate::memory::Watch::new(),
        };
        inner.flavor = inner.check_server().await?;
        #[cfg(feature = "testing")]
        if self.legacy_scripts {
            inner.flavor = crate::scripts::Flavor::Legacy;
        }
        inner.load_scripts().await?;
        // A first reading: a process that starts on a nearly full Redis
        // says so at once.
        if let Err(e) = inner.memory().await {
            tracing::debug!(error = %e, "could not read Redis memory use");
        }
        Ok(RedisBackend {
            inner: Arc::new(inner),
        })
    }

    fn target(&self) -> Result<Target> {
        let bad_url = |e: redis::RedisError| Error::Invalid(format!("Redis URL: {e}"));
        if let Some(nodes) = &self.cluster {
            #[cfg(feature = "cluster")]
            {
                let mut all = vec![self.url.clone()];
                all.extend(nodes.iter().cloned());
                let build = |blocking: bool| {
                    let mut b = redis::cluster::ClusterClientBuilder::new(all.clone())
                        .connection_timeout(crate::conn::CONNECT_TIMEOUT)
                        .response_timeout(if blocking {
                            Duration::from_secs(24 * 3600)
                        } else {
                            crate::conn::RESPONSE_TIMEOUT
                        });
                    #[cfg(feature = "tls")]
                    if let Some(pem) = &self.root_cert {
                        b = b.certs(redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(pem.clone()),
                        });
                    }
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
