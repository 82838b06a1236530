//! What goes wrong, said so that the user knows what to do next.

use std::fmt;

/// Exit code: the command failed (unknown id, refused operation, ...).
pub(crate) const FAILED: u8 = 1;
/// Exit code: bad usage (clap's own, and malformed URLs or values).
pub(crate) const USAGE: u8 = 2;
/// Exit code: Redis could not be reached.
pub(crate) const UNREACHABLE: u8 = 3;
/// Exit code of `ork wait`: the workflow or job failed or was cancelled.
pub(crate) const ENDED_BADLY: u8 = 4;
/// Exit code of `ork wait`: the timeout passed first.
pub(crate) const TIMED_OUT: u8 = 5;

/// An error with an optional hint and the exit code it maps to.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    hint: Option<String>,
    code: u8,
}

/// `Result` with [`CliError`].
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// A failure (exit code 1).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hint: None,
            code: FAILED,
        }
    }

    /// Adds a hint: what to try.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    pub(crate) fn maybe_hint(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// Sets the exit code.
    pub(crate) fn code_of(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// The process exit code.
    pub(crate) fn code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl From<ork_core::Error> for CliError {
    fn from(e: ork_core::Error) -> Self {
        let transient = e.is_transient();
        // A refusal (a full or read-only Redis) says itself what to do.
        let refused = matches!(
            e,
            ork_core::Error::OutOfMemory { .. }
                | ork_core::Error::ReadOnly { .. }
                | ork_core::Error::Busy { .. }
        );
        // The message, then the engine's own error behind it.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        let err = CliError::new(message);
        if refused {
            err.code_of(UNREACHABLE)
        } else if transient {
            err.hint("Redis stopped answering; check that it is up and retry")
                .code_of(UNREACHABLE)
        } else {
            err
        }
    }
}
