//! [`PermissionRepository`] on PostgreSQL: permissions, their version and
//! the org guard, and the questions asked across users.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use domain::{Assignment, AuditEvent, Operation, OrgId, Permission, PermissionId, UserId};
use ports::{
    AssignersSnapshot, Basis, InsertPermissionError, OrgGuard, PermissionPage,
    PermissionRepository, StoreError, UpdatePermissionError,
};
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::decode::{self, PERMISSION_COLUMNS};
use crate::sql::{self, RaceAsConflict};
use crate::write::{self, LIVE_PERMISSION_NAME_INDEX};

/// Occurs when the assigners of an org that does not exist are asked for.
#[derive(Debug, thiserror::Error)]
#[error("org {0} is not stored")]
struct UnknownOrg(OrgId);

#[async_trait]
impl PermissionRepository for PostgresStore {
    async fn insert_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError> {
        self.insert_permission_once(permission, event, basis)
            .await
            .map_err(RaceAsConflict::race_as_conflict)
    }

    async fn find_permission(&self, id: &PermissionId) -> Result<Option<Permission>, StoreError> {
        let conn = self.connection().await?;
        let sql = format!("SELECT {PERMISSION_COLUMNS} FROM permissions WHERE id = $1");
        let row = sql::query_opt(&conn, &sql, &[&id.as_str()]).await.map_err(StoreError::new)?;
        row.as_ref().map(decode::permission).transpose()
    }

    async fn list_permissions(
        &self,
        org: &OrgId,
        after: Option<PermissionId>,
        limit: usize,
    ) -> Result<PermissionPage, StoreError> {
        let org = org.as_str();
        let after = after.as_ref().map(PermissionId::as_str);
        // One row more than asked tells whether another page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);

        let mut sql = format!("SELECT {PERMISSION_COLUMNS} FROM permissions WHERE org_id = $1");
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&org];
        if let Some(after) = &after {
            params.push(after);
            sql.push_str(&format!(" AND id > ${}", params.len()));
        }
        params.push(&fetch);
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", params.len()));
        let conn = self.connection().await?;
        let rows = sql::query(&conn, &sql, &params).await.map_err(StoreError::new)?;

        let has_more = rows.len() > limit;
        let permissions =
            rows.iter().take(limit).map(decode::permission).collect::<Result<_, _>>()?;
        Ok(PermissionPage { permissions, has_more })
    }

    async fn update_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdatePermissionError> {
        self.update_permission_once(permission, event, basis)
            .await
            .map_err(RaceAsConflict::race_as_conflict)
    }

    async fn list_assignments(
        &self,
        permission: &PermissionId,
    ) -> Result<Vec<Assignment>, StoreError> {
        let conn = self.connection().await?;
        let rows = sql::query(
            &conn,
            "SELECT id, permission_id, user_id, org_id, created_at, ended_at \
             FROM permission_assignments \
             WHERE permission_id = $1 AND ended_at IS NULL ORDER BY created_at, seq",
            &[&permission.as_str()],
        )
        .await
        .map_err(StoreError::new)?;
        rows.iter().map(decode::assignment).collect()
    }

    async fn assigners(&self, org: &OrgId) -> Result<AssignersSnapshot, StoreError> {
        // One statement sees one snapshot: the guard version and the users
        // are read together, so no guarded change can fall between them.
        let conn = self.connection().await?;
        let row = sql::query_opt(
            &conn,
            "SELECT o.guard_version, ARRAY( \
                 SELECT DISTINCT u.id FROM users AS u \
                 JOIN permission_assignments AS a \
                     ON a.user_id = u.id AND a.ended_at IS NULL \
                 JOIN permissions AS p \
                     ON p.id = a.permission_id AND NOT p.is_archived \
                 WHERE u.org_id = o.id AND u.state = 'Active' \
                     AND $2 = ANY (p.operations) \
                 ORDER BY u.id \
             ) AS assigners \
             FROM orgs AS o WHERE o.id = $1",
            &[&org.as_str(), &Operation::AssignPermission.as_str()],
        )
        .await
        .map_err(StoreError::new)?;

        let Some(row) = row else {
            return Err(StoreError::new(UnknownOrg(org.clone())));
        };
        let version = decode::version(&row, "guard_version")?;
        let ids: Vec<String> = decode::get(&row, "assigners")?;
        let assigners = ids
            .iter()
            .map(|id| UserId::parse(id).map_err(|error| decode::corrupt("users.id", error)))
            .collect::<Result<_, _>>()?;
        Ok(AssignersSnapshot { guard: OrgGuard { org_id: org.clone(), version }, assigners })
    }
}

/// The transactions of the writes that can lose a race with another
/// transaction; the trait's methods answer a lost race as a conflict.
impl PostgresStore {
    async fn insert_permission_once(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(StoreError::new)?;

        if !write::hold_actor(&tx, basis).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(InsertPermissionError::Conflict);
        }
        write::insert_permission(&tx, permission).await?;
        write::insert_event(&tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn update_permission_once(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdatePermissionError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(StoreError::new)?;

        // The guard goes first, as in `update_user`: guarded changes lock
        // their org's row before any other. Then the caller, held until the
        // commit.
        if let Some(guard) = &basis.guard {
            if !write::take_guard(&tx, guard, &permission.org_id).await? {
                return conflict(tx).await;
            }
        }
        if !write::hold_actor(&tx, basis).await? {
            return conflict(tx).await;
        }

        // The stored permission, locked: what it granted decides whether
        // its holders' versions move.
        let sql = format!(
            "SELECT {PERMISSION_COLUMNS} FROM permissions \
             WHERE id = $1 AND version = $2 FOR UPDATE"
        );
        let stored = sql::query_opt(
            &tx,
            &sql,
            &[&permission.id.as_str(), &decode::version_column(permission.version)?],
        )
        .await
        .map_err(StoreError::new)?;
        let Some(stored) = stored.as_ref().map(decode::permission).transpose()? else {
            return conflict(tx).await;
        };

        let updated = sql::execute(
            &tx,
            "UPDATE permissions SET name = $1, operations = $2, is_immutable = $3, \
             is_archived = $4, updated_at = $5, version = version + 1 \
             WHERE id = $6 AND version = $7",
            &[
                &permission.name.as_str(),
                &decode::operation_names(&permission.operations),
                &permission.is_immutable,
                &permission.is_archived,
                &permission.updated_at.unix_millis(),
                &permission.id.as_str(),
                &decode::version_column(permission.version)?,
            ],
        )
        .await;
        match updated {
            Err(error) if sql::violates(&error, LIVE_PERMISSION_NAME_INDEX) => {
                tx.rollback().await.map_err(StoreError::new)?;
                return Err(UpdatePermissionError::NameTaken);
            }
            Err(error) => return Err(StoreError::new(error).into()),
            Ok(_) => {}
        }

        // Before the assignments end: the holders are those who held it. A
        // new assignment of the permission locks its row in share mode, so
        // none can be committed between the lock above and this statement.
        if changes_grants(&stored, permission) {
            sql::execute(
                &tx,
                "UPDATE users SET version = version + 1 WHERE id IN \
                 (SELECT user_id FROM permission_assignments \
                  WHERE permission_id = $1 AND ended_at IS NULL)",
                &[&permission.id.as_str()],
            )
            .await
            .map_err(StoreError::new)?;
        }
        if permission.is_archived {
            sql::execute(
                &tx,
                "UPDATE permission_assignments SET ended_at = $1 \
                 WHERE permission_id = $2 AND ended_at IS NULL",
                &[&event.at.unix_millis(), &permission.id.as_str()],
            )
            .await
            .map_err(StoreError::new)?;
        }
        write::insert_event(&tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }
}

/// Whether storing `updated` over `stored` changes what the permission's
/// holders may do: it is archived, or its operations differ as a set.
fn changes_grants(stored: &Permission, updated: &Permission) -> bool {
    let sorted = |permission: &Permission| {
        let mut operations = permission.operations.clone();
        operations.sort();
        operations.dedup();
        operations
    };
    updated.is_archived || sorted(stored) != sorted(updated)
}

/// Rolls `tx` back and answers [`UpdatePermissionError::Conflict`].
async fn conflict(tx: Transaction<'_>) -> Result<(), UpdatePermissionError> {
    tx.rollback().await.map_err(StoreError::new)?;
    Err(UpdatePermissionError::Conflict)
}
