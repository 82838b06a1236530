//! The Lua scripts, each `lua/lib.lua` followed by its own file.
//!
//! # Scripts that run on a full Redis
//!
//! The scripts that drain work (claim, heartbeat, finish, reap, cancel,
//! purge, the worker registry) must run when Redis is at `maxmemory`, or a
//! full Redis could never empty itself. They have a second source, the
//! "full" variant, chosen by the server's version at build ([`Flavor`]):
//!
//! - Redis 7 and newer: `#!lua flags=allow-oom` as the first line. The
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

use redis::Script;

/// How the full variants are written, by server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Redis 7 or newer: the `allow-oom` flag in a shebang.
    Shebang,
    /// Redis 6.2: a first write that memory pressure never refuses.
    Legacy,
}

/// One script: its plain source and, for those that must run on a full
/// Redis, its full variants.
pub(crate) struct Lua {
    plain: Script,
    full: Option<(Script, Script)>,
    /// Whether [`Lua::pick`] gives the full variant (the plain one is then
    /// only loaded where a caller asks for it).
    always_full: bool,
}

impl Lua {
    fn new(file: &str, body: &str, full: FullMode) -> Lua {
        let lib = include_str!("../lua/lib.lua");
        let source = |head: &str, mid: &str| format!("{head}{lib}\n{mid}-- {file}\n{body}");
        let variants = (full != FullMode::None).then(|| {
            (
                Script::new(&source("#!lua flags=allow-oom\n", "local FULL = true\n")),
                Script::new(&source(
                    "",
                    "local FULL = true\nredis.call('DEL', P .. 'never')\n",
                )),
            )
        });
        Lua {
            plain: Script::new(&source("", "local FULL = false\n")),
            full: variants,
            always_full: full == FullMode::Always,
        }
    }

    /// The variant to run by default.
    pub(crate) fn pick(&self, flavor: Flavor) -> &Script {
        if self.always_full {
            self.full_variant(flavor)
        } else {
            &self.plain
        }
    }

    /// The variant that runs on a full Redis (the plain one for scripts
    /// without it).
    pub(crate) fn full_variant(&self, flavor: Flavor) -> &Script {
        match (&self.full, flavor) {
            (Some((shebang, _)), Flavor::Shebang) => shebang,
            (Some((_, legacy)), Flavor::Legacy) => legacy,
            (None, _) => &self.plain,
        }
    }

    /// Every variant a server of this flavor runs.
    pub(crate) fn variants(&self, flavor: Flavor) -> Vec<&Script> {
        let mut out = Vec::with_capacity(2);
        if !self.always_full {
            out.push(&self.plain);
        }
        if self.full.is_some() {
            out.push(self.full_variant(flavor));
        }
        out
    }
}

/// Whether a script has a full variant, and whether it is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FullMode {
    /// Plain only: refused on a full Redis.
    None,
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
    ENQUEUE => "enqueue.lua";
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
}
