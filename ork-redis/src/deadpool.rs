//! An application's `deadpool_redis::Pool` as the source of the engine's
//! connections (feature `deadpool`).
//!
//! The engine does not check a connection out per command (each checkout
//! costs deadpool's recycle round trip, `UNWATCH` + `PING`). It takes
//! connections out of the pool for good, once, and keeps them: `pool_size`
//! multiplexed connections for ordinary commands, one per blocked claimer,
//! one for a worker's lease thread. A taken connection no longer counts
//! against the pool's `max_size`. One that breaks (redis-rs says it must
//! be replaced) is dropped, and the next command takes a fresh one from the
//! pool. The pool's manager decides where and how to connect (URL, TLS,
//! credentials); the engine sets the response timeout of what it takes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::{Connection, Pool, PoolError};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

/// Takes a connection out of `pool` for good, with this response timeout.
pub(crate) async fn take(
    pool: &Pool,
    response_timeout: Duration,
) -> RedisResult<MultiplexedConnection> {
    let conn = pool.get().await.map_err(pool_error)?;
    let mut conn = Connection::take(conn);
    conn.set_response_timeout(response_timeout);
    Ok(conn)
}

/// The pool's own failures (a timeout, a closed pool) as I/O errors:
/// redis-rs calls them worth retrying.
pub(crate) fn pool_error(e: PoolError) -> RedisError {
    match e {
        PoolError::Backend(e) => e,
        other => RedisError::from(std::io::Error::other(format!(
            "the deadpool pool gave no connection: {other}"
        ))),
    }
}

/// A multiplexed connection taken from the pool, replaced by another when
/// it breaks. Cheap to clone (the clones share it).
#[derive(Clone)]
pub(crate) struct PooledConn(Arc<Shared>);

struct Shared {
    pool: Pool,
    response_timeout: Duration,
    db: i64,
    /// The connection in use and its generation (bumped when it is
    /// dropped, so that a late failure can't drop its replacement).
    current: Mutex<(u64, Option<MultiplexedConnection>)>,
}

impl PooledConn {
    /// Takes the first connection.
    pub(crate) async fn open(pool: Pool, response_timeout: Duration) -> RedisResult<PooledConn> {
        let conn = take(&pool, response_timeout).await?;
        Ok(PooledConn(Arc::new(Shared {
            pool,
            response_timeout,
            db: conn.get_db(),
            current: Mutex::new((0, Some(conn))),
        })))
    }

    async fn conn(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let (generation, Some(conn)) = &*self.lock() {
            return Ok((*generation, conn.clone()));
        }
        let fresh = take(&self.0.pool, self.0.response_timeout).await?;
        let mut current = self.lock();
        // Another command may have replaced it meanwhile: use that one.
        let conn = current.1.get_or_insert(fresh).clone();
        Ok((current.0, conn))
    }

    /// Drops the connection of this generation if it is still the current one.
    fn discard(&self, generation: u64) {
        let mut current = self.lock();
        if current.0 == generation {
            *current = (generation + 1, None);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Option<MultiplexedConnection>)> {
        self.0.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check<T>(&self, generation: u64, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result {
            if e.is_unrecoverable_error() {
                self.discard(generation);
            }
        }
        result
    }
}

impl ConnectionLike for PooledConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.conn().await?;
            let result = conn.send_packed_command(cmd).await;
            self.check(generation, result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.conn().await?;
            let result = conn.send_packed_commands(cmd, offset, count).await;
            self.check(generation, result)
        })
    }

    fn get_db(&self) -> i64 {
        self.0.db
    }
}
