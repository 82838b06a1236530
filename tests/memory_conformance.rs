//! The backend conformance suite against the memory engine.

ork_core::backend_conformance!(async { ork::MemoryBackend::new() });
