//! Redis Sentinel: finding the primary, and following it through a failover.
//!
//! A `redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]`
//! URL (`rediss+sentinel://` for TLS) names the sentinels and the service
//! they watch. [`Resolver::primary`] asks the sentinels, in order, for the
//! service's primary (`SENTINEL get-master-addr-by-name`) and takes the
//! first answer that says `master` to `ROLE` itself: a server still
//! starting, or demoted, is passed over.
//!
//! [`PrimaryConn`] is a multiplexed connection that follows the primary. It
//! does not reconnect to a fixed address (a primary that comes back after
//! a failover is stale, and empty if it kept no data): when a command
//! fails on the connection (I/O error, timeout, dropped connection) or the
//! server answers `READONLY` (it was demoted), the connection is dropped,
//! the error goes to the caller, and the next command asks the sentinels
//! again. Callers retry as they do after any connection error; every
//! write ork makes is idempotent or fenced, so a retry is safe.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult,
    ServerErrorKind, Value,
};

/// What a `redis+sentinel://` URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelUrl {
    /// `host:port` of each sentinel (port 26379 when not given).
    pub(crate) sentinels: Vec<(String, u16)>,
    /// The name the sentinels know the primary by.
    pub(crate) service: String,
    /// `rediss+sentinel://`: TLS to the sentinels and to the primary.
    pub(crate) tls: bool,
    /// `user:password@` as written (percent-encoded), for the primary.
    pub(crate) credentials: String,
    /// The database number, as written (empty for 0).
    pub(crate) db: String,
}

/// The sentinels' default port.
const SENTINEL_PORT: u16 = 26379;

impl SentinelUrl {
    /// Parses a sentinel URL; `None` when `url` is not one (another scheme).
    pub(crate) fn parse(url: &str) -> Option<Result<SentinelUrl, String>> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("redis+sentinel://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("rediss+sentinel://") {
            (true, r)
        } else {
            return None;
        };
        Some(Self::parse_rest(tls, rest))
    }

    fn parse_rest(tls: bool, rest: &str) -> Result<SentinelUrl, String> {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((c, h)) => (format!("{c}@"), h),
            None => (String::new(), authority),
        };
        let mut sentinels = Vec::new();
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            sentinels.push(host_port(host)?);
        }
        if sentinels.is_empty() {
            return Err("a sentinel URL names at least one sentinel".to_owned());
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        let mut parts = path.split('/').filter(|p| !p.is_empty());
        let service = parts
            .next()
            .ok_or(
                "a sentinel URL ends with the service name: redis+sentinel://host:26379/mymaster",
            )?
            .to_owned();
        let db = parts.next().unwrap_or("").to_owned();
        if !db.is_empty() && db.parse::<u32>().is_err() {
            return Err(format!("database {db:?} is not a number"));
        }
        if parts.next().is_some() {
            return Err("a sentinel URL's path is /service or /service/db".to_owned());
        }
        Ok(SentinelUrl {
            sentinels,
            service,
            tls,
            credentials,
            db,
        })
    }

    /// The URL of a sentinel.
    fn sentinel_url(&self, (host, port): &(String, u16)) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}:{port}", bracketed(host))
    }

    /// The URL of the primary at this address.
    fn primary_url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!(
            "{scheme}://{}{}:{port}/{}",
            self.credentials,
            bracketed(host),
            self.db
        )
    }
}

fn host_port(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("sentinel address {s:?} is not host:port");
    // [v6]:port, [v6], host:port, host
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => SENTINEL_PORT,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            Ok((host.to_owned(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Err(bad()),
        None => Ok((s.to_owned(), SENTINEL_PORT)),
    }
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

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

/// A multiplexed connection to whichever server the sentinels name primary
/// (cheap to clone: clones share the connection).
#[derive(Clone)]
pub(crate) struct PrimaryConn {
    slot: Arc<Slot>,
}

struct Slot {
    resolver: Arc<Resolver>,
    config: AsyncConnectionConfig,
    /// The connection, its generation (to drop only the one that failed)
    /// and the resolver's epoch it was made in.
    current: Mutex<Option<Current>>,
    /// One reconnect at a time.
    connecting: tokio::sync::Mutex<Attempts>,
}

/// A live connection.
#[derive(Clone)]
struct Current {
    generation: u64,
    epoch: u64,
    conn: MultiplexedConnection,
}

/// What the reconnects did.
#[derive(Default)]
struct Attempts {
    /// Connections made so far.
    generation: u64,
    /// When the last reconnect failed, and how: a caller that waited for
    /// that attempt gets its error instead of trying again behind it.
    failed: Option<(Instant, RedisError)>,
}

impl PrimaryConn {
    /// Connects now (an error here is the caller's to judge: build fails,
    /// or waits for the server).
    pub(crate) async fn open(
        resolver: Arc<Resolver>,
        config: AsyncConnectionConfig,
    ) -> RedisResult<PrimaryConn> {
        let conn = PrimaryConn {
            slot: Arc::new(Slot {
                resolver,
                config,
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(Attempts::default()),
            }),
        };
        conn.connection().await?;
        Ok(conn)
    }

    /// The current connection, after asking the sentinels if there is none.
    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let asked = Instant::now();
        let mut attempts = self.slot.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        if let Some((at, e)) = &attempts.failed {
            if *at >= asked {
                return Err(e.clone());
            }
        }
        let connected = async {
            let (client, epoch) = self.slot.resolver.primary().await?;
            let conn = client
                .get_multiplexed_async_connection_with_config(&self.slot.config)
                .await?;
            Ok::<_, RedisError>((client, epoch, conn))
        }
        .await;
        let (client, epoch, conn) = match connected {
            Ok(c) => c,
            Err(e) => {
                attempts.failed = Some((Instant::now(), e.clone()));
                return Err(e);
            }
        };
        attempts.generation += 1;
        attempts.failed = None;
        let generation = attempts.generation;
        let addr = client.get_connection_info().addr().to_string();
        let service = self.slot.resolver.service();
        if generation > 1 {
            tracing::info!(service = %service, primary = %addr, "reconnected to the primary");
        } else {
            tracing::debug!(service = %service, primary = %addr, "connected to the primary");
        }
        *self.lock() = Some(Current {
            generation,
            epoch,
            conn: conn.clone(),
        });
        Ok((generation, conn))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        self.slot.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection, unless the sentinels named another primary since it
    /// was made (then it is dropped).
    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        let mut current = self.lock();
        let c = current.as_ref()?;
        if c.epoch != self.slot.resolver.epoch() {
            *current = None;
            return None;
        }
        Some((c.generation, c.conn.clone()))
    }

    /// Drops connection `generation` after `e`, when `e` says it no longer
    /// reaches the primary.
    fn judge(&self, generation: u64, e: &RedisError) {
        if !lost_primary(e) {
            return;
        }
        let mut current = self.lock();
        if current.as_ref().is_some_and(|c| c.generation == generation) {
            tracing::warn!(error = %e, service = %self.slot.resolver.service(), "lost the primary: asking the sentinels again");
            *current = None;
        }
    }
}

impl ConnectionLike for PrimaryConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.connection().await?;
            let reply = conn.req_packed_command(cmd).await;
            match &reply {
                Err(e) => self.judge(generation, e),
                // A server error may come back as a value.
                Ok(value) => {
                    if let Some(e) = readonly(value) {
                        self.judge(generation, &e);
                    }
                }
            }
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.connection().await?;
            let reply = conn.req_packed_commands(cmd, offset, count).await;
            match &reply {
                Err(e) => self.judge(generation, e),
                // A pipeline's server errors come back as values.
                Ok(values) => {
                    if let Some(e) = values.iter().find_map(readonly) {
                        self.judge(generation, &e);
                    }
                }
            }
            reply
        })
    }

    fn get_db(&self) -> i64 {
        self.slot.config_db()
    }
}

impl Slot {
    fn config_db(&self) -> i64 {
        self.resolver.url.db.parse().unwrap_or(0)
    }
}

/// A `READONLY` error among a pipeline's replies.
fn readonly(v: &Value) -> Option<RedisError> {
    match v {
        Value::ServerError(e) if e.kind() == Some(ServerErrorKind::ReadOnly) => {
            Some(RedisError::from(e.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::SentinelUrl;

    #[test]
    fn parses_sentinel_urls() {
        let u = SentinelUrl::parse("redis+sentinel://a:1,b,[::1]:3/mymaster/2")
            .unwrap()
            .unwrap();
        assert_eq!(
            u.sentinels,
            vec![
                ("a".to_owned(), 1),
                ("b".to_owned(), 26379),
                ("::1".to_owned(), 3)
            ]
        );
        assert_eq!(u.service, "mymaster");
        assert_eq!(u.primary_url("::1", 7), "redis://[::1]:7/2");
        let u = SentinelUrl::parse("rediss+sentinel://u:p%40@h:9/svc")
            .unwrap()
            .unwrap();
        assert!(u.tls);
        assert_eq!(
            u.primary_url("10.0.0.1", 6379),
            "rediss://u:p%40@10.0.0.1:6379/"
        );
        assert!(SentinelUrl::parse("redis://h:1").is_none());
        assert!(SentinelUrl::parse("redis+sentinel://h:1").unwrap().is_err());
        assert!(SentinelUrl::parse("redis+sentinel:///svc")
            .unwrap()
            .is_err());
        assert!(SentinelUrl::parse("redis+sentinel://h:x/svc")
            .unwrap()
            .is_err());
    }
}
