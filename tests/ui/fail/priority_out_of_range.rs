#[ork::task(priority = 10)]
async fn urgent() -> ork::Result<()> {
    Ok(())
}

fn main() {}
