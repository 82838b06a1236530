#[ork::task(queue = "mail", retries = 3, queue = "sms")]
async fn send(to: String) -> ork::Result<()> {
    let _ = to;
    Ok(())
}

fn main() {}
