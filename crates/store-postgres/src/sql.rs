//! Running statements: each is prepared once per connection and kept in
//! the connection's statement cache, so later runs skip the parse and plan
//! round trip.

use deadpool_postgres::GenericClient;
use ports::{
    AddCredentialError, InsertPermissionError, InsertUserError, StoreError, UpdatePermissionError,
    UpdateUserError,
};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// The parameters of a statement.
pub(crate) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Runs `sql` and answers how many rows it changed.
pub(crate) async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.execute(&statement, params).await
}

/// Runs `sql` and answers every row.
pub(crate) async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query(&statement, params).await
}

/// Runs `sql` and answers its row, if any; more than one is an error.
pub(crate) async fn query_opt(
    client: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_opt(&statement, params).await
}

/// Whether `error` is a unique violation of the index `constraint`. Other
/// unique violations, such as a reused id, are store failures.
pub(crate) fn violates(error: &tokio_postgres::Error, constraint: &str) -> bool {
    error.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::UNIQUE_VIOLATION && db.constraint() == Some(constraint)
    })
}

/// Whether `error` is a transaction the database aborted because it lost
/// a race with another: a deadlock, or a serialization failure. Neither
/// left anything behind, and deciding again on fresh reads may succeed.
fn lost_race(error: &StoreError) -> bool {
    let driver = error.0.downcast_ref::<tokio_postgres::Error>();
    let code = driver.and_then(tokio_postgres::Error::code);
    code.is_some_and(|code| {
        *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// The error of a write whose transaction can wait for another's row locks
/// while holding its own, and so lose a deadlock.
pub(crate) trait RaceAsConflict {
    /// The error, with a lost race answered as the write's `Conflict`:
    /// the use case reads again and decides again, as after any lost
    /// compare-and-set.
    fn race_as_conflict(self) -> Self;
}

/// Implements [`RaceAsConflict`] for write errors with a `Conflict` and a
/// `Store` variant.
macro_rules! race_as_conflict {
    ($($error:ident),* $(,)?) => {$(
        impl RaceAsConflict for $error {
            fn race_as_conflict(self) -> $error {
                match self {
                    $error::Store(error) if lost_race(&error) => $error::Conflict,
                    other => other,
                }
            }
        }
    )*};
}

race_as_conflict!(
    InsertUserError,
    UpdateUserError,
    InsertPermissionError,
    UpdatePermissionError,
    AddCredentialError,
);
