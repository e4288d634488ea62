//! SQLite adapters for orgusers' stores, the embedded default.
//!
//! [`SqliteStore`] keeps everything in one SQLite database file and
//! implements every store port of the `ports` crate on it:
//! [`UserRepository`](ports::UserRepository),
//! [`PermissionRepository`](ports::PermissionRepository),
//! [`OneTimeStore`](ports::OneTimeStore), [`AuditLog`](ports::AuditLog) and
//! [`SecretStore`](ports::SecretStore).
//!
//! Several server processes may open the same file. The database runs in
//! WAL mode, so readers never wait for writers; every write transaction
//! starts with `BEGIN IMMEDIATE`, so it takes the write lock before reading
//! and concurrent writers queue on the busy timeout instead of failing when
//! they would upgrade a read lock. Inside that lock a change reads its
//! caller's version and compares it with the one it was decided on, and a
//! permission update that changes what its holders may do moves their
//! versions, so no change lands for a caller who changed meanwhile. The
//! one-time records are spent, and signature counters raised, with a
//! single conditional statement, which SQLite runs atomically. Reads that must agree with each other, such as
//! the assigners of an org and its guard version, run in one read
//! transaction and so see one snapshot.
//!
//! The schema is in `migrations/`, embedded in the binary and applied by
//! [`SqliteStore::connect`]; each migration file explains its tables.
//!
//! FIXME: expired challenges and user actions are never purged; a periodic
//! `DELETE ... WHERE issued_at < ?` run by the server would keep the tables
//! small.

mod actor;
mod audit;
mod decode;
mod guard;
mod one_time;
mod permissions;
mod secrets;
mod users;

use std::str::FromStr;
use std::time::Duration;

use ports::StoreError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

/// How long a statement waits for another connection's lock before it
/// fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Makes the database file readable and writable by its owner only,
/// creating it so if it is missing: it holds the key that signs login
/// tokens. SQLite gives the `-wal` and `-shm` files it creates the same
/// permissions; those of a database made wider elsewhere (copied, or
/// created by an older server) are narrowed, its journal files too.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    match file.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => narrow(path),
        Err(error) => Err(StoreError::new(error)),
    }
}

/// Takes every permission but the owner's from the database file and its
/// journal files, where they have any.
#[cfg(unix)]
fn narrow(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;

    let journal = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    for file in [path.to_path_buf(), journal("-wal"), journal("-shm")] {
        let Ok(metadata) = std::fs::metadata(&file) else {
            continue;
        };
        if metadata.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(StoreError::new)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow(_path: &std::path::Path) -> Result<(), StoreError> {
    Ok(())
}

/// The stores of orgusers on one SQLite database.
///
/// Cloning is cheap: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens the database at `url`, creating the file if it is missing, and
    /// brings its schema up to date.
    ///
    /// `url` is `sqlite://path/to/file.db` (any URL that sqlx accepts) or a
    /// plain file path. `sqlite::memory:` and `:memory:` give
    /// [`SqliteStore::in_memory`].
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        if matches!(url, "sqlite::memory:" | ":memory:") {
            return SqliteStore::in_memory().await;
        }
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url).map_err(StoreError::new)?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        create_private(options.get_filename())?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let pool = SqlitePoolOptions::new().connect_with(options).await.map_err(StoreError::new)?;

        SqliteStore::migrated(pool).await
    }

    /// A new, empty database that lives in memory until the store and its
    /// clones are dropped. Meant for tests.
    pub async fn in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(StoreError::new)?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        // An in-memory database lives as long as a connection to it: keep
        // exactly one, forever. Transactions then queue on the pool.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::new)?;

        SqliteStore::migrated(pool).await
    }

    /// Closes every connection; later calls on this store or its clones
    /// fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrated(pool: SqlitePool) -> Result<SqliteStore, StoreError> {
        MIGRATOR.run(&pool).await.map_err(StoreError::new)?;
        Ok(SqliteStore { pool })
    }

    /// Starts a write transaction that holds the database's write lock
    /// from its first statement. Dropping it uncommitted rolls it back.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::new)
    }

    /// Starts a read transaction: its statements see one snapshot.
    async fn begin_read(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin().await.map_err(StoreError::new)
    }
}
