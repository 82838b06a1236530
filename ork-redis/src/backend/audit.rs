//! The audit trail: a capped list of JSON entries, newest first.

use ork_core::backend::{AuditEntry, AUDIT_LIMIT};
use ork_core::{Error, Result};

use super::{backend_error, Inner};

impl Inner {
    /// `LPUSH` then `LTRIM` to the cap, pipelined on one connection (both
    /// touch one key, so a Cluster routes them to one node).
    pub(super) async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        let json = serde_json::to_string(entry).map_err(|e| Error::Codec(e.to_string()))?;
        let key = self.keys.audit();
        let mut conn = self.pool.get();
        redis::pipe()
            .lpush(&key, json)
            .ignore()
            .ltrim(&key, 0, AUDIT_LIMIT as isize - 1)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(backend_error)
    }

    /// The newest `limit` entries; an entry that does not parse is skipped.
    pub(super) async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get();
        let raw: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(self.keys.audit())
            .arg(0)
            .arg(limit.min(AUDIT_LIMIT) as isize - 1)
            .query_async(&mut conn)
            .await
            .map_err(backend_error)?;
        Ok(raw
            .iter()
            .filter_map(|b| serde_json::from_slice(b).ok())
            .collect())
    }
}
