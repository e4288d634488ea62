//! [`AuditLog`] on SQLite: reads back the events that the user repository
//! appends in the transaction of each change.

use async_trait::async_trait;
use domain::{AuditEvent, OrgId};
use ports::{AuditLog, StoreError};

use crate::SqliteStore;
use crate::decode;

#[async_trait]
impl AuditLog for SqliteStore {
    async fn events(&self, org: &OrgId) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, org_id, user_id, actor, at FROM audit_events \
             WHERE org_id = ? ORDER BY seq",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::new)?;
        rows.iter().map(decode::audit_event).collect()
    }
}
