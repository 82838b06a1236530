#[ork::task(retries = "5")]
async fn a() -> ork::Result<()> {
    Ok(())
}

#[ork::task(concurrency = 0)]
async fn b() -> ork::Result<()> {
    Ok(())
}

#[ork::task(backoff = "fixed:1s", jitter = false)]
async fn c() -> ork::Result<()> {
    Ok(())
}

#[ork::task(cron = "*/5 * * * *")]
async fn d() -> ork::Result<()> {
    Ok(())
}

#[ork::task(cron = "0 * * * * *", every = "1m")]
async fn e() -> ork::Result<()> {
    Ok(())
}

#[ork::task(queue = "")]
async fn f() -> ork::Result<()> {
    Ok(())
}

fn main() {}
