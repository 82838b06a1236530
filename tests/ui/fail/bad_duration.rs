#[ork::task(timeout = "30 parsecs")]
async fn slow() -> ork::Result<()> {
    Ok(())
}

#[ork::task(result_ttl = "90")]
async fn kept() -> ork::Result<()> {
    Ok(())
}

#[ork::task(every = "1 month")]
async fn monthly() -> ork::Result<()> {
    Ok(())
}

#[ork::task(backoff = "linear:1s")]
async fn flaky() -> ork::Result<()> {
    Ok(())
}

fn main() {}
