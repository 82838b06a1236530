// A crate that re-exports ork under another name points the macro at it.
extern crate ork as jobs;

#[jobs::task(crate = "jobs")]
async fn add(x: i64, y: i64) -> jobs::Result<i64> {
    Ok(x + y)
}

fn main() {
    let _ = add::call(1, 2);
}
