//! [`PrimaryConn`]: a multiplexed connection that follows the primary.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, ServerErrorKind,
    Value,
};

use super::resolver::{lost_primary, Resolver};

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
        self.resolver.db()
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
