//! The one place where Redis's errors become ork's: refusals a user can act
//! on (a full server, a read-only replica, an ACL, a busy script, a failed
//! script) get their own [`Error`] variant, with the `RedisError` as
//! `source()`; anything else is [`Error::Backend`].

use ork_core::Error;
use redis::RedisError;

/// Why Redis refused a command, read from its error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `OOM`: `maxmemory` reached under `noeviction`.
    OutOfMemory,
    /// `READONLY`: a replica.
    ReadOnly,
    /// `NOPERM`: the ACL forbids it.
    NoPermission,
    /// `BUSY`: a script runs past `busy-reply-threshold`.
    Busy,
    /// An error raised inside a script (not one of the above).
    Script,
}

/// The refusal behind an error, if it is one. A script's `redis.call` that
/// fails carries the inner error's code on Redis 7 (`OOM ...`), and on
/// Redis 6 an `ERR Error running script ...: -OOM ...` text; pipelines wrap
/// the server errors of their commands.
pub(crate) fn refusal_of(e: &RedisError) -> Option<Refusal> {
    let errors = e.clone().into_server_errors()?;
    errors
        .iter()
        .map(|(_, err)| classify(err.code(), err.details().unwrap_or("")))
        .find(Option::is_some)
        .flatten()
}

fn classify(code: &str, detail: &str) -> Option<Refusal> {
    let by_code = |code: &str| match code {
        "OOM" => Some(Refusal::OutOfMemory),
        "READONLY" => Some(Refusal::ReadOnly),
        "NOPERM" => Some(Refusal::NoPermission),
        "BUSY" => Some(Refusal::Busy),
        _ => None,
    };
    if let Some(r) = by_code(code) {
        return Some(r);
    }
    // Redis 6: "Error running script (call to f_...): @user_script:9:
    // -OOM command not allowed ...".
    if let Some(inner) = detail
        .split_once(": -")
        .and_then(|(_, rest)| rest.split_whitespace().next())
    {
        if let Some(r) = by_code(inner) {
            return Some(r);
        }
    }
    detail.contains("user_script").then_some(Refusal::Script)
}

/// Converts a Redis error: `undone` says what was not done because of it,
/// for the message ("the job was not enqueued").
pub(crate) fn error_while(e: RedisError, undone: &str) -> Error {
    let Some(refusal) = refusal_of(&e) else {
        return Error::Backend(e.to_string());
    };
    let source = Some(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
    match refusal {
        Refusal::OutOfMemory => Error::OutOfMemory {
            message: format!(
                "Redis is out of memory (maxmemory reached); {undone}. Workers free memory as \
                 they finish jobs; retry later, or raise maxmemory"
            ),
            source,
        },
        Refusal::ReadOnly => Error::ReadOnly {
            message: format!(
                "Redis answered as a read-only replica (after a failover?); {undone}. Retry \
                 once the client reaches the primary"
            ),
            source,
        },
        Refusal::NoPermission => Error::NoPermission {
            // An ACL refusal inside a script can come after some of its
            // writes: nothing is said about what was done.
            message: "the Redis ACL user lacks a permission ork needs; grant it the commands \
                      ork uses and the namespace's keys (`~{ns}:*`)"
                .to_owned(),
            source,
        },
        Refusal::Busy => Error::Busy {
            message: format!("Redis is busy running a long script; {undone}. Retry when it ends"),
            source,
        },
        Refusal::Script => Error::Script {
            message: "an ork script failed on Redis".to_owned(),
            source,
        },
    }
}

/// Converts a Redis error of a request that changes nothing when refused.
pub(crate) fn backend_error(e: RedisError) -> Error {
    error_while(e, "nothing was changed")
}

#[cfg(test)]
mod tests {
    use super::{classify, Refusal};

    #[test]
    fn codes_and_wrapped_script_errors() {
        assert_eq!(
            classify("OOM", "command not allowed when used memory > 'maxmemory'."),
            Some(Refusal::OutOfMemory)
        );
        assert_eq!(
            classify("READONLY", "You can't write"),
            Some(Refusal::ReadOnly)
        );
        assert_eq!(
            classify("NOPERM", "this user has no permissions"),
            Some(Refusal::NoPermission)
        );
        assert_eq!(
            classify("BUSY", "Redis is busy running a script."),
            Some(Refusal::Busy)
        );
        assert_eq!(
            classify(
                "ERR",
                "Error running script (call to f_0321): @user_script:384: -OOM command not allowed"
            ),
            Some(Refusal::OutOfMemory)
        );
        assert_eq!(
            classify(
                "ERR",
                "user_script:12: attempt to compare nil with number script: 0321"
            ),
            Some(Refusal::Script)
        );
        assert_eq!(classify("WRONGTYPE", "Operation against a key"), None);
    }
}
