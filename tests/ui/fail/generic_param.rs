#[ork::task]
async fn store<T: serde::Serialize>(value: T) -> ork::Result<()> {
    let _ = value;
    Ok(())
}

fn main() {}
