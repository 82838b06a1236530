#[ork::task(cron = "0 0 8 * * *")]
async fn digest(user_id: u64) -> ork::Result<()> {
    let _ = user_id;
    Ok(())
}

fn main() {}
