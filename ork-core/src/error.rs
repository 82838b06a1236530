//! The crate's error type.

use std::fmt;

use crate::job::JobId;

/// Everything that can go wrong when using ork.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Arguments or a result could not be encoded or decoded.
    #[error("codec error: {0}")]
    Codec(String),
    /// The job ran and failed; the message is the task's own.
    #[error("job {id} failed: {message}")]
    JobFailed {
        /// The failed job.
        id: JobId,
        /// What the task (or the engine) said.
        message: String,
    },
    /// The job was cancelled before it produced a result.
    #[error("job {0} was cancelled")]
    Cancelled(JobId),
    /// No job with this id exists (never enqueued, or its record expired).
    #[error("no job with id {0}")]
    UnknownJob(JobId),
    /// The payload is larger than the backend accepts.
    #[error("payload of {size} bytes is over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The encoded payload's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// An argument was not valid (a bad option, a malformed duration or schedule).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A durable step (`ctx.step`, `ctx.checkpoint`) failed: its body
    /// returned an error, its output could not be stored (the attempt's
    /// lease is no longer current), or the step can't run at all (a name
    /// used twice in one run, a stored output that no longer decodes).
    #[error("step `{step}`: {message}")]
    Step {
        /// The step's name (`@checkpoint` for the checkpoint).
        step: String,
        /// What went wrong.
        message: String,
    },
    /// Waiting for something took longer than allowed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The backend (storage) failed: unreachable, a dropped connection, a
    /// reply it could not read. The engine client's own error, when there is
    /// one, is the `source()` (for Redis, the `redis::RedisError`), and
    /// [`is_transient`](Error::is_transient) follows that client's own
    /// classification of it.
    #[error("backend error: {message}")]
    Backend {
        /// What failed, in ork's words (the cause is the `source()`).
        message: String,
        /// Whether trying again later may succeed.
        transient: bool,
        /// The engine client's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    // Refusals by the backend's server, typed so that callers can match on
    // them (and back off, fail over or fix a setting). Each message says
    // what happened and what was not done; the server's own error, when
    // there is one, is the `source()`.
    /// The server is out of memory and refused a write (Redis: `maxmemory`
    /// reached under the `noeviction` policy). Nothing of the refused step
    /// was written; the message says what was not done (for a large batch
    /// sent in several steps, how many of its jobs were stored). Transient:
    /// workers free memory as they finish jobs, so a later try can succeed.
    #[error("{message}")]
    OutOfMemory {
        /// What happened and what was not done.
        message: String,
        /// The server's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The server only accepts reads (Redis: a replica, e.g. a primary
    /// demoted by a failover). Transient: the new primary takes writes.
    #[error("{message}")]
    ReadOnly {
        /// What happened and what was not done.
        message: String,
        /// The server's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The server's access control forbids a command or key (Redis: an ACL
    /// `NOPERM`). Not transient: the user's permissions must change.
    #[error("{message}")]
    NoPermission {
        /// What happened and what was not done.
        message: String,
        /// The server's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The server is busy running a long script and answers nothing else
    /// until it ends (Redis: `BUSY`). Transient.
    #[error("{message}")]
    Busy {
        /// What happened and what was not done.
        message: String,
        /// The server's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A script of the backend failed on the server (a bug, or stored data
    /// it can't read). Not transient: the same call fails again.
    #[error("{message}")]
    Script {
        /// What happened and what was not done.
        message: String,
        /// The server's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
}

impl Error {
    /// Whether trying again later may succeed (a backend hiccup), as opposed
    /// to an error that will repeat (bad input, a failed job).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Backend {
                transient: true,
                ..
            } | Error::Timeout(_)
                | Error::OutOfMemory { .. }
                | Error::ReadOnly { .. }
                | Error::Busy { .. }
        )
    }

    /// Builds a transient backend error from anything displayable (its text
    /// becomes the message; there is no `source()`).
    pub fn backend(e: impl fmt::Display) -> Self {
        Error::Backend {
            message: e.to_string(),
            transient: true,
            source: None,
        }
    }

    /// Builds a backend error caused by the engine client's `source`:
    /// `message` says what failed without repeating the source's text, and
    /// `transient` is the client's own verdict on retrying.
    pub fn backend_caused_by(
        message: impl Into<String>,
        transient: bool,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Backend {
            message: message.into(),
            transient,
            source: Some(source.into()),
        }
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error a task returns: its message, as the task's own error displayed it.
///
/// Any `E: Display` converts into it, so tasks may return `anyhow::Result`,
/// `ork::Result`, or a `Result` with their own error enum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskError {
    /// The message (for `anyhow`, the whole chain).
    pub message: String,
}

impl TaskError {
    /// A task error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
        }
    }

    /// Builds a task error from any displayable error, with its alternate
    /// form (`{:#}`), which for `anyhow` includes the causes.
    pub fn from_display<E: fmt::Display + ?Sized>(e: &E) -> Self {
        TaskError {
            message: format!("{e:#}"),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TaskError {}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn backend_errors_keep_their_source_and_verdict() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = Error::backend_caused_by("the connection was lost", true, io);
        assert!(e.is_transient());
        assert_eq!(e.to_string(), "backend error: the connection was lost");
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(source.to_string(), "reset by peer");
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        assert!(!Error::backend_caused_by("refused", false, io).is_transient());
        let plain = Error::backend("no answer");
        assert!(plain.is_transient());
        assert!(std::error::Error::source(&plain).is_none());
    }
}
