use ork::Context;

#[ork::task(cron = "0 */15 * * * *")]
async fn refresh_cache() -> ork::Result<()> {
    Ok(())
}

#[ork::task(every = "30s", queue = "maintenance")]
async fn heartbeat(ctx: Context) -> ork::Result<()> {
    let _ = ctx.job_id();
    Ok(())
}

fn main() {
    assert_eq!(
        <refresh_cache as ork::Task>::OPTIONS.cron,
        Some("0 */15 * * * *")
    );
    let _ = heartbeat::call();
}
