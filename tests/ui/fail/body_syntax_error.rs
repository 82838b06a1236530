// A syntax error in the body is reported once, by rustc, at the error;
// the macro doesn't add an error of its own.
#[ork::task]
async fn broken(x: i64) -> ork::Result<i64> {
    let y = x + ;
    Ok(y)
}

fn main() {}
