//! Workflow shapes on Redis: the same checks as on the memory engine, each
//! on a redis-server of its own.

mod common;

workflow_shapes!(async { ork::Ork::with_backend(ork_redis::testing::backend().await) });
