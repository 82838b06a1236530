use ork::workflow::Workflow;

#[ork::task]
async fn total() -> ork::Result<i64> {
    Ok(42)
}

#[ork::task]
async fn double(x: i64) -> ork::Result<i64> {
    Ok(x * 2)
}

fn main() {
    let mut flow = Workflow::new("typed");
    let n = flow.add(total::call());
    // A node feeds a task through `flow`, not `call`. `call` keeps concrete
    // parameter types so that `"x".into()` and `.parse()?` infer, so this is
    // rustc's own type mismatch at the node (see the docs of `call`).
    flow.add(double::call(n));
}
