//! The generated code is clean under strict lints.
#![deny(
    warnings,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unsafe_code,
    unused_qualifications,
    unused_results,
    trivial_casts,
    trivial_numeric_casts,
    single_use_lifetimes,
    elided_lifetimes_in_paths,
    unused_lifetimes
)]

/// Adds.
#[ork::task(retries = 3, timeout = "10s", backoff = "fixed:1s")]
pub async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

/// Hashes, on the blocking pool.
#[ork::task(concurrency = 2)]
pub fn hash(ctx: ork::Context, data: Vec<u8>) -> anyhow::Result<u64> {
    let _ = ctx.attempt();
    Ok(data.len() as u64)
}

/// Runs every minute.
#[ork::task(every = "1m")]
pub async fn tick() -> ork::Result<()> {
    Ok(())
}

/// Never enqueued from this crate: no dead-code warning either.
#[ork::task]
async fn private_task(n: u32) -> ork::Result<u32> {
    Ok(n)
}

fn main() {
    drop(add::call(1, 2));
    drop(hash::call(vec![1]));
    drop(tick::call());
}
