//! [`AuditLog`] on PostgreSQL: reads back the events that the repositories
//! append in the transaction of each change.

use async_trait::async_trait;
use domain::{AuditEvent, OrgId};
use ports::{AuditLog, StoreError};

use crate::PostgresStore;
use crate::decode;
use crate::sql;

#[async_trait]
impl AuditLog for PostgresStore {
    async fn events(&self, org: &OrgId) -> Result<Vec<AuditEvent>, StoreError> {
        let conn = self.connection().await?;
        let rows = sql::query(
            &conn,
            "SELECT kind, org_id, user_id, permission_id, actor, at FROM audit_events \
             WHERE org_id = $1 ORDER BY seq",
            &[&org.as_str()],
        )
        .await
        .map_err(StoreError::new)?;
        rows.iter().map(decode::audit_event).collect()
    }
}
