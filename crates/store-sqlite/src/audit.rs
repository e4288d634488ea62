//! [`AuditLog`] on SQLite: appends an event in the transaction of each
//! change of the user and permission repositories, and reads them back.

use async_trait::async_trait;
use domain::{AuditEvent, OrgId};
use ports::{AuditLog, StoreError};
use sqlx::SqliteConnection;

use crate::SqliteStore;
use crate::decode;

#[async_trait]
impl AuditLog for SqliteStore {
    async fn events(&self, org: &OrgId) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, org_id, user_id, permission_id, actor, at FROM audit_events \
             WHERE org_id = ? ORDER BY seq",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::new)?;
        rows.iter().map(decode::audit_event).collect()
    }
}

/// Appends `event` to the audit log.
pub(crate) async fn insert_event(
    conn: &mut SqliteConnection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (kind, org_id, user_id, permission_id, actor, at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(event.kind.as_str())
    .bind(event.org_id.as_str())
    .bind(event.user_id.as_str())
    .bind(event.permission_id.as_ref().map(|id| id.as_str()))
    .bind(event.actor.as_str())
    .bind(event.at.unix_millis())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::new)?;
    Ok(())
}
