//! What `#[ork::task]` generates, checked at run time: the options, the
//! default name, the call constructor, and that the function stays callable.

use std::time::Duration;

use ork::{Backoff, Context, Task};
use serde::{Deserialize, Serialize};

#[ork::task(retries = 5)]
async fn add(x: i64, y: i64) -> Result<i64, ork::Error> {
    Ok(x + y)
}

#[ork::task(
    name = "mail::welcome",
    queue = "mail",
    retries = 3,
    backoff = "exponential:500ms..1m",
    jitter = false,
    timeout = "1m30s",
    priority = 7,
    result_ttl = "2h",
    concurrency = 4
)]
async fn send_welcome(ctx: Context, user_id: u64) -> anyhow::Result<String> {
    Ok(format!("{} -> {user_id}", ctx.task_name()))
}

#[ork::task(backoff = "fixed:2s")]
fn crunch(numbers: Vec<u32>) -> ork::Result<u64> {
    Ok(numbers.iter().map(|&n| u64::from(n)).sum())
}

#[ork::task(cron = "0 */15 * * * *")]
async fn refresh() -> ork::Result<()> {
    Ok(())
}

#[ork::task(every = "30s")]
async fn tick(_ctx: Context) -> ork::Result<()> {
    Ok(())
}

/// A user type as argument and output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Debug)]
enum GeoError {
    OutOfBounds,
}

impl std::fmt::Display for GeoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("out of bounds")
    }
}

#[ork::task]
async fn mirror(p: Point) -> Result<Point, GeoError> {
    if p.x.abs() > 100 {
        return Err(GeoError::OutOfBounds);
    }
    Ok(Point { x: -p.x, y: -p.y })
}

mod nested {
    #[ork::task]
    pub(crate) async fn shout(text: String) -> ork::Result<String> {
        Ok(text.to_uppercase())
    }
}

/// Parameter names that the generated code also uses must not collide.
#[ork::task]
async fn shadowing(ctx: u32, args: u32) -> ork::Result<u32> {
    Ok(ctx + args)
}

#[test]
fn options_come_from_the_attribute() {
    let o = <add as Task>::OPTIONS;
    assert_eq!(o.retries, 5);
    assert_eq!(o.queue, "default");
    assert_eq!(o.backoff, Backoff::default());
    assert!(!o.blocking);
    assert_eq!(o.timeout, None);

    let o = <send_welcome as Task>::OPTIONS;
    assert_eq!(o.name, "mail::welcome");
    assert_eq!(o.queue, "mail");
    assert_eq!(o.retries, 3);
    assert_eq!(
        o.backoff,
        Backoff::exponential(Duration::from_millis(500), Duration::from_secs(60)).without_jitter()
    );
    assert_eq!(o.timeout, Some(Duration::from_secs(90)));
    assert_eq!(o.priority, 7);
    assert_eq!(o.result_ttl, Some(Duration::from_secs(7200)));
    assert_eq!(o.concurrency, Some(4));
    assert_eq!(o.cron, None);

    let o = <crunch as Task>::OPTIONS;
    assert!(o.blocking);
    assert_eq!(o.backoff, Backoff::fixed(Duration::from_secs(2)));

    assert_eq!(<refresh as Task>::OPTIONS.cron, Some("0 */15 * * * *"));
    assert_eq!(<tick as Task>::OPTIONS.every, Some(Duration::from_secs(30)));
}

#[test]
fn default_name_is_the_module_path() {
    assert_eq!(<add as Task>::OPTIONS.name, "macro_expand::add");
    assert_eq!(
        <nested::shout as Task>::OPTIONS.name,
        "macro_expand::nested::shout"
    );
    assert_eq!(add::call(1, 2).task_name(), "macro_expand::add");
    assert_eq!(
        nested::shout::call("hi".into()).task_name(),
        "macro_expand::nested::shout"
    );
    assert_eq!(send_welcome::call(42).task_name(), "mail::welcome");
}

#[test]
fn tasks_are_registered() {
    let names: Vec<_> = ork_core::task::registered().map(|e| e.name()).collect();
    for name in ["macro_expand::add", "mail::welcome", "macro_expand::crunch"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[tokio::test]
async fn the_function_is_still_callable() {
    assert_eq!(add(1, 2).await.unwrap(), 3);
    assert_eq!(crunch(vec![1, 2, 3]).unwrap(), 6);
    assert_eq!(nested::shout("hi".into()).await.unwrap(), "HI");
    assert_eq!(shadowing(1, 2).await.unwrap(), 3);
    let ctx = Context::detached(Default::default());
    assert_eq!(send_welcome(ctx, 42).await.unwrap(), "detached -> 42");
    assert_eq!(
        mirror(Point { x: 1, y: 2 }).await.unwrap(),
        Point { x: -1, y: -2 }
    );
}

#[tokio::test]
async fn run_calls_the_function_and_maps_errors() {
    let ctx = || Context::detached(Default::default());
    assert_eq!(<add as Task>::run(ctx(), (1, 2)).await, Ok(3));
    assert_eq!(<crunch as Task>::run(ctx(), (vec![4, 5],)).await, Ok(9));
    assert_eq!(<refresh as Task>::run(ctx(), ()).await, Ok(()));
    assert_eq!(<shadowing as Task>::run(ctx(), (1, 2)).await, Ok(3));
    assert_eq!(
        <send_welcome as Task>::run(ctx(), (7,)).await,
        Ok("detached -> 7".to_owned())
    );
    let err = <mirror as Task>::run(ctx(), (Point { x: 500, y: 0 },))
        .await
        .unwrap_err();
    assert_eq!(err.message, "out of bounds");
}

#[test]
fn flow_takes_values_and_nodes() {
    let mut flow = ork::Workflow::new("sums");
    let a = flow.add(add::flow(1, 2));
    let b = flow.add(add::flow(a, 10));
    let all = flow.all([a, b]);
    let _total = flow.add(crunch_all::flow(all));
    let _none = flow.add(refresh::flow());
    assert_eq!(flow.len(), 4);
    assert_eq!(add::flow(a, b).task_name(), "macro_expand::add");
}

#[ork::task]
fn crunch_all(numbers: Vec<i64>) -> ork::Result<i64> {
    Ok(numbers.iter().sum())
}

/// A raw identifier: the registered name drops the `r#`.
#[ork::task]
async fn r#match(pattern: String) -> ork::Result<bool> {
    Ok(pattern.is_empty())
}

/// A task compiled out: nothing generated for it may remain.
#[ork::task]
#[cfg(any())]
async fn compiled_out(x: NotAType) -> ork::Result<()> {
    Ok(())
}

#[test]
fn raw_identifiers_and_cfg() {
    assert_eq!(
        r#match::call(String::new()).task_name(),
        "macro_expand::match"
    );
    let names: Vec<_> = ork_core::task::registered().map(|e| e.name()).collect();
    assert!(!names.iter().any(|n| n.ends_with("compiled_out")));
}
