//! The Lua scripts: `lua/lib.lua` and one file per script.
//!
//! # How they run
//!
//! On Redis 7 and newer the scripts are one Redis Functions library
//! ([`LIBRARY`]): `FUNCTION LOAD` once per server, then `FCALL` per call.
//! `lib.lua`'s helpers are then made once, at load, instead of at every
//! call: its 16 KB ran before every script (about 15 µs of Redis CPU a
//! call, more than most scripts' own work). The library's name carries a
//! hash of its source, so versions of ork side by side (a rolling deploy)
//! each call their own. A server that lost its functions (a restart
//! without persistence, a new primary that never had them) is given the
//! library again on the first "Function not found", as `EVALSHA` is on
//! `NOSCRIPT`. Where the library can't be loaded (Redis 6.2, or an ACL user
//! without `FUNCTION`), each script is `lib.lua` followed by its own file,
//! run with `EVALSHA` ([`Flavor`]).
//!
//! # Scripts that run on a full Redis
//!
//! The scripts that drain work (claim, heartbeat, finish, reap, cancel,
//! purge, the worker registry) must run when Redis is at `maxmemory`, or a
//! full Redis could never empty itself. They have a second source, the
//! "full" variant, chosen by the server's version at build ([`Flavor`]):
//!
//! - Redis Functions: the full variant is a second function of the same
//!   script, registered with the `allow-oom` flag.
//! - Redis 7 and newer with `EVALSHA`: `#!lua flags=allow-oom` as the first line. The
//!   shebang also makes the script "flagged": on a Cluster it may only touch
//!   keys of one slot (ork's keys share the namespace's hash tag: they do),
//!   and on a read-only replica it is refused before it starts.
//! - Redis 6.2, where a shebang is a syntax error: a script refused for
//!   memory is refused at its first write that could grow memory, and only
//!   while it has written nothing (a script can't stop halfway). The full
//!   variant's first write is a `DEL` of a key that never exists (`DEL`
//!   can't grow memory, so it is never refused); every write after it is
//!   allowed. Redis 7 treats scripts without a shebang the same way, so
//!   this variant is tested there too.
//!
//! The other scripts (enqueue above all) have no full variant: on a full
//! Redis they are refused before they write anything, and the caller gets
//! [`Error::OutOfMemory`](ork_core::Error::OutOfMemory).
//!
//! In the full variant, `FULL` is true: `finish.lua` then keeps a result
//! only if it is no larger than the memory the finish frees (see
//! `succeeded_fields` in `lib.lua`).

use std::sync::LazyLock;

use redis::{Cmd, FromRedisValue, RedisError, RedisResult, Script, ToRedisArgs};

/// How scripts run, and how their full variants are written, by server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Redis 7 or newer with [`LIBRARY`] loaded: `FCALL`, the full variant
    /// a function flagged `allow-oom`.
    Functions,
    /// Redis 7 or newer, `EVALSHA`: the `allow-oom` flag in a shebang.
    Shebang,
    /// Redis 6.2: a first write that memory pressure never refuses.
    Legacy,
}

/// The source every `EVALSHA` script starts with, after an optional
/// shebang: `KEYS` and `ARGV` as the locals `lib.lua` expects, and effects
/// replication on Redis 6.2 (needed to write after `TIME`).
const EVAL_HEAD: &str = "local KEYS, ARGV = KEYS, ARGV\n\
    if redis.replicate_commands then pcall(redis.replicate_commands) end\n";

/// One script: its plain source and, for those that must run on a full
/// Redis, its full variants; and its functions in [`LIBRARY`].
pub(crate) struct Lua {
    plain: Script,
    full: Option<(Script, Script)>,
    /// Whether [`Lua::pick`] gives the full variant (the plain one is then
    /// only loaded where a caller asks for it).
    always_full: bool,
    /// [`FullMode::Whole`]: refused as a whole on a full Redis.
    whole: bool,
    /// The plain and the full function's names in [`LIBRARY`].
    function: String,
    function_full: String,
}

impl Lua {
    fn new(file: &str, body: &str, full: FullMode) -> Lua {
        let lib = include_str!("../lua/lib.lua");
        let source = |head: &str, mid: &str| {
            format!("{head}{EVAL_HEAD}{lib}\nbegin(KEYS, ARGV)\n{mid}-- {file}\n{body}")
        };
        let variants = (full != FullMode::None && full != FullMode::Whole).then(|| {
            (
                Script::new(&source("#!lua flags=allow-oom\n", "local FULL = true\n")),
                Script::new(&source(
                    "",
                    "local FULL = true\nredis.call('DEL', P .. 'never')\n",
                )),
            )
        });
        let function = format!("{}_{}", LIBRARY_NAME.as_str(), stem(file));
        Lua {
            plain: Script::new(&source("", "local FULL = false\n")),
            full: variants,
            always_full: full == FullMode::Always,
            whole: full == FullMode::Whole,
            function_full: format!("{function}_full"),
            function,
        }
    }

    /// The variant to run by default.
    pub(crate) fn pick(&'static self, flavor: Flavor) -> Call {
        if self.always_full {
            self.full_variant(flavor)
        } else {
            self.plain(flavor)
        }
    }

    /// The plain variant. As a function without flags it is refused on a
    /// full Redis before it starts; a plain `EVALSHA` script only at its
    /// first write that could grow memory (so one that reads, or only
    /// deletes, still runs). Scripts with a full variant and those that
    /// want the whole refusal ([`FullMode::Whole`]) are functions; the
    /// others stay `EVALSHA` scripts, off the hot path.
    fn plain(&'static self, flavor: Flavor) -> Call {
        match flavor {
            Flavor::Functions if self.full.is_some() || self.whole => {
                Call::new(Target::Function(&self.function))
            }
            _ => Call::new(Target::Eval(&self.plain)),
        }
    }

    /// The variant that runs on a full Redis (the plain one for scripts
    /// without it).
    pub(crate) fn full_variant(&'static self, flavor: Flavor) -> Call {
        match (&self.full, flavor) {
            (Some(_), Flavor::Functions) => Call::new(Target::Function(&self.function_full)),
            (Some((shebang, _)), Flavor::Shebang) => Call::new(Target::Eval(shebang)),
            (Some((_, legacy)), Flavor::Legacy) => Call::new(Target::Eval(legacy)),
            (None, _) => self.plain(flavor),
        }
    }

    /// Every variant a server of this flavor runs.
    pub(crate) fn variants(&'static self, flavor: Flavor) -> Vec<Call> {
        let mut out = Vec::with_capacity(2);
        if !self.always_full {
            out.push(self.plain(flavor));
        }
        if self.full.is_some() {
            out.push(self.full_variant(flavor));
        }
        out
    }
}

/// A file's name without `.lua`.
fn stem(file: &str) -> &str {
    file.strip_suffix(".lua").unwrap_or(file)
}

/// What a [`Call`] runs.
#[derive(Clone, Copy)]
enum Target {
    /// `EVALSHA` of a script (loaded on `NOSCRIPT`).
    Eval(&'static Script),
    /// `FCALL` of a function of [`LIBRARY`] (loaded when not found).
    Function(&'static str),
}

/// One call of a script, with its keys and arguments: `EVALSHA` or `FCALL`
/// by the server's [`Flavor`].
#[derive(Clone)]
pub(crate) struct Call {
    target: Target,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Call {
    fn new(target: Target) -> Call {
        Call {
            target,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Adds a key.
    pub(crate) fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    /// Adds an argument.
    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// The command (for a pipeline; see [`is_missing`] and [`Call::load`]
    /// for a server that lacks the script).
    pub(crate) fn cmd(&self) -> Cmd {
        let mut cmd = match self.target {
            Target::Eval(script) => {
                let mut c = redis::cmd("EVALSHA");
                c.arg(script.get_hash());
                c
            }
            Target::Function(name) => {
                let mut c = redis::cmd("FCALL");
                c.arg(name);
                c
            }
        };
        cmd.arg(self.keys.len()).arg(&self.keys).arg(&self.args);
        cmd
    }

    /// Runs the call, loading the script (or the library) first when the
    /// server does not have it.
    pub(crate) async fn invoke<T, C>(&self, conn: &mut C) -> RedisResult<T>
    where
        T: FromRedisValue,
        C: redis::aio::ConnectionLike + Send,
    {
        let cmd = self.cmd();
        match cmd.query_async(conn).await {
            Err(e) if is_missing(&e) => {
                self.load(conn).await?;
                cmd.query_async(conn).await
            }
            other => other,
        }
    }

    /// Loads what this call runs: the script, or the whole library.
    pub(crate) async fn load<C>(&self, conn: &mut C) -> RedisResult<()>
    where
        C: redis::aio::ConnectionLike + Send,
    {
        match self.target {
            Target::Eval(script) => script.prepare_invoke().load_async(conn).await.map(drop),
            Target::Function(_) => load_library(conn).await,
        }
    }

    /// Whether this is an `FCALL`.
    pub(crate) fn is_function(&self) -> bool {
        matches!(self.target, Target::Function(_))
    }
}

/// Whether an error says the server lacks the script or function called
/// (nothing ran), alone or as the error of a pipeline's command.
pub(crate) fn is_missing(e: &RedisError) -> bool {
    let missing = |code: Option<&str>, detail: Option<&str>| {
        code == Some("NOSCRIPT")
            || (code == Some("ERR") && detail.is_some_and(|d| d.starts_with("Function not found")))
    };
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
        || missing(e.code(), e.detail())
        || e.clone().into_server_errors().is_some_and(|errors| {
            errors
                .iter()
                .any(|(_, err)| missing(Some(err.code()), err.details()))
        })
}

/// `FUNCTION LOAD REPLACE` of [`LIBRARY`] (on a Cluster, redis-rs sends it
/// to every primary).
pub(crate) async fn load_library<C>(conn: &mut C) -> RedisResult<()>
where
    C: redis::aio::ConnectionLike + Send,
{
    redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(LIBRARY.as_str())
        .query_async::<redis::Value>(conn)
        .await
        .map(drop)
}

/// Whether a script has a full variant, and whether it is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FullMode {
    /// Plain only: refused on a full Redis at its first write that could
    /// grow memory.
    None,
    /// Plain only, refused on a full Redis before it starts (it writes
    /// nothing then, whatever its order of writes).
    Whole,
    /// Plain first; the full variant when the plain one was refused.
    OnRefusal,
    /// Always the full variant.
    Always,
}

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident => $file:literal $(, $mode:ident)?;)*) => {
        $(
            $(#[$doc])*
            pub(crate) static $name: LazyLock<Lua> = LazyLock::new(|| {
                Lua::new(
                    $file,
                    include_str!(concat!("../lua/", $file)),
                    FullMode::None $(.or(FullMode::$mode))?,
                )
            });
        )*

        /// Every script, to load them all at build.
        pub(crate) fn all() -> Vec<&'static Lua> {
            vec![$(&*$name),*]
        }

        /// Every script's file name and source.
        const FILES: &[(&str, &str)] = &[$(($file, include_str!(concat!("../lua/", $file)))),*];
    };
}

impl FullMode {
    const fn or(self, other: FullMode) -> FullMode {
        match self {
            FullMode::None => other,
            _ => self,
        }
    }
}

scripts! {
    /// Stores job records.
    ENQUEUE => "enqueue.lua", Whole;
    /// Hands out ready jobs with leases.
    CLAIM => "claim.lua", Always;
    /// Extends current leases.
    HEARTBEAT => "heartbeat.lua", Always;
    /// Records the end of attempts.
    FINISH => "finish.lua", OnRefusal;
    /// Requeues jobs whose lease expired.
    REAP => "reap.lua", Always;
    /// Records progress.
    PROGRESS => "progress.lua";
    /// Stores a durable step's output (fenced). Plain only: a step adds
    /// data, so a full Redis refuses it before it writes
    /// ([`Error::OutOfMemory`](ork_core::Error::OutOfMemory)) and the
    /// step fails; the job's retries run it again later.
    STEP => "step.lua";
    /// Records a signal and takes its key's waiters.
    SIGNAL => "signal.lua";
    /// A waiter's signal-side step: a kept signal, or a registration.
    LISTEN => "listen.lua";
    /// Wakes a parked job (job side).
    WAKE => "wake.lua";
    /// Looks jobs up.
    JOBS => "jobs.lua";
    /// Cancels a job.
    CANCEL => "cancel.lua", Always;
    /// Queues a dead or cancelled job again.
    RETRY => "retry.lua";
    /// Deletes a queue's unstarted jobs.
    PURGE => "purge.lua", Always;
    /// Counts jobs per queue and state.
    COUNTS => "counts.lua";
    /// Pages through job ids.
    LIST => "list.lua";
    /// The worker registry.
    WORKERS => "workers.lua", Always;
    /// Workflow descriptions.
    WORKFLOW => "workflow.lua";
    /// The server clock.
    TIME => "time.lua";
    /// Periodic schedules.
    SCHEDULE => "schedule.lua";
    /// A scheduler step: compare-and-set plus enqueue.
    FIRE => "fire.lua";
    /// Paused queues and tasks.
    FLOW => "flow.lua", Always;
}

/// The library's name: `ork_` and the start of its source's hash.
static LIBRARY_NAME: LazyLock<String> = LazyLock::new(|| {
    let hash = Script::new(&library_body("ork")).get_hash().to_owned();
    format!("ork_{}", &hash[..12])
});

/// The Redis Functions library: `lib.lua` once, then each script's file as
/// a local function of `FULL`, registered twice (the full variant with the
/// `allow-oom` flag). Every registered function starts with `begin()`.
pub(crate) static LIBRARY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "#!lua name={}\n{}",
        LIBRARY_NAME.as_str(),
        library_body(&LIBRARY_NAME)
    )
});

fn library_body(name: &str) -> String {
    let mut out = String::from("local KEYS, ARGV\n");
    out.push_str(include_str!("../lua/lib.lua"));
    for (file, body) in FILES {
        let stem = stem(file);
        out.push_str(&format!(
            "\n-- {file}\nlocal function script_{stem}(FULL)\n{body}\nend\n\
             redis.register_function{{function_name='{name}_{stem}', \
             callback=function(keys, args) begin(keys, args) return script_{stem}(false) end}}\n\
             redis.register_function{{function_name='{name}_{stem}_full', \
             callback=function(keys, args) begin(keys, args) return script_{stem}(true) end, \
             flags={{'allow-oom'}}}}\n"
        ));
    }
    out
}
