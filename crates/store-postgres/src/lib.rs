//! PostgreSQL adapters for orgusers' stores, for servers that share one
//! database.
//!
//! [`PostgresStore`] implements every store port of the `ports` crate on
//! one PostgreSQL database: [`UserRepository`](ports::UserRepository),
//! [`PermissionRepository`](ports::PermissionRepository),
//! [`OneTimeStore`](ports::OneTimeStore), [`AuditLog`](ports::AuditLog) and
//! [`SecretStore`](ports::SecretStore). It speaks to the database through
//! `tokio-postgres`, with a `deadpool-postgres` pool of connections, each
//! keeping its prepared statements.
//!
//! Any number of server processes may use one database. Transactions run
//! at PostgreSQL's default isolation, READ COMMITTED, and every promise of
//! the ports rests on row locks and unique indexes rather than on a
//! stronger isolation level:
//!
//! * a write compares and sets a version with `UPDATE ... WHERE id = $1 AND
//!   version = $2`; a concurrent writer of the same row waits for the row
//!   lock, then finds the version changed and updates nothing;
//! * a write by a caller reads the caller's version with `SELECT ... FOR
//!   SHARE` and conflicts when it moved; the row stays locked until the
//!   commit, so a change of the caller waits for it;
//! * every write locks its rows in one order (the org guard, then users by
//!   id, then permissions), so two writes queue rather than deadlock; a
//!   deadlock with another session, or a serialization failure, is
//!   answered as a conflict;
//! * a permission update that changes what its holders may do moves their
//!   versions in its transaction;
//! * user names and permission names are unique through partial unique
//!   indexes, and a unique violation is the answer "taken";
//! * challenges are taken with `DELETE ... RETURNING`, user actions
//!   spent with `UPDATE ... WHERE used_at IS NULL` and signature counters
//!   raised with `UPDATE ... WHERE sign_count < $1`, one statement each;
//! * a user's `credId`s are unique through a unique constraint, and a
//!   unique violation is the answer "taken";
//! * a user with its assignments, and the assigners of an org with the
//!   guard version, are each read by one statement, so from one snapshot.
//!
//! The schema is in `migrations/`, embedded in the binary and applied by
//! [`PostgresStore::connect`] in the first schema of the connection's
//! `search_path`; each migration file explains its tables.
//!
//! FIXME: connections are never encrypted (`NoTls`); a TLS connector such
//! as `tokio-postgres-rustls` in [`PostgresStore::connect`] would allow
//! databases on other hosts.
//!
//! FIXME: expired challenges, user actions and nonces are never purged; a
//! periodic `DELETE ... WHERE issued_at < $1` (`expires_at` for nonces)
//! run by the server would keep the tables small.

mod audit;
mod decode;
mod migrate;
mod one_time;
mod permissions;
mod secrets;
mod sql;
mod users;
mod write;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use ports::StoreError;
use tokio_postgres::NoTls;

/// The most connections one store opens.
const MAX_CONNECTIONS: usize = 10;

/// How long a caller waits for a connection, a free one or a new one,
/// before the call fails; also how long opening a connection may take when
/// the URL does not say.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The stores of orgusers on one PostgreSQL database.
///
/// Cloning is cheap: clones share one connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's own form would show the URL's password.
        f.debug_struct("PostgresStore").field("pool", &self.pool.status()).finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` and brings its schema up to date.
    ///
    /// `url` is a libpq connection URL such as
    /// `postgres://user@host:5432/db` (or a `key=value` string). The tables
    /// live in the first schema of the connection's `search_path`; to keep
    /// them in a schema of their own, create it and add
    /// `?options=-c%20search_path%3Dname` to the URL. Several processes may
    /// connect and migrate at once: the migrations take a lock of the
    /// database and run once.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(StoreError::new)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECTION_TIMEOUT);
        }
        // Fast recycling checks that a returned connection is still open,
        // and spends no round trip on it.
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECTION_TIMEOUT))
            .create_timeout(Some(CONNECTION_TIMEOUT))
            .build()
            .map_err(StoreError::new)?;
        let store = PostgresStore { pool };

        migrate::run(&mut store.connection().await?).await?;
        Ok(store)
    }

    /// Closes every connection; later calls on this store or its clones
    /// fail.
    pub fn close(&self) {
        self.pool.close();
    }

    /// A connection of the pool, back in the pool when dropped.
    async fn connection(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(StoreError::new)
    }
}
