//! The backend conformance suite of ork-core, against a real redis-server
//! (one per test, started by `ork_redis::testing`).

ork_core::backend_conformance!(ork_redis::testing::backend());
