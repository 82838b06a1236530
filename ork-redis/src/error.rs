//! The one place where Redis's errors become ork's: refusals a user can act
//! on (a full server, a read-only replica, an ACL, a busy script, a failed
//! script) get their own [`Error`] variant, with the `RedisError` as
//! `source()`; anything else is [`Error::Backend`], also with the
//! `RedisError` as `source()`, its message saying in ork's words what
//! failed, and [`Error::is_transient`] following redis-rs's own verdict
//! ([`RedisError::retry_method`]): an error redis-rs would not retry
//! (`NoRetry`: a bad URL or setting, an `ERR` reply, a wrong type) is not
//! transient; a timeout, a refused or dropped connection, a cluster
//! redirect or a server still loading is.

use ork_core::Error;
use redis::{ErrorKind, RedisError, RetryMethod};

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
        return Error::backend_caused_by(what_failed(&e), is_transient(&e), e);
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

/// Whether redis-rs would try the request again (any retry method but
/// `NoRetry`).
pub(crate) fn is_transient(e: &RedisError) -> bool {
    !matches!(e.retry_method(), RetryMethod::NoRetry)
}

/// What failed, in ork's words, from redis-rs's classification; the
/// error's own text stays in its `source()`.
pub(crate) fn what_failed(e: &RedisError) -> String {
    if e.is_timeout() {
        return "Redis did not answer in time".to_owned();
    }
    if e.is_connection_refusal() {
        return "Redis refused the connection (is it up?)".to_owned();
    }
    if e.is_connection_dropped() {
        return "the connection to Redis was lost".to_owned();
    }
    if e.is_io_error() {
        return "the connection to Redis failed".to_owned();
    }
    match e.kind() {
        ErrorKind::AuthenticationFailed => "Redis refused the credentials".to_owned(),
        ErrorKind::InvalidClientConfig => {
            "the Redis URL or client settings are not valid".to_owned()
        }
        ErrorKind::Parse => "a reply from Redis could not be read".to_owned(),
        ErrorKind::UnexpectedReturnType => "a reply from Redis had an unexpected type".to_owned(),
        ErrorKind::Server(_) | ErrorKind::Extension => match e.code() {
            Some(code) => format!("Redis answered with an error ({code})"),
            None => "Redis answered with an error".to_owned(),
        },
        _ => format!("the Redis client failed ({})", e.category()),
    }
}

/// Converts a Redis error met while connecting.
pub(crate) fn connect_error(e: RedisError) -> Error {
    let message = format!("could not connect to Redis: {}", what_failed(&e));
    Error::backend_caused_by(message, is_transient(&e), e)
}

/// Converts a Redis error of a request that changes nothing when refused.
pub(crate) fn backend_error(e: RedisError) -> Error {
    error_while(e, "nothing was changed")
}

#[cfg(test)]
mod tests {
    use super::{backend_error, classify, connect_error, Refusal};
    use ork_core::Error;
    use redis::{ErrorKind, RedisError, ServerErrorKind};
    use std::error::Error as _;
    use std::io;

    /// A server error, as redis-rs builds it from a reply.
    fn server_error(reply: &str) -> RedisError {
        redis::parse_redis_value(reply.as_bytes())
            .expect("a reply")
            .extract_error()
            .expect_err("an error reply")
    }

    #[test]
    fn errors_keep_the_redis_error_as_source() {
        let e = backend_error(RedisError::from(io::Error::from(
            io::ErrorKind::ConnectionReset,
        )));
        assert!(matches!(e, Error::Backend { .. }), "{e:?}");
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "backend error: the connection to Redis was lost"
        );
        let source = e.source().expect("a source");
        assert!(source
            .downcast_ref::<RedisError>()
            .unwrap()
            .is_connection_dropped());

        let e = backend_error(RedisError::from(io::Error::from(io::ErrorKind::TimedOut)));
        assert!(e.is_transient());
        assert_eq!(e.to_string(), "backend error: Redis did not answer in time");

        let e = connect_error(RedisError::from(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        )));
        assert!(e.is_transient());
        assert!(
            e.to_string()
                .contains("could not connect to Redis: Redis refused"),
            "{e}"
        );

        let e = backend_error(RedisError::from(io::Error::from(
            io::ErrorKind::PermissionDenied,
        )));
        assert!(!e.is_transient());
    }

    #[test]
    fn transient_follows_redis_rs() {
        // An `ERR` reply and a wrong type: redis-rs would not retry.
        let err = server_error("-ERR unknown command 'FOO'\r\n");
        assert_eq!(
            err.kind(),
            ErrorKind::Server(ServerErrorKind::ResponseError)
        );
        let e = backend_error(err);
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            "backend error: Redis answered with an error (ERR)"
        );
        assert!(
            !backend_error(server_error("-WRONGTYPE Operation against a key\r\n")).is_transient()
        );
        // A server still loading its data, a cluster moving: wait and retry.
        assert!(backend_error(server_error("-LOADING Redis is loading\r\n")).is_transient());
        assert!(backend_error(server_error("-TRYAGAIN Multiple keys\r\n")).is_transient());
        assert!(backend_error(server_error("-CLUSTERDOWN The cluster is down\r\n")).is_transient());
    }

    #[test]
    fn refusals_are_typed_with_their_verdicts() {
        let e = backend_error(server_error("-NOPERM this user has no permissions\r\n"));
        assert!(matches!(e, Error::NoPermission { .. }), "{e:?}");
        assert!(!e.is_transient());
        assert!(e.source().unwrap().downcast_ref::<RedisError>().is_some());
        let e = backend_error(server_error(
            "-ERR user_script:12: attempt to compare nil with number script: 0321\r\n",
        ));
        assert!(matches!(e, Error::Script { .. }), "{e:?}");
        assert!(!e.is_transient());
        let e = backend_error(server_error("-OOM command not allowed\r\n"));
        assert!(matches!(e, Error::OutOfMemory { .. }), "{e:?}");
        assert!(e.is_transient());
        let e = backend_error(server_error(
            "-READONLY You can't write against a read only replica.\r\n",
        ));
        assert!(matches!(e, Error::ReadOnly { .. }), "{e:?}");
        assert!(e.is_transient());
        let e = backend_error(server_error("-BUSY Redis is busy running a script\r\n"));
        assert!(matches!(e, Error::Busy { .. }), "{e:?}");
        assert!(e.is_transient());
    }

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
