//! Workflow shapes on the memory engine.

mod common;

workflow_shapes!(async { ork::Ork::memory() });
