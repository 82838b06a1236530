#[ork::task]
async fn add(x: i64, y: i64) -> i64 {
    x + y
}

#[ork::task]
async fn fire(x: i64) {
    let _ = x;
}

fn main() {}
