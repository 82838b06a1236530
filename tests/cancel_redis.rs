//! Cancel reaching a workflow's run-time work, on Redis (a redis-server of
//! its own).

mod common;

cancel_checks!(async { ork::Ork::with_backend(ork_redis::testing::backend().await) });
