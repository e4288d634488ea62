//! The org guard on SQLite: a version per org (`orgs.guard_version`) that
//! every change which can take the power to assign permissions from
//! someone compares and bumps inside its own write transaction.

use domain::OrgId;
use ports::{OrgGuard, StoreError};
use sqlx::SqliteConnection;

use crate::decode;

/// Occurs when a change names the guard of another org than its own.
#[derive(Debug, thiserror::Error)]
#[error("the guard of org {0} does not cover a change in another org")]
struct ForeignGuard(OrgId);

/// Bumps the guard version of `org`, the org of the change, if it is still
/// `guard.version`; answers whether it was. An unknown org matches no
/// version.
pub(crate) async fn bump(
    conn: &mut SqliteConnection,
    guard: &OrgGuard,
    org: &OrgId,
) -> Result<bool, StoreError> {
    if &guard.org_id != org {
        return Err(StoreError::new(ForeignGuard(guard.org_id.clone())));
    }
    let bumped = sqlx::query(
        "UPDATE orgs SET guard_version = guard_version + 1 \
         WHERE id = ? AND guard_version = ?",
    )
    .bind(org.as_str())
    .bind(decode::version_column(guard.version)?)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::new)?;
    Ok(bumped.rows_affected() == 1)
}
