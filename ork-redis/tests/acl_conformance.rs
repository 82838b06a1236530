//! The whole backend conformance suite as a Redis user that may touch only
//! its namespace's keys and run only the commands the engine needs.
//!
//! Each test runs its own redis-server with an admin user (the default
//! user is off) and the restricted user `ork`: keys `~{acl}:*` only, no
//! channels, and the commands below. Neither `CONFIG GET` (the eviction
//! warning) nor `CLIENT UNBLOCK` (ending a timed wait early) is granted:
//! the engine does without them. When the engine starts using a new
//! command, add it to [`ENGINE_COMMANDS`].

use std::sync::Arc;

use ork_core::backend::ClaimRequest;
use ork_core::backend::{JobStore, Queries};
use ork_core::job::JobRecord;
use ork_core::Error;
use ork_core::JobQuery;
use ork_redis::redis;
use ork_redis::testing::{RedisServer, ServedBackend};
use ork_redis::RedisBackend;

/// The namespace of the restricted user.
const NS: &str = "acl";

/// Commands the engine sends, and those its scripts call.
const ENGINE_COMMANDS: &[&str] = &[
    // Sent by the engine.
    "evalsha",
    "eval",
    "script|load",
    "bzpopmin",
    "info",
    "client|id",
    "ping",
    // Called by the scripts.
    "time",
    "del",
    "exists",
    "get",
    "set",
    "incr",
    "hdel",
    "hget",
    "hgetall",
    "hincrby",
    "hmget",
    "hset",
    "hsetnx",
    "llen",
    "lpop",
    "lrange",
    "lrem",
    "rpush",
    "persist",
    "pexpire",
    "pttl",
    "sadd",
    "scard",
    "smembers",
    "srem",
    "zadd",
    "zcard",
    "zrange",
    "zrangebyscore",
    "zrem",
    "zremrangebyscore",
    "zrevrange",
    "zscore",
    // The audit trail (sent by the engine, no script).
    "lpush",
    "ltrim",
];

fn restricted_user_args(server: &mut ork_redis::testing::RedisServerBuilder) {
    server
        .acl_user("admin", "admin-secret")
        .arg("--user")
        .arg("ork")
        .arg("on")
        .arg(">ork-secret")
        .arg("resetkeys")
        .arg(format!("~{{{NS}}}:*"))
        .arg("resetchannels")
        .arg("-@all");
    for c in ENGINE_COMMANDS {
        server.arg(format!("+{c}"));
    }
}

fn start_server() -> RedisServer {
    let mut builder = RedisServer::builder();
    restricted_user_args(&mut builder);
    builder.start()
}

fn restricted_url(server: &RedisServer) -> String {
    format!("redis://ork:ork-secret@127.0.0.1:{}", server.port())
}

/// A fresh server and a backend on it as the restricted user.
async fn restricted() -> ServedBackend {
    let server = Arc::new(tokio::task::spawn_blocking(start_server).await.unwrap());
    let backend = RedisBackend::builder(restricted_url(&server))
        .namespace(NS)
        .build()
        .await
        .expect("the restricted user connects");
    ServedBackend::new(backend, server)
}

ork_core::backend_conformance!(restricted());

/// Whether an error message says the ACL refused.
fn refused(msg: &str) -> bool {
    msg.to_lowercase().contains("no permissions") || msg.contains("NOPERM")
}

/// The user really is restricted: not the admin's keys, not another
/// namespace, not the commands it was not given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restricted_user_is_kept_to_its_namespace() {
    let b = restricted().await;
    let url = restricted_url(b.server());
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let denied: redis::RedisResult<()> = redis::cmd("SET")
        .arg("elsewhere")
        .arg("x")
        .query_async(&mut conn)
        .await;
    let e = denied.unwrap_err();
    assert!(refused(&e.to_string()), "{e}");
    for forbidden in [
        redis::cmd("FLUSHALL"),
        redis::cmd("KEYS").arg("*").to_owned(),
    ] {
        let r: redis::RedisResult<redis::Value> = forbidden.query_async(&mut conn).await;
        assert!(refused(&r.unwrap_err().to_string()));
    }
    // Another namespace: connecting works, touching its keys does not.
    let other = RedisBackend::builder(url.as_str())
        .namespace("other")
        .build()
        .await
        .unwrap();
    let err = other
        .enqueue(vec![JobRecord::new("t", vec![])])
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::NoPermission { .. }), "{err:?}");
    assert!(!err.is_transient());
    let source = std::error::Error::source(&err).expect("the Redis error is the source");
    assert!(refused(&source.to_string()), "{source}");
    // Its own namespace works, including a blocking claim that ends on
    // its own deadline (without CLIENT UNBLOCK).
    let mut late = JobRecord::new("t", vec![1]);
    late.delay_ms = 300;
    b.enqueue(vec![late.clone()]).await.unwrap();
    let got = b
        .claim(
            &ClaimRequest::new(
                "w",
                vec!["default".into()],
                1,
                std::time::Duration::from_secs(30),
            )
            .wait(std::time::Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.id, late.id);
    assert_eq!(b.list(&JobQuery::default()).await.unwrap().len(), 1);
}
