use ork::Context;

#[ork::task(concurrency = 2)]
fn checksum(data: Vec<u8>) -> ork::Result<u32> {
    Ok(data.iter().map(|&b| u32::from(b)).sum())
}

#[ork::task]
fn with_context(ctx: Context, n: u64) -> anyhow::Result<u64> {
    Ok(n + u64::from(ctx.attempt()))
}

fn main() {
    let _: ork::Call<u32> = checksum::call(vec![1, 2, 3]);
    let _: ork::Call<u64> = with_context::call(1);
    assert!(<checksum as ork::Task>::OPTIONS.blocking);
}
