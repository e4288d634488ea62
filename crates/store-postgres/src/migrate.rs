//! Bringing a database's schema up to date with the migrations embedded in
//! the binary.
//!
//! Each migration runs once per schema, in order, and is recorded in
//! `orgusers_migrations`. All pending migrations run in one transaction
//! that first takes a transaction-level advisory lock: PostgreSQL's DDL is
//! transactional, so a failed migration leaves nothing behind, and of
//! several processes starting at once one migrates while the others wait
//! and then find nothing left to do.

use deadpool_postgres::Object;
use ports::StoreError;

/// One migration: its version, what it is for, and its SQL.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

/// Every migration, oldest first. A released migration never changes: a
/// change to the schema is a new migration.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "orgs, users, permissions and one-time records",
        sql: include_str!("../migrations/0001_orgs_users_permissions_and_one_time_records.sql"),
    },
    Migration {
        version: 2,
        description: "registered credentials and registration challenges",
        sql: include_str!("../migrations/0002_registered_credentials.sql"),
    },
];

/// The advisory lock that orders the processes migrating one database; any
/// number that other applications of the database do not use.
const MIGRATION_LOCK: i64 = 0x6f72_6775_7365_7273; // "orgusers"

/// Occurs when the database was migrated by a newer binary.
#[derive(Debug, thiserror::Error)]
#[error("the database has migration {0}, which this binary does not know")]
struct UnknownMigration(i64);

/// Applies the migrations that the schema lacks.
pub(crate) async fn run(conn: &mut Object) -> Result<(), StoreError> {
    let tx = conn.transaction().await.map_err(StoreError::new)?;

    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(StoreError::new)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS orgusers_migrations (
             version      BIGINT NOT NULL PRIMARY KEY,
             description  TEXT   NOT NULL,
             applied_at   BIGINT NOT NULL
                          DEFAULT (extract(epoch FROM now()) * 1000)::bigint
         )",
    )
    .await
    .map_err(StoreError::new)?;
    let rows = tx
        .query("SELECT version FROM orgusers_migrations ORDER BY version", &[])
        .await
        .map_err(StoreError::new)?;
    let applied = rows
        .iter()
        .map(|row| row.try_get::<_, i64>("version"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::new)?;
    // A binary older than the database would write rows that a newer
    // schema may refuse or misread: refuse to start instead.
    if let Some(unknown) = applied.iter().find(|v| MIGRATIONS.iter().all(|m| m.version != **v)) {
        return Err(StoreError::new(UnknownMigration(*unknown)));
    }

    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(migration.sql).await.map_err(StoreError::new)?;
        tx.execute(
            "INSERT INTO orgusers_migrations (version, description) VALUES ($1, $2)",
            &[&migration.version, &migration.description],
        )
        .await
        .map_err(StoreError::new)?;
    }

    tx.commit().await.map_err(StoreError::new)
}
