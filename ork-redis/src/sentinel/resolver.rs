//! [`Resolver`]: asks the sentinels for the primary, and watches whom
//! they name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value,
};

use super::SentinelUrl;

/// How often the sentinels are asked whether the primary changed.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Finds the current primary through the sentinels, and notices when they
/// name another.
pub(crate) struct Resolver {
    url: SentinelUrl,
    /// Timeouts for the short exchanges with sentinels and the role check.
    config: AsyncConnectionConfig,
    #[cfg(feature = "tls")]
    root_cert: Option<Vec<u8>>,
    /// The primary the sentinels named last.
    named: Mutex<Option<(String, u16)>>,
    /// Grows each time they name another: connections made under an
    /// older epoch are dropped before their next command.
    epoch: AtomicU64,
}

impl Resolver {
    pub(crate) fn new(
        url: SentinelUrl,
        connect_timeout: Duration,
        response_timeout: Duration,
        #[cfg(feature = "tls")] root_cert: Option<Vec<u8>>,
    ) -> Resolver {
        Resolver {
            url,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(response_timeout)),
            #[cfg(feature = "tls")]
            root_cert,
            named: Mutex::new(None),
            epoch: AtomicU64::new(0),
        }
    }

    /// The current epoch: it grows each time the sentinels name another
    /// primary.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Records the primary the sentinels name; a new one starts an epoch.
    /// Returns the epoch.
    fn note(&self, addr: (String, u16)) -> u64 {
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        match named.as_ref() {
            Some(old) if *old != addr => {
                tracing::warn!(
                    service = %self.url.service,
                    old = %format!("{}:{}", old.0, old.1),
                    new = %format!("{}:{}", addr.0, addr.1),
                    "the sentinels name a new primary: reconnecting"
                );
                self.epoch.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        *named = Some(addr);
        self.epoch()
    }

    /// Asks the sentinels every [`WATCH_INTERVAL`] whom they name primary,
    /// so connections to a primary that was replaced while it stayed up (a
    /// manual failover, a healed partition) are dropped within about that
    /// long, before the sentinels demote it. Ends with the backend.
    pub(crate) fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut cached: Option<(usize, MultiplexedConnection)> = None;
            loop {
                tokio::time::sleep(WATCH_INTERVAL).await;
                let Some(resolver) = weak.upgrade() else {
                    return;
                };
                if let Some(addr) = resolver.named_now(&mut cached).await {
                    resolver.note(addr);
                }
            }
        });
    }

    /// What the first sentinel that answers names primary (through a
    /// connection kept between calls).
    async fn named_now(
        &self,
        cached: &mut Option<(usize, MultiplexedConnection)>,
    ) -> Option<(String, u16)> {
        let start = cached.as_ref().map_or(0, |(i, _)| *i);
        let n = self.url.sentinels.len();
        for i in (0..n).map(|k| (start + k) % n) {
            let mut conn = match cached.take() {
                Some((at, c)) if at == i => c,
                _ => {
                    let url = self.url.sentinel_url(&self.url.sentinels[i]);
                    let Ok(client) = self.client(&url) else {
                        continue;
                    };
                    match client
                        .get_multiplexed_async_connection_with_config(&self.config)
                        .await
                    {
                        Ok(c) => c,
                        Err(_) => continue,
                    }
                }
            };
            let addr: RedisResult<Option<(String, u16)>> = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&self.url.service)
                .query_async(&mut conn)
                .await;
            if let Ok(Some(addr)) = addr {
                *cached = Some((i, conn));
                return Some(addr);
            }
        }
        None
    }

    /// The primary's database number.
    pub(crate) fn db(&self) -> i64 {
        self.url.db.parse().unwrap_or(0)
    }

    /// The service name.
    pub(crate) fn service(&self) -> &str {
        &self.url.service
    }

    fn client(&self, url: &str) -> RedisResult<Client> {
        #[cfg(feature = "tls")]
        if let Some(pem) = &self.root_cert {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            };
            return Client::build_with_tls(url, certs);
        }
        Client::open(url)
    }

    /// A client for the current primary (the first address a sentinel
    /// gives whose server says it is a primary), and the epoch it belongs to.
    pub(crate) async fn primary(&self) -> RedisResult<(Client, u64)> {
        let mut last: Option<RedisError> = None;
        for node in &self.url.sentinels {
            match self.ask(node).await {
                Ok((client, addr)) => return Ok((client, self.note(addr))),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| no_primary("no sentinel to ask".to_owned())))
    }

    async fn ask(&self, node: &(String, u16)) -> RedisResult<(Client, (String, u16))> {
        let sentinel = self.client(&self.url.sentinel_url(node))?;
        let mut conn = sentinel
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.url.service)
            .query_async(&mut conn)
            .await?;
        let Some((host, port)) = addr else {
            return Err(no_primary(format!(
                "sentinel {}:{} does not know service {:?}",
                node.0, node.1, self.url.service
            )));
        };
        let client = self.client(&self.url.primary_url(&host, port))?;
        let mut probe = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let role: Value = redis::cmd("ROLE").query_async(&mut probe).await?;
        let is_primary = match &role {
            Value::Array(items) => items
                .first()
                .and_then(crate::record::bytes_of)
                .is_some_and(|b| b == b"master"),
            _ => false,
        };
        if !is_primary {
            return Err(no_primary(format!(
                "{host}:{port}, named primary of {:?}, is not a primary (yet)",
                self.url.service
            )));
        }
        Ok((client, (host, port)))
    }
}

fn no_primary(detail: String) -> RedisError {
    RedisError::from((
        ErrorKind::MasterNameNotFoundBySentinel,
        "no primary found through sentinel",
        detail,
    ))
}

/// Whether an error means the connection no longer reaches the primary.
pub(crate) fn lost_primary(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}
