//! Statements that several writing transactions share: the org guard, the
//! caller's version, the users a change writes, assignments, permissions and
//! audit events.
//!
//! Every write takes its row locks in one order, so that no two writes wait
//! for each other in opposite orders: the org's guard row (a guarded change
//! only); then the user rows, in id order, the caller's in share mode and
//! those the change writes for update ([`lock_users`]); then the permission
//! rows, the one a permission update changes or those new assignments name.
//! Two users who archive each other therefore queue on the lower of their
//! two ids instead of deadlocking. A deadlock with a session outside the
//! store remains possible; PostgreSQL then aborts one transaction, and the
//! store answers it as a conflict.

use deadpool_postgres::GenericClient;
use domain::{AuditEvent, OrgId, Permission, PermissionAssignment, PermissionId, User};
use ports::{Basis, InsertPermissionError, OrgGuard, StoreError};

use crate::decode;
use crate::sql;

/// The index that keeps live user names unique in an org.
pub(crate) const LIVE_USERNAME_INDEX: &str = "users_live_username";

/// The index that keeps live permission names unique in an org.
pub(crate) const LIVE_PERMISSION_NAME_INDEX: &str = "permissions_live_name";

/// Occurs when a change names the guard of another org than its own.
#[derive(Debug, thiserror::Error)]
#[error("the guard of org {0} does not cover a change in another org")]
struct ForeignGuard(OrgId);

/// Compares and bumps the guard version of `org`, the org of the change;
/// `false` when it is not `guard.version` any more (or the org is unknown),
/// and nothing changed.
///
/// A concurrent guarded change of the same org waits here for the row
/// lock, then finds the version bumped.
pub(crate) async fn take_guard(
    tx: &impl GenericClient,
    guard: &OrgGuard,
    org: &OrgId,
) -> Result<bool, StoreError> {
    if &guard.org_id != org {
        return Err(StoreError::new(ForeignGuard(guard.org_id.clone())));
    }
    let bumped = sql::execute(
        tx,
        "UPDATE orgs SET guard_version = guard_version + 1 \
         WHERE id = $1 AND guard_version = $2",
        &[&org.as_str(), &decode::version_column(guard.version)?],
    )
    .await
    .map_err(StoreError::new)?;
    Ok(bumped == 1)
}

/// Locks the caller's user row in share mode and the rows of `written`,
/// the users the change writes, for update, in id order and until the
/// transaction ends; answers whether the caller's version is still
/// `basis.actor_version` (`false` for an unknown caller, and then the rows
/// after the caller's are left unlocked).
///
/// Share mode lets any number of changes by one caller run at once, and
/// keeps every change *of* the caller (a deactivation, an archive, a lost
/// right) waiting until they end. A change of the caller that committed
/// first is seen here: under READ COMMITTED a row locked after waiting is
/// read as it is now, so its moved version is a conflict. When the caller
/// is one of `written`, its row is locked for update with the others.
///
/// Ids are compared byte by byte, here and in the statements (`COLLATE
/// "C"`), so the order is the same in every process whatever the database's
/// collation.
pub(crate) async fn lock_users(
    tx: &impl GenericClient,
    basis: &Basis,
    written: &[&str],
) -> Result<bool, StoreError> {
    let actor = basis.actor.as_str();
    let mut written = written.to_vec();
    written.sort_unstable();
    written.dedup();

    if written.contains(&actor) {
        let versions = lock_for_update(tx, &written).await?;
        let version = versions.iter().find(|(id, _)| id == actor).map(|(_, version)| *version);
        return Ok(version == Some(basis.actor_version));
    }
    let (below, above): (Vec<&str>, Vec<&str>) = written.iter().partition(|id| **id < actor);
    lock_for_update(tx, &below).await?;
    if !hold_actor(tx, basis).await? {
        return Ok(false);
    }
    lock_for_update(tx, &above).await?;
    Ok(true)
}

/// Locks the rows of `ids` for update, in id order, and answers each found
/// row's id and version.
///
/// `FOR NO KEY UPDATE`, the lock an `UPDATE` of the row takes itself: it
/// waits for share locks, and lets foreign-key checks of rows that name
/// the user (which take `FOR KEY SHARE`) go on.
async fn lock_for_update(
    tx: &impl GenericClient,
    ids: &[&str],
) -> Result<Vec<(String, u64)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sql::query(
        tx,
        "SELECT id, version FROM users WHERE id = ANY ($1) \
         ORDER BY id COLLATE \"C\" FOR NO KEY UPDATE",
        &[&ids],
    )
    .await
    .map_err(StoreError::new)?;
    rows.iter()
        .map(|row| Ok((decode::get::<String>(row, "id")?, decode::version(row, "version")?)))
        .collect()
}

/// Locks the caller's user row in share mode until the transaction ends and
/// answers whether its version is still `basis.actor_version`; `false`
/// for an unknown caller. For changes that write no existing user.
pub(crate) async fn hold_actor(tx: &impl GenericClient, basis: &Basis) -> Result<bool, StoreError> {
    let row = sql::query_opt(
        tx,
        "SELECT version FROM users WHERE id = $1 FOR SHARE",
        &[&basis.actor.as_str()],
    )
    .await
    .map_err(StoreError::new)?;
    match row {
        Some(row) => Ok(decode::version(&row, "version")? == basis.actor_version),
        None => Ok(false),
    }
}

/// Occurs when an assignment names a permission that is not one of the
/// user's org: the caller decided on something that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("permission {0} is not a permission of the user's org")]
struct UnknownPermission(PermissionId);

/// Stores a new assignment of `user`, made at `created_at`; `false`, and
/// nothing stored, when its permission was archived.
///
/// The permission row is locked in share mode first: a concurrent archive
/// of the permission then either waits for this transaction, and ends the
/// new assignment with the others, or runs first, and this one sees the
/// permission archived.
pub(crate) async fn insert_assignment(
    tx: &impl GenericClient,
    user: &User,
    assignment: &PermissionAssignment,
    created_at: i64,
) -> Result<bool, StoreError> {
    let permission = sql::query_opt(
        tx,
        "SELECT is_archived FROM permissions WHERE id = $1 AND org_id = $2 FOR SHARE",
        &[&assignment.permission_id.as_str(), &user.org_id.as_str()],
    )
    .await
    .map_err(StoreError::new)?;
    let Some(permission) = permission else {
        return Err(StoreError::new(UnknownPermission(assignment.permission_id.clone())));
    };
    if decode::get::<bool>(&permission, "is_archived")? {
        return Ok(false);
    }

    sql::execute(
        tx,
        "INSERT INTO permission_assignments \
         (id, permission_id, user_id, org_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            &assignment.assignment_id.as_str(),
            &assignment.permission_id.as_str(),
            &user.id.as_str(),
            &user.org_id.as_str(),
            &created_at,
        ],
    )
    .await
    .map_err(StoreError::new)?;
    Ok(true)
}

/// Stores a new permission at version 0.
pub(crate) async fn insert_permission(
    tx: &impl GenericClient,
    permission: &Permission,
) -> Result<(), InsertPermissionError> {
    let inserted = sql::execute(
        tx,
        "INSERT INTO permissions (id, org_id, name, operations, is_immutable, \
         is_archived, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
        &[
            &permission.id.as_str(),
            &permission.org_id.as_str(),
            &permission.name.as_str(),
            &decode::operation_names(&permission.operations),
            &permission.is_immutable,
            &permission.is_archived,
            &permission.created_at.unix_millis(),
            &permission.updated_at.unix_millis(),
        ],
    )
    .await;
    match inserted {
        Err(error) if sql::violates(&error, LIVE_PERMISSION_NAME_INDEX) => {
            Err(InsertPermissionError::NameTaken)
        }
        Err(error) => Err(StoreError::new(error).into()),
        Ok(_) => Ok(()),
    }
}

/// Appends `event` to the audit log.
pub(crate) async fn insert_event(
    tx: &impl GenericClient,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sql::execute(
        tx,
        "INSERT INTO audit_events (kind, org_id, user_id, permission_id, actor, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &event.kind.as_str(),
            &event.org_id.as_str(),
            &event.user_id.as_str(),
            &event.permission_id.as_ref().map(|id| id.as_str()),
            &event.actor.as_str(),
            &event.at.unix_millis(),
        ],
    )
    .await
    .map_err(StoreError::new)?;
    Ok(())
}
