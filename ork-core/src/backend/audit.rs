//! The audit trail: who took which operator action (a retry, a cancel, a
//! purge, a pause) and what came of it.
//!
//! The dashboard writes one [`AuditEntry`] per action it carries out, and
//! shows the newest ones; a backend keeps the newest [`AUDIT_LIMIT`].

use serde::{Deserialize, Serialize};

/// How many entries a backend keeps: older ones are dropped.
pub const AUDIT_LIMIT: usize = 200;

/// One operator action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Unix ms; see [`at`](Self::at).
    #[doc(hidden)]
    pub at_ms: u64,
    /// Who: as the application's callback or the login named them.
    pub actor: String,
    /// What: `retry`, `cancel`, `purge`, `pause`, `resume`.
    pub action: String,
    /// On what: `job <id>`, `workflow <id>`, `queue <name>`, `schedule <name>`.
    pub target: String,
    /// What came of it (`retried`, `cancelled`, `refused: ...`).
    pub outcome: String,
}

impl AuditEntry {
    /// When it was recorded (the recording process's clock).
    pub fn at(&self) -> std::time::SystemTime {
        crate::time::from_unix_ms(self.at_ms)
    }

    /// An entry stamped with this process's clock now.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        AuditEntry {
            at_ms,
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
        }
    }
}
