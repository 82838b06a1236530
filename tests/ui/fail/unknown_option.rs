#[ork::task(queue = "mail", retry = 3)]
async fn send(to: String) -> ork::Result<()> {
    let _ = to;
    Ok(())
}

fn main() {}
