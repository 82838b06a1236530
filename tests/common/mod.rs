//! Shared test code.
#![allow(dead_code, missing_docs, unreachable_pub)]

pub mod cancel;
pub mod shapes;
pub mod ticks;
pub mod worker;
