#[derive(Debug)]
enum Oops {
    Bad,
}

#[ork::task]
async fn risky(n: u32) -> Result<u32, Oops> {
    if n == 0 {
        return Err(Oops::Bad);
    }
    Ok(n)
}

fn main() {}
