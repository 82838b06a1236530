//! Cancel reaching a workflow's run-time work, on the memory engine.

mod common;

cancel_checks!(async { ork::Ork::memory() });
