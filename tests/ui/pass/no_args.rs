#[ork::task]
async fn ping() -> ork::Result<String> {
    Ok("pong".to_owned())
}

#[ork::task]
async fn nothing() -> ork::Result<()> {
    Ok(())
}

fn main() {
    let _ = nothing::call();
    let _: ork::Call<()> = nothing::call();
    let _ = ping;
}
