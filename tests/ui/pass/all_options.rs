#[ork::task(
    name = "mail::send",
    queue = "mail",
    retries = 5,
    backoff = "exponential:1s..5m",
    jitter = false,
    timeout = "30s",
    priority = 9,
    result_ttl = "1h",
    concurrency = 8,
    crate = "::ork"
)]
async fn send(to: String, subject: String, body: String) -> ork::Result<()> {
    let _ = (to, subject, body);
    Ok(())
}

#[ork::task(backoff = "fixed:250ms", timeout = "1m30s", result_ttl = "2d")]
async fn poll(url: String) -> ork::Result<u16> {
    let _ = url;
    Ok(200)
}

#[ork::task(backoff = "fixed")]
async fn fixed() -> ork::Result<()> {
    Ok(())
}

#[ork::task(jitter = false)]
async fn no_jitter() -> ork::Result<()> {
    Ok(())
}

fn main() {
    let _ = send::call("a@b.c".into(), "hi".into(), "...".into());
    let _ = poll::call("http://x".into());
    let _ = fixed::call();
    let _ = no_jitter::call();
}
