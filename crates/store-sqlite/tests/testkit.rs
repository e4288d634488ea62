//! The test kit's lifecycle suite on the SQLite store: the real use cases
//! over `SqliteStore`, checked against the kit's reference model.
//!
//! Each sequence gets its own in-memory database. It runs the same schema
//! and the same statements as a file does, with one connection; creating
//! and migrating a file for each of hundreds of sequences would spend most
//! of the run on the file system, and what files add (WAL, several
//! connections, several processes) is tested in `tests/it/concurrency.rs`.

use store_sqlite::SqliteStore;

#[test]
fn the_sqlite_store_keeps_the_lifecycle_contract() {
    testkit::check_adapter(
        || async { SqliteStore::in_memory().await.expect("an in-memory database opens") },
        testkit::Config::default(),
    );
}
