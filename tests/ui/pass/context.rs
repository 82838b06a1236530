use ork::Context;

#[derive(Debug)]
struct Db;

#[ork::task]
async fn greet(ctx: Context, name: String) -> ork::Result<String> {
    let _db = ctx.try_state::<Db>();
    ctx.progress(50);
    Ok(format!("hello {name} from attempt {}", ctx.attempt()))
}

fn main() {
    let call: ork::Call<String> = greet::call("ada".to_owned());
    assert!(call.task_name().ends_with("::greet"));
}
