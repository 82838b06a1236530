#[ork::task]
async fn borrowed(name: &str) -> ork::Result<()> {
    let _ = name;
    Ok(())
}

#[ork::task]
async fn opaque(value: impl serde::Serialize) -> ork::Result<()> {
    let _ = serde_json_free(value);
    Ok(())
}

fn serde_json_free<T>(_: T) {}

#[ork::task]
async fn destructured((a, b): (u32, u32)) -> ork::Result<u32> {
    Ok(a + b)
}

#[ork::task]
async fn context_last(n: u32, ctx: ork::Context) -> ork::Result<u32> {
    let _ = ctx;
    Ok(n)
}

fn main() {}
