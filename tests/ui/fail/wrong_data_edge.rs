use ork::workflow::Workflow;

#[ork::task]
async fn name() -> ork::Result<String> {
    Ok("ork".to_string())
}

#[ork::task]
async fn double(x: i64) -> ork::Result<i64> {
    Ok(x * 2)
}

fn main() {
    let mut flow = Workflow::new("typed");
    let n = flow.add(name::call());
    // A Node<String> can't feed an i64 argument.
    flow.add(double::flow(n));
}
