//! Conformance: the audit trail.

use crate::backend::{AuditEntry, Backend, AUDIT_LIMIT};

/// Entries come back newest first, up to the limit asked, and only the
/// newest [`AUDIT_LIMIT`] are kept.
pub async fn audit_trail(b: impl Backend) {
    assert!(b.audit_log(10).await.unwrap().is_empty());
    let first = AuditEntry::new("alice", "retry", "job j1", "retried");
    let second = AuditEntry::new("bob", "cancel", "job j2", "cancelled");
    b.record_audit(&first).await.unwrap();
    b.record_audit(&second).await.unwrap();
    assert_eq!(
        b.audit_log(10).await.unwrap(),
        vec![second.clone(), first.clone()]
    );
    assert_eq!(b.audit_log(1).await.unwrap(), vec![second]);
    for i in 0..AUDIT_LIMIT + 5 {
        let e = AuditEntry::new("carol", "purge", format!("queue q{i}"), "0 deleted");
        b.record_audit(&e).await.unwrap();
    }
    let all = b.audit_log(AUDIT_LIMIT * 2).await.unwrap();
    assert_eq!(all.len(), AUDIT_LIMIT);
    assert_eq!(all[0].target, format!("queue q{}", AUDIT_LIMIT + 4));
    assert_eq!(all[AUDIT_LIMIT - 1].target, "queue q5");
}
