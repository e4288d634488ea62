//! [`PermissionRepository`] on SQLite: permissions, each change in one
//! transaction with its audit event, the live assignments of a permission,
//! and who can assign permissions in an org.

use async_trait::async_trait;
use domain::{Assignment, AuditEvent, Operation, OrgId, Permission, PermissionId};
use ports::{
    AssignersSnapshot, Basis, InsertPermissionError, OrgGuard, PermissionPage,
    PermissionRepository, StoreError, UpdatePermissionError,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::audit::insert_event;
use crate::decode::{self, ASSIGNMENT_COLUMNS, PERMISSION_COLUMNS};
use crate::guard;
use crate::{SqliteStore, actor};

/// What SQLite names in the message of a unique violation on the index of
/// live permission names (`permissions_live_name`); other unique
/// violations, such as a reused id, are store failures.
const PERMISSION_NAME_COLUMN: &str = "permissions.name";

/// Occurs when the guard version is asked of an org that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("org {0} does not exist")]
struct UnknownOrg(OrgId);

/// Whether `error` is the violation of the unique live permission name.
fn is_name_taken(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error)
        if error.is_unique_violation() && error.message().contains(PERMISSION_NAME_COLUMN))
}

#[async_trait]
impl PermissionRepository for SqliteStore {
    async fn insert_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError> {
        let mut tx = self.begin_write().await?;

        if !actor::holds(&mut tx, basis).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(InsertPermissionError::Conflict);
        }
        insert_permission_row(&mut tx, permission).await?;
        insert_event(&mut tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn find_permission(&self, id: &PermissionId) -> Result<Option<Permission>, StoreError> {
        let sql = format!("SELECT {PERMISSION_COLUMNS} FROM permissions WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::new)?;
        row.as_ref().map(decode::permission).transpose()
    }

    async fn list_permissions(
        &self,
        org: &OrgId,
        after: Option<PermissionId>,
        limit: usize,
    ) -> Result<PermissionPage, StoreError> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {PERMISSION_COLUMNS} FROM permissions "));
        query.push("WHERE org_id = ").push_bind(org.as_str());
        if let Some(after) = &after {
            query.push(" AND id > ").push_bind(after.as_str());
        }
        // One row more than asked tells whether another page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        query.push(" ORDER BY id LIMIT ").push_bind(fetch);
        let rows = query.build().fetch_all(&self.pool).await.map_err(StoreError::new)?;
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
        let mut tx = self.begin_write().await?;

        // The guard and the caller first: a change decided on a stale
        // picture of the org, or for a caller who changed meanwhile, is a
        // conflict, whatever else it would break.
        if let Some(guard) = &basis.guard {
            if !guard::bump(&mut tx, guard, &permission.org_id).await? {
                tx.rollback().await.map_err(StoreError::new)?;
                return Err(UpdatePermissionError::Conflict);
            }
        }
        if !actor::holds(&mut tx, basis).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(UpdatePermissionError::Conflict);
        }
        // A permission moves to no other org, so the org is part of the
        // match, as the version is.
        let sql = format!(
            "SELECT {PERMISSION_COLUMNS} FROM permissions \
             WHERE id = ? AND org_id = ? AND version = ?"
        );
        let stored = sqlx::query(&sql)
            .bind(permission.id.as_str())
            .bind(permission.org_id.as_str())
            .bind(decode::version_column(permission.version)?)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        let Some(stored) = stored.as_ref().map(decode::permission).transpose()? else {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(UpdatePermissionError::Conflict);
        };

        let updated = sqlx::query(
            "UPDATE permissions SET name = ?, operations = ?, is_immutable = ?, \
             is_archived = ?, created_at = ?, updated_at = ?, version = version + 1 \
             WHERE id = ? AND org_id = ? AND version = ?",
        )
        .bind(permission.name.as_str())
        .bind(decode::operations_json(&permission.operations)?)
        .bind(permission.is_immutable)
        .bind(permission.is_archived)
        .bind(permission.created_at.unix_millis())
        .bind(permission.updated_at.unix_millis())
        .bind(permission.id.as_str())
        .bind(permission.org_id.as_str())
        .bind(decode::version_column(permission.version)?)
        .execute(&mut *tx)
        .await;
        match updated {
            Err(error) if is_name_taken(&error) => return Err(UpdatePermissionError::NameTaken),
            Err(error) => return Err(StoreError::new(error).into()),
            Ok(_) => {}
        }

        // Before the assignments end: the holders are those who held it.
        if changes_grants(&stored, permission) {
            bump_holders(&mut tx, &permission.id).await?;
        }
        if permission.is_archived {
            sqlx::query(
                "UPDATE permission_assignments SET ended_at = ? \
                 WHERE permission_id = ? AND ended_at IS NULL",
            )
            .bind(event.at.unix_millis())
            .bind(permission.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        }
        insert_event(&mut tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn list_assignments(
        &self,
        permission: &PermissionId,
    ) -> Result<Vec<Assignment>, StoreError> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM permission_assignments \
             WHERE permission_id = ? AND ended_at IS NULL ORDER BY created_at, rowid"
        );
        let rows = sqlx::query(&sql)
            .bind(permission.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?;
        rows.iter().map(decode::assignment_record).collect()
    }

    async fn assigners(&self, org: &OrgId) -> Result<AssignersSnapshot, StoreError> {
        // One read transaction: both statements see one snapshot, so the
        // assigners are those of the guard version read with them.
        let mut tx = self.begin_read().await?;

        let row = sqlx::query("SELECT guard_version FROM orgs WHERE id = ?")
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        let Some(row) = row else {
            return Err(StoreError::new(UnknownOrg(org.clone())));
        };
        let version = decode::version(&row, "guard_version")?;
        let rows = sqlx::query(ASSIGNERS)
            .bind(org.as_str())
            .bind(Operation::AssignPermission.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        let assigners = rows
            .iter()
            .map(|row| {
                let id: String = row.try_get("user_id").map_err(StoreError::new)?;
                domain::UserId::parse(&id).map_err(|error| decode::corrupt("user_id", error))
            })
            .collect::<Result<_, _>>()?;

        tx.commit().await.map_err(StoreError::new)?;
        let guard = OrgGuard { org_id: org.clone(), version };
        Ok(AssignersSnapshot { guard, assigners })
    }
}

/// The active users of the org `?1` who hold a live permission that grants
/// the operation `?2`, in id order.
///
/// From the few to the many: the org's live permissions that grant the
/// operation (`permissions_by_org`), their live assignments
/// (`permission_assignments_by_permission`), then each holder by id.
/// `CROSS JOIN` makes SQLite keep that order. Left to choose, it walks
/// every live assignment of the org (`permission_assignments_live_by_org`)
/// and looks up each one's permission: as many steps as the org has
/// assignments, 0.7 s at a million. In this order the cost follows the
/// assigners.
const ASSIGNERS: &str = "\
    SELECT DISTINCT a.user_id FROM permissions AS p \
    CROSS JOIN permission_assignments AS a \
        ON a.permission_id = p.id AND a.ended_at IS NULL \
    CROSS JOIN users AS u ON u.id = a.user_id \
    WHERE p.org_id = ?1 AND p.is_archived = 0 AND u.state = 'Active' \
    AND EXISTS (SELECT 1 FROM json_each(p.operations) AS op WHERE op.value = ?2) \
    ORDER BY a.user_id";

/// Inserts `permission` at version 0.
pub(crate) async fn insert_permission_row(
    conn: &mut SqliteConnection,
    permission: &Permission,
) -> Result<(), InsertPermissionError> {
    let operations = decode::operations_json(&permission.operations)?;
    let inserted = sqlx::query(
        "INSERT INTO permissions (id, org_id, name, operations, is_immutable, \
         is_archived, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
    )
    .bind(permission.id.as_str())
    .bind(permission.org_id.as_str())
    .bind(permission.name.as_str())
    .bind(operations)
    .bind(permission.is_immutable)
    .bind(permission.is_archived)
    .bind(permission.created_at.unix_millis())
    .bind(permission.updated_at.unix_millis())
    .execute(&mut *conn)
    .await;
    match inserted {
        Err(error) if is_name_taken(&error) => Err(InsertPermissionError::NameTaken),
        Err(error) => Err(StoreError::new(error).into()),
        Ok(_) => Ok(()),
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

/// Moves the version of every user holding a live assignment of
/// `permission`: what they may do changed, so a change decided for one of
/// them before this one must conflict.
async fn bump_holders(
    conn: &mut SqliteConnection,
    permission: &PermissionId,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET version = version + 1 WHERE id IN \
         (SELECT user_id FROM permission_assignments \
          WHERE permission_id = ? AND ended_at IS NULL)",
    )
    .bind(permission.as_str())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::new)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The order [`ASSIGNERS`] reads in: `CROSS JOIN` fixes it, so the plan
    //! is the same on an empty database as on a million users.

    use sqlx::Row;

    use super::ASSIGNERS;
    use crate::SqliteStore;

    #[tokio::test]
    async fn the_assigners_are_read_from_the_granting_permissions_through_indexes() {
        let store = SqliteStore::in_memory().await.expect("a store");
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {ASSIGNERS}"))
            .bind("or-plan")
            .bind("Permissions:Assign")
            .fetch_all(&store.pool)
            .await
            .expect("a plan");
        let steps: Vec<String> = rows.iter().map(|row| row.get("detail")).collect();

        let position = |step: &str| {
            steps.iter().position(|found| found.starts_with(step)).unwrap_or_else(|| {
                panic!("no step {step:?} in {steps:?}");
            })
        };
        let permissions = position("SEARCH p USING INDEX permissions_by_org (org_id=?)");
        let assignments =
            position("SEARCH a USING INDEX permission_assignments_by_permission (permission_id=?)");
        let users = position("SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)");
        assert!(permissions < assignments && assignments < users, "{steps:?}");
        // Only the operations of one permission are scanned.
        let scans: Vec<&String> = steps.iter().filter(|step| step.starts_with("SCAN")).collect();
        assert!(scans.iter().all(|step| step.starts_with("SCAN op VIRTUAL TABLE")), "{steps:?}");
    }
}
