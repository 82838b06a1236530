// `call` infers its arguments from the task's types, as a plain function
// would: literals, `.into()`, `.parse()`, `Default::default()`.
#[ork::task]
async fn charge(order: u64, amount: f64, note: String, tags: Vec<String>) -> ork::Result<()> {
    let _ = (order, amount, note, tags);
    Ok(())
}

fn build(order: &str) -> Result<ork::Call<()>, std::num::ParseIntError> {
    Ok(charge::call(order.parse()?, 9.5, "paid".into(), Default::default()))
}

fn main() {
    let _ = build("7");
    let _ = charge::call(7, 1.0, String::new(), vec![]);
    let calls: Vec<ork::Call<()>> = [1, 2]
        .into_iter()
        .map(|n| charge::call(n, 0.0, String::new(), Vec::new()))
        .collect();
    let _ = calls;
}
