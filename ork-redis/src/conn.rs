//! Connections: a small set of shared, multiplexed connections for ordinary
//! commands, and dedicated connections for blocking waits.
//!
//! Ordinary commands go round-robin over `pool_size` multiplexed
//! connections ([`ConnectionManager`]s, which reconnect by themselves), so
//! concurrent callers pipeline on the same sockets and no checkout costs a
//! round trip. Blocking commands (BZPOPMIN) would stall every request
//! queued behind them on a multiplexed socket, so each blocked claimer has
//! a connection of its own, taken from an idle stack and put back after a
//! clean return; one whose wait was abandoned is closed instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ork_core::{Error, Result};
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, Value};

use crate::sentinel::{PrimaryConn, Resolver};

/// How long connecting may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections' time limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// How long connecting may take.
    pub(crate) connect: Duration,
    /// How long an ordinary command may take before it fails.
    pub(crate) response: Duration,
}

impl Timeouts {
    fn config(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect))
            .set_response_timeout(Some(self.response))
    }
}
/// Idle blocking connections kept for reuse.
const MAX_IDLE_BLOCKING: usize = 16;

/// What to connect to (one per backend: its size doesn't matter).
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Target {
    /// One server (or a proxy).
    Single(Client),
    /// The primary the sentinels name, whichever server that is now.
    Sentinel(Arc<Resolver>),
    /// A Redis Cluster: one client for shared use, one whose connections
    /// tolerate long blocking commands.
    #[cfg(feature = "cluster")]
    Cluster {
        shared: redis::cluster::ClusterClient,
        blocking: redis::cluster::ClusterClient,
    },
    /// An application's pool: connections are taken out of it.
    #[cfg(feature = "deadpool")]
    Deadpool(deadpool_redis::Pool),
}

/// A connection for ordinary commands (cheap to clone, multiplexed).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Primary(PrimaryConn),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
    #[cfg(feature = "deadpool")]
    Pooled(crate::deadpool::PooledConn),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Primary(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
            #[cfg(feature = "deadpool")]
            Conn::Pooled(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Primary(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "deadpool")]
            Conn::Pooled(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Primary(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.get_db(),
            #[cfg(feature = "deadpool")]
            Conn::Pooled(c) => c.get_db(),
        }
    }
}

/// The shared connections, used round-robin.
pub(crate) struct Pool {
    conns: Vec<Conn>,
    next: AtomicUsize,
}

impl Pool {
    /// Opens `size` connections (one for a cluster: its client multiplexes
    /// per node already).
    pub(crate) async fn open(target: &Target, size: usize, timeouts: Timeouts) -> Result<Pool> {
        let mut conns = Vec::with_capacity(size.max(1));
        match target {
            Target::Single(client) => {
                // One attempt first: a certificate, protocol or password the
                // server refuses fails here at once, where the managers would
                // retry it for seconds (a TLS handshake with a plain-text port,
                // for most of a minute). Only a refused connection (a server
                // still starting) goes on to their retries.
                if let Err(e) = client
                    .get_multiplexed_async_connection_with_config(&timeouts.config())
                    .await
                {
                    if !e.is_connection_refusal() {
                        return Err(connect_error(e));
                    }
                }
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(timeouts.response))
                    .set_connection_timeout(Some(timeouts.connect));
                for _ in 0..size.max(1) {
                    let c = ConnectionManager::new_with_config(client.clone(), config.clone())
                        .await
                        .map_err(connect_error)?;
                    conns.push(Conn::Single(c));
                }
            }
            Target::Sentinel(resolver) => {
                for _ in 0..size.max(1) {
                    let c = PrimaryConn::open(resolver.clone(), timeouts.config())
                        .await
                        .map_err(connect_error)?;
                    conns.push(Conn::Primary(c));
                }
            }
            #[cfg(feature = "cluster")]
            Target::Cluster { shared, .. } => {
                let c = shared.get_async_connection().await.map_err(connect_error)?;
                conns.push(Conn::Cluster(c));
            }
            #[cfg(feature = "deadpool")]
            Target::Deadpool(pool) => {
                for _ in 0..size.max(1) {
                    let c = crate::deadpool::PooledConn::open(pool.clone(), timeouts.response)
                        .await
                        .map_err(connect_error)?;
                    conns.push(Conn::Pooled(c));
                }
            }
        }
        Ok(Pool {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// The next connection.
    pub(crate) fn get(&self) -> Conn {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].clone()
    }
}

pub(crate) use crate::error::connect_error;

/// One connection and a `PING`: whether the server is up and answering
/// (the builder's wait for a server that starts after the application).
pub(crate) async fn probe(target: &Target, timeouts: Timeouts) -> redis::RedisResult<()> {
    let config = timeouts.config();
    let mut conn = match target {
        Target::Single(client) => {
            client
                .get_multiplexed_async_connection_with_config(&config)
                .await?
        }
        Target::Sentinel(resolver) => {
            resolver
                .primary()
                .await?
                .0
                .get_multiplexed_async_connection_with_config(&config)
                .await?
        }
        #[cfg(feature = "cluster")]
        Target::Cluster { shared, .. } => {
            let mut c = shared.get_async_connection().await?;
            return redis::cmd("PING").query_async(&mut c).await;
        }
        #[cfg(feature = "deadpool")]
        Target::Deadpool(pool) => {
            let mut c = pool.get().await.map_err(crate::deadpool::pool_error)?;
            return redis::cmd("PING").query_async(&mut *c).await;
        }
    };
    redis::cmd("PING").query_async(&mut conn).await
}

/// Whether a connection error says the server is not (yet) up: refused,
/// unreachable, timed out, loading its data, or no primary elected. Bad
/// credentials, TLS and protocol errors are not: waiting won't mend them.
pub(crate) fn not_up(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    e.is_connection_refusal()
        || e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || matches!(
            e.kind(),
            ErrorKind::MasterNameNotFoundBySentinel
                | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                )
        )
}

/// A connection reserved for one blocking wait at a time.
pub(crate) struct BlockingConn {
    pub(crate) conn: BlockingInner,
    /// `CLIENT ID` of a single-server connection: another connection can
    /// end its wait early with `CLIENT UNBLOCK`.
    pub(crate) client_id: Option<i64>,
    /// Whether this user may send `CLIENT UNBLOCK`.
    can_unblock: bool,
    /// A second handle on the socket of a plain TCP connection, to shut it
    /// down at once when a wait is abandoned (see [`BlockingGuard`]).
    abandon: Option<std::net::TcpStream>,
    /// With Sentinel, the resolver's epoch it was made in (else 0).
    epoch: u64,
}

impl BlockingConn {
    /// Whether work may be claimed in the same round trip as a wait (the
    /// claim pipelined behind it): the server must drop the claim with an
    /// abandoned wait, before it reads anything sent after (a plain TCP
    /// socket, shut down synchronously), and a wait we time ourselves must
    /// end cleanly (`CLIENT UNBLOCK`), with the claim's reply read.
    pub(crate) fn pipelines(&self) -> bool {
        self.abandon.is_some() && self.client_id.is_some() && self.can_unblock
    }
}

pub(crate) enum BlockingInner {
    Single(MultiplexedConnection),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl BlockingInner {
    /// Sends a pipeline; the replies of the commands not ignored.
    pub(crate) async fn query_pipeline(
        &mut self,
        pipe: &Pipeline,
    ) -> redis::RedisResult<Vec<Value>> {
        match self {
            BlockingInner::Single(c) => pipe.query_async(c).await,
            #[cfg(feature = "cluster")]
            BlockingInner::Cluster(c) => pipe.query_async(c).await,
        }
    }
}

/// Opens and keeps blocking connections (clones share the idle ones).
#[derive(Clone)]
pub(crate) struct Blocking {
    target: Target,
    connect_timeout: Duration,
    idle: Arc<Mutex<Vec<BlockingConn>>>,
}

impl Blocking {
    pub(crate) fn new(target: Target, connect_timeout: Duration) -> Self {
        Blocking {
            target,
            connect_timeout,
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// What the connections are opened to.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// Whether the connections go to a Redis Cluster (whose blocking
    /// commands may name keys of one slot only).
    pub(crate) fn is_cluster(&self) -> bool {
        match &self.target {
            #[cfg(feature = "cluster")]
            Target::Cluster { .. } => true,
            _ => false,
        }
    }

    /// The client of a single server (`None` on a cluster).
    pub(crate) fn single_client(&self) -> Option<Client> {
        match &self.target {
            Target::Single(client) => Some(client.clone()),
            // Behind sentinels the primary changes: heartbeats carry the
            // requests.
            Target::Sentinel(_) => None,
            #[cfg(feature = "cluster")]
            Target::Cluster { .. } => None,
            // The pool's connection settings are its own: heartbeats
            // carry the requests.
            #[cfg(feature = "deadpool")]
            Target::Deadpool(_) => None,
        }
    }

    /// An idle connection, or a new one.
    pub(crate) async fn checkout(&self) -> Result<BlockingGuard> {
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            // With Sentinel, those made before the primary changed go.
            if let Target::Sentinel(resolver) = &self.target {
                let epoch = resolver.epoch();
                idle.retain(|c| c.epoch == epoch);
            }
            idle.pop()
        };
        let conn = match reused {
            Some(c) => c,
            None => self.open().await?,
        };
        Ok(BlockingGuard {
            conn: Some(conn),
            idle: self.idle.clone(),
            clean: false,
        })
    }

    async fn open(&self) -> Result<BlockingConn> {
        match &self.target {
            Target::Single(client) => self.open_single(client).await,
            Target::Sentinel(resolver) => {
                let (client, epoch) = resolver.primary().await.map_err(connect_error)?;
                let mut conn = self.open_single(&client).await?;
                conn.epoch = epoch;
                Ok(conn)
            }
            #[cfg(feature = "cluster")]
            Target::Cluster { blocking, .. } => {
                let c = blocking
                    .get_async_connection()
                    .await
                    .map_err(connect_error)?;
                Ok(BlockingConn {
                    conn: BlockingInner::Cluster(c),
                    client_id: None,
                    can_unblock: false,
                    abandon: None,
                    epoch: 0,
                })
            }
            #[cfg(feature = "deadpool")]
            Target::Deadpool(pool) => {
                // No response timeout of its own: the caller bounds each wait.
                let c = crate::deadpool::take(pool, Duration::from_secs(24 * 3600))
                    .await
                    .map_err(connect_error)?;
                Ok(reserve(c, None).await)
            }
        }
    }

    async fn open_single(&self, client: &Client) -> Result<BlockingConn> {
        // No response timeout: the caller bounds each wait itself.
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(self.connect_timeout));
        let (c, abandon) = match plain_tcp(client, &config, self.connect_timeout).await? {
            Some(opened) => opened,
            None => (
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(connect_error)?,
                None,
            ),
        };
        Ok(reserve(c, abandon).await)
    }
}

/// Readies a connection for blocking waits: its `CLIENT ID`, and whether
/// this user may end a wait early with `CLIENT UNBLOCK`.
async fn reserve(
    mut c: MultiplexedConnection,
    abandon: Option<std::net::TcpStream>,
) -> BlockingConn {
    let id: Option<i64> = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut c)
        .await
        .ok();
    // Unblocking a client that is not blocked changes nothing:
    // it only tells whether the ACL allows it.
    let can_unblock = match id {
        Some(id) => redis::cmd("CLIENT")
            .arg("UNBLOCK")
            .arg(id)
            .query_async::<i64>(&mut c)
            .await
            .is_ok(),
        None => false,
    };
    BlockingConn {
        conn: BlockingInner::Single(c),
        client_id: id,
        can_unblock,
        abandon,
        epoch: 0,
    }
}

/// A connection of our own to a plain TCP address (`None` for TLS and Unix
/// sockets, which redis-rs connects), with a second handle on its socket.
#[cfg(unix)]
async fn plain_tcp(
    client: &Client,
    config: &AsyncConnectionConfig,
    connect_timeout: Duration,
) -> Result<Option<(MultiplexedConnection, Option<std::net::TcpStream>)>> {
    use std::os::fd::AsFd;
    let info = client.get_connection_info();
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Ok(None);
    };
    let io = |e: std::io::Error| connect_error(e.into());
    let stream = tokio::time::timeout(
        connect_timeout,
        tokio::net::TcpStream::connect((host.as_str(), *port)),
    )
    .await
    .map_err(|_| Error::backend("could not connect to Redis: timed out"))?
    .map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let second = stream.as_fd().try_clone_to_owned().map_err(io)?;
    let (conn, driver) =
        MultiplexedConnection::new_with_config(info.redis_settings(), stream, config.clone())
            .await
            .map_err(connect_error)?;
    tokio::spawn(driver);
    Ok(Some((conn, Some(std::net::TcpStream::from(second)))))
}

#[cfg(not(unix))]
async fn plain_tcp(
    _client: &Client,
    _config: &AsyncConnectionConfig,
    _connect_timeout: Duration,
) -> Result<Option<(MultiplexedConnection, Option<std::net::TcpStream>)>> {
    Ok(None)
}

/// A checked-out blocking connection. Dropped without [`mark_clean`]
/// (an error, or the caller's future dropped mid-wait), the connection is
/// closed, which also ends its wait on the server; nothing else is lost.
/// A plain TCP socket is shut down right in the drop, so the server sees
/// the end of the connection, and drops the wait with the claim pipelined
/// behind it, before anything the caller sends afterwards.
///
/// [`mark_clean`]: BlockingGuard::mark_clean
pub(crate) struct BlockingGuard {
    conn: Option<BlockingConn>,
    idle: Arc<Mutex<Vec<BlockingConn>>>,
    clean: bool,
}

impl BlockingGuard {
    pub(crate) fn conn(&mut self) -> &mut BlockingConn {
        self.conn.as_mut().expect("present until dropped")
    }

    /// The connection answered everything asked: it can be reused.
    pub(crate) fn mark_clean(&mut self) {
        self.clean = true;
    }
}

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        if let (false, Some(conn)) = (self.clean, self.conn.as_ref()) {
            if let Some(socket) = &conn.abandon {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
        if let (true, Some(conn)) = (self.clean, self.conn.take()) {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_BLOCKING {
                idle.push(conn);
            }
        }
    }
}
