//! The `#[ork::task]` attribute macro. Use it through the `ork` crate, which
//! re-exports it; this crate is an implementation detail.
//!
//! The entry point stays thin: `attr` parses the options, `expand` checks
//! the function and generates the code, which calls into ork-core through
//! `ork::__private`.

use proc_macro::TokenStream;

mod attr;
mod expand;
mod item;
mod sig;

/// Makes a function a task: `#[ork::task]` on an `async fn` (or on a plain
/// `fn`, which then runs on the blocking thread pool).
///
/// ```ignore
/// use ork::prelude::*;
///
/// #[ork::task(queue = "mail", retries = 5, backoff = "exponential:1s..5m", timeout = "30s")]
/// async fn send_welcome(ctx: Context, user_id: u64) -> anyhow::Result<()> {
///     ctx.progress(50);
///     Ok(())
/// }
///
/// ork.enqueue(send_welcome::call(42)).await?;
/// ```
///
/// The function stays as written (call it directly in unit tests). Beside it
/// the macro defines a type of the same name with:
///
/// - `send_welcome::call(args..) -> Call<T>`, a call to enqueue;
/// - `send_welcome::flow(inputs..) -> Call<T>`, the same for a workflow node,
///   where each argument may also be a `Node` of the workflow;
/// - an implementation of `ork::Task`, registered so that every worker of the
///   binary knows the task by name.
///
/// # The function
///
/// - It returns a `Result<T, E>`, or an alias whose last segment is `Result`
///   (`ork::Result<T>`, `anyhow::Result<T>`); `T` is the task's output and
///   `E` any `Display` error, recorded as the job's error message.
/// - Its arguments and `T` are serde types (`Serialize + Deserialize`), owned
///   (no references), named by plain identifiers; at most 12 of them.
/// - Its first parameter may be the `Context` (`ctx: Context`), which is not
///   an argument of `call`.
/// - No `self`, generics, lifetimes or `impl Trait`; the future of an
///   `async fn` must be `Send`.
///
/// # Options
///
/// Each at most once; durations are strings in jiff's friendly format
/// (`"30s"`, `"1h30m"`, `"250ms"`, `"2d"`), the grammar of
/// `ork::time::parse_duration`, checked at compile time.
///
/// | option | value | default |
/// |---|---|---|
/// | `name` | the registered name | `"<module path>::<fn name>"` |
/// | `queue` | the queue calls go to | `"default"` |
/// | `retries` | retries after a failed attempt | `0` |
/// | `backoff` | `"fixed"`, `"fixed:2s"`, `"exponential"`, `"exponential:1s"`, `"exponential:1s..5m"` (base..cap) | exponential from 1 s, capped at 1 h |
/// | `jitter` | `false` to make exponential delays exact | `true` |
/// | `timeout` | the most one attempt may take | none |
/// | `priority` | 0 (lowest) to 9 | `0` |
/// | `result_ttl` | how long the result is kept | the engine's |
/// | `concurrency` | the most runs at once per worker process (1 or more) | no limit |
/// | `max_running` | the most attempts running at once across the fleet (1 or more) | no limit |
/// | `rate` | a rate limit across the fleet: `"100/s"`, `"10/m"`, `"5/h"`, `"5/10s"` | none |
/// | `burst` | with `rate`: how many may start at once after a quiet spell | `1` |
/// | `limiter` | the name of a rate limiter shared with other tasks (`ork.limiter(..)`) | none |
/// | `key_limit` | the most jobs of one `.concurrency_key(k)` running at once across the fleet | `1` |
/// | `cron` | a six-field cron expression, seconds first: `"0 */15 * * * *"` (checked by the scheduler's own parser) | none |
/// | `every` | an interval of 100 ms or more: `"30s"` | none |
/// | `crate` | the path of the `ork` crate, if renamed | `"::ork"` |
///
/// `backoff = "fixed"` waits 1 s; `"exponential:500ms"` is capped at 1 h (or
/// at its base, if larger). A periodic task (`cron` or `every`, not both)
/// takes no arguments besides the `Context`.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::task(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => token_stream_with_error(item, error).into(),
    }
}

/// The item as written plus the error, so that the IDE (and the rest of the
/// crate) still sees the function when its attribute is wrong.
fn token_stream_with_error(
    mut item: proc_macro2::TokenStream,
    error: syn::Error,
) -> proc_macro2::TokenStream {
    item.extend(error.into_compile_error());
    item
}
