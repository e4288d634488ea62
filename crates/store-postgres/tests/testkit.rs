//! The test kit's lifecycle suite on the PostgreSQL store: the real use
//! cases over `PostgresStore`, checked against the kit's reference model.
//!
//! It runs on the database that `ORGUSERS_TEST_POSTGRES_URL` names; without
//! it the test says that it skips and passes.
//!
//! Every generated sequence gets a store of its own, connected anew as a
//! server process would connect, but all of them share one schema, made
//! for this test and dropped when it ends, passed or failed. A schema per
//! sequence, migrated afresh, took about 0.3 s each on a loaded two-core
//! machine, 80 s of a 256-sequence run before a single step; sharing one is
//! sound because each sequence creates its own orgs with ids no other
//! sequence draws, and the kit reads only those orgs. It also means each
//! org's reads are checked among hundreds of other orgs' rows.
//!
//! Sessions run with `synchronous_commit = off`: a commit then returns
//! before its WAL reaches the disk, which changes what survives a crash of
//! the server and nothing a session can observe, and halves the run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use store_postgres::PostgresStore;
use tokio_postgres::NoTls;

/// The environment variable that names the database to test on.
const URL_VARIABLE: &str = "ORGUSERS_TEST_POSTGRES_URL";

#[test]
fn the_postgres_store_keeps_the_lifecycle_contract() {
    let Ok(server) = std::env::var(URL_VARIABLE) else {
        // Not `eprintln!`: libtest would capture it, as the test passes.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipping the_postgres_store_keeps_the_lifecycle_contract: set {URL_VARIABLE} to a \
             PostgreSQL URL to run it"
        );
        return;
    };
    let schema = Schema::create(server);
    testkit::check_adapter(|| schema.store(), testkit::Config::default());
}

/// A schema of this test's own, dropped with the value.
struct Schema {
    /// The URL of the database, as given.
    server: String,
    /// The schema's name.
    name: String,
}

impl Schema {
    fn create(server: String) -> Schema {
        let schema = Schema { server, name: fresh_schema_name() };
        block_on(execute(&schema.server, &format!("CREATE SCHEMA {}", schema.name)))
            .expect("the test's schema is created");
        schema
    }

    /// A new store on the schema; the first one migrates it.
    async fn store(&self) -> PostgresStore {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{separator}options=-c%20search_path%3D{}%20-c%20synchronous_commit%3Doff",
            self.server, self.name
        );
        PostgresStore::connect(&url).await.expect("the store connects")
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop cannot await, and may run while a failed test unwinds: a
        // runtime of its own drops the schema.
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(error) = block_on(execute(&self.server, &sql)) {
            eprintln!("the test schema {} was not dropped: {error}", self.name);
        }
    }
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    runtime.block_on(future)
}

/// Runs `sql` on a connection of its own to `url`.
async fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let connection = tokio::spawn(connection);
    client.batch_execute(sql).await?;
    drop(client);
    // The connection ends once its client is gone; waiting for it makes
    // sure the server saw the end of the session.
    let _ = connection.await;
    Ok(())
}

/// A schema name no other test, in this process or another, uses.
fn fresh_schema_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let sequence = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("kit_{}_{sequence}_{nanos}", std::process::id())
}
