use ork::task;

#[task]
async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

#[task(queue = "math")]
async fn sub(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x - y)
}

fn main() {
    let _ = add::call(1, 2);
    let _ = sub::call(3, 1);
}
