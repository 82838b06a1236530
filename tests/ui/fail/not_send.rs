use std::rc::Rc;

async fn fetch() {}

#[ork::task]
async fn count(n: u32) -> ork::Result<u32> {
    let shared = Rc::new(n);
    fetch().await;
    Ok(*shared)
}

fn main() {}
