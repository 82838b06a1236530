#[ork::task(timeout = "30 seconds")]
async fn slow() -> ork::Result<()> {
    Ok(())
}

#[ork::task(result_ttl = "90")]
async fn kept() -> ork::Result<()> {
    Ok(())
}

#[ork::task(backoff = "linear:1s")]
async fn flaky() -> ork::Result<()> {
    Ok(())
}

fn main() {}
