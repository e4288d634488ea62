//! The caller of a change on SQLite: its stored version, read inside the
//! change's write transaction and compared with the one the change was
//! decided on.
//!
//! `BEGIN IMMEDIATE` holds the database's write lock from the first
//! statement to the commit, so a plain read suffices: no other writer can
//! change the caller's row between this read and the commit, and of two
//! users changing each other at once the second finds the first's change.

use ports::{Basis, StoreError};
use sqlx::SqliteConnection;

use crate::decode;

/// Whether the caller's stored version is still `basis.actor_version`. An
/// unknown caller holds no version: a change decided for it conflicts.
pub(crate) async fn holds(conn: &mut SqliteConnection, basis: &Basis) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT version FROM users WHERE id = ?")
        .bind(basis.actor.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::new)?;
    match row {
        Some(row) => Ok(decode::version(&row, "version")? == basis.actor_version),
        None => Ok(false),
    }
}
