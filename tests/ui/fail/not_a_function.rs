#[ork::task]
struct Add {
    x: i64,
}

fn main() {}
