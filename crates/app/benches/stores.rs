//! What one archive of a user costs through the SQLite and the PostgreSQL
//! stores, next to the cheapest write each database can do, and how that
//! cost changes from a thousand users to a million.
//!
//! One criterion group per store, `stores_sqlite` and `stores_postgres`,
//! so that a store's figures come from the same run:
//!
//! - `bare_update_<scale>`: one `UPDATE users SET version = version + 1
//!   WHERE id = ?` in its own transaction, through the store's driver
//!   directly (sqlx with `BEGIN IMMEDIATE` for SQLite, as the store writes;
//!   tokio-postgres with `BEGIN` and `COMMIT` for PostgreSQL), on the
//!   store's own schema and database. Always the same row, a user of the
//!   bulk population. No store write can do less.
//! - `archive_<scale>`: one `Service::archive_user` over the store, with
//!   the user action granted beforehand (everything but the signature):
//!   permission, spending the grant, loading the target, the decision, the
//!   compare-and-set and the audit event. The target holds no
//!   permission, so it cannot assign and the org guard is not read.
//! - `archive_guarded_<scale>`: the same for a target who holds
//!   `Assigners`, a permission that grants `Permissions:Assign`: the use
//!   case also reads the org's assigners with its guard version
//!   (`PermissionRepository::assigners`), and the write compares and bumps
//!   the guard version too.
//!
//! `<scale>` is `1k` or `1m`: the org holds its admin and 1 000 or
//! 1 000 000 more users, each of whom holds `Readers`, a permission that
//! does not grant `Permissions:Assign`; one of them also holds `Assigners`,
//! so that with the admin (`OrgAdmin`) two users besides any target can
//! assign. The users and their assignments are written in bulk with SQL in
//! the store's schema (ids drawn as the domain draws them, names
//! normalised by the domain), one transaction, when the first benchmark of
//! the scale runs (PostgreSQL then vacuums, analyses and checkpoints); the
//! two permissions are created through the store before. Before each
//! archive, and not timed, a fresh target is stored as `create_user` stores
//! one (and for a guarded archive given `Assigners` as
//! `assign_permission` gives it) and a user action is granted for its
//! `DELETE`; after it, and not timed either, the archived row and its
//! assignment are deleted, so that every archive runs against the same
//! number of users and assignments.
//!
//! SQLite runs on a database file in a temporary directory, opened by the
//! store (WAL, `synchronous = NORMAL`). PostgreSQL runs on the database
//! that `ORGUSERS_TEST_POSTGRES_URL` names, in a schema of the benchmark's
//! own per scale, dropped at the end, with the server's settings; without
//! the variable that group is skipped.
//!
//! The million-user population is only written when the benchmarks are
//! measured (`cargo bench`, which passes `--bench`); `cargo test --benches`
//! runs each benchmark once at the thousand-user scale only. A scale whose
//! benchmarks a filter leaves out (or `--list`) writes no population.
//!
//! Run with `cargo bench -p app --bench stores`; `docs/benchmarks.md` says
//! how the recorded runs were made.

use std::cell::{Cell, OnceCell};
use std::future::Future;
use std::hint::black_box;
use std::marker::PhantomData;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app::{Assertion, Ports, Service, SignedRequest};
use auth_token::JwtTokens;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use domain::{
    AssignmentId, Caller, Challenge, HttpMethod, LifecycleState, NewUser, Operation, OrgName,
    Permission, PermissionId, PermissionName, Timestamp, User, UserActionGrant, UserActionRequest,
    UserActionToken, UserId, UserKind, Username,
};
use ports::{Basis, Clock, OneTimeStore, PermissionRepository, Randomness, UserRepository};
use signature::KeyVerifier;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use store_postgres::PostgresStore;
use store_sqlite::SqliteStore;
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls, Statement};

/// The environment variable that names the PostgreSQL database.
const URL_VARIABLE: &str = "ORGUSERS_TEST_POSTGRES_URL";

/// The users written in bulk besides the admin, per scale.
const SCALES: [(&str, usize); 2] = [("1k", 1_000), ("1m", 1_000_000)];

/// Rows per statement of the bulk insert.
const SQLITE_BATCH: usize = 2_000;
const POSTGRES_BATCH: usize = 50_000;

/// What every store of the benchmark implements.
trait Store: UserRepository + PermissionRepository + OneTimeStore + Clone + 'static {}

impl<S> Store for S where S: UserRepository + PermissionRepository + OneTimeStore + Clone + 'static {}

/// The adapters the use cases run on: `S` for every store.
struct StorePorts<S>(PhantomData<fn() -> S>);

impl<S: Store> Ports for StorePorts<S> {
    type Users = S;
    type Permissions = S;
    type OneTime = S;
    type Verifier = KeyVerifier;
    type Tokens = JwtTokens;
    type Clock = SystemClock;
    type Random = SystemRandom;
}

/// The system's wall clock, as the server reads it.
struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch =
            SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
        Timestamp::from_unix_millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// The cryptographic generator of aws-lc-rs, as the server draws from it.
struct SystemRandom;

impl Randomness for SystemRandom {
    fn fill(&self, buffer: &mut [u8]) {
        aws_lc_rs::rand::fill(buffer).expect("the system random generator failed");
    }
}

/// One user of the bulk population, as its row stores it.
struct BulkUser {
    id: String,
    username: String,
    username_key: String,
}

/// One live assignment of the bulk population, as its row stores it.
struct BulkAssignment {
    id: String,
    permission_id: String,
    user_id: String,
}

/// An assignment id drawn as the domain draws one.
fn assignment_id() -> AssignmentId {
    AssignmentId::from_random(&ports::random_array(&SystemRandom))
}

/// `count` users with ids drawn as the domain draws them, in id order, and
/// user names numbered in that order, so that both indexes are filled from
/// left to right. Every name is parsed by the domain, which gives its key.
fn population(count: usize) -> Vec<BulkUser> {
    let mut ids: Vec<String> = (0..count)
        .map(|_| UserId::from_random(&ports::random_array(&SystemRandom)).as_str().to_owned())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "random user ids collided");
    ids.into_iter()
        .enumerate()
        .map(|(n, id)| {
            let username = Username::parse(&format!("user{n:07}@bench.example")).unwrap();
            BulkUser {
                id,
                username: username.as_str().to_owned(),
                username_key: username.key().to_owned(),
            }
        })
        .collect()
}

/// The database behind a store, reached through its driver directly: what
/// the benchmark does to a database besides the use cases.
trait Direct {
    /// The floor: one single-row update in a transaction of its own.
    async fn bare_update(&self, id: &str);

    /// Deletes the row of an archived target, and first the rows of the
    /// assignments it held, by their ids.
    async fn delete_user(&self, id: &str, assignments: &[String]);

    /// Writes `users` into `org` as active end users, as `insert_user`
    /// writes a user without credential, and the live `assignments` of
    /// permissions to them, as `update_user` writes one, in one
    /// transaction.
    async fn populate(
        &self,
        org: &str,
        users: &[BulkUser],
        assignments: &[BulkAssignment],
        created_at: i64,
    );
}

/// A SQLite database, through sqlx.
struct SqliteDirect {
    /// A connection opened as the store opens its own.
    pool: SqlitePool,
    /// The same without foreign keys, to delete archived targets: the
    /// check of `users.archived_by`, which has no index, would scan the
    /// table on every delete.
    teardown: SqlitePool,
}

impl SqliteDirect {
    async fn open(path: &Path) -> SqliteDirect {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .expect("the benchmark opens the SQLite database");
        let teardown = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.foreign_keys(false))
            .await
            .expect("the benchmark opens the SQLite database");
        SqliteDirect { pool, teardown }
    }
}

impl Direct for SqliteDirect {
    async fn bare_update(&self, id: &str) {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let changed = sqlx::query("UPDATE users SET version = version + 1 WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        tx.commit().await.unwrap();
        assert_eq!(changed, 1);
    }

    async fn delete_user(&self, id: &str, assignments: &[String]) {
        for assignment in assignments {
            let deleted = sqlx::query("DELETE FROM permission_assignments WHERE id = ?")
                .bind(assignment)
                .execute(&self.teardown)
                .await
                .unwrap()
                .rows_affected();
            assert_eq!(deleted, 1);
        }
        let deleted = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&self.teardown)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(deleted, 1);
    }

    async fn populate(
        &self,
        org: &str,
        users: &[BulkUser],
        assignments: &[BulkAssignment],
        created_at: i64,
    ) {
        let kind = UserKind::EndUser.as_str();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        for batch in users.chunks(SQLITE_BATCH) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO users (id, org_id, kind, username, username_key, \
                 credential_uuid, is_registered, is_service_account, is_sso_required, \
                 external_id, state, archived_at, archived_by, created_at, version) ",
            );
            insert.push_values(batch, |mut row, user| {
                row.push_bind(user.id.as_str())
                    .push_bind(org)
                    .push_bind(kind)
                    .push_bind(user.username.as_str())
                    .push_bind(user.username_key.as_str())
                    .push("NULL, 0, 0, 0, NULL, 'Active', NULL, NULL")
                    .push_bind(created_at)
                    .push("0");
            });
            insert.build().execute(&mut *tx).await.unwrap();
        }
        for batch in assignments.chunks(SQLITE_BATCH) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO permission_assignments \
                 (id, permission_id, user_id, org_id, created_at, ended_at) ",
            );
            insert.push_values(batch, |mut row, assignment| {
                row.push_bind(assignment.id.as_str())
                    .push_bind(assignment.permission_id.as_str())
                    .push_bind(assignment.user_id.as_str())
                    .push_bind(org)
                    .push_bind(created_at)
                    .push("NULL");
            });
            insert.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        // Moves the population out of the WAL into the database.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await.unwrap();
    }
}

/// A PostgreSQL database, through tokio-postgres.
struct PostgresDirect {
    client: Client,
    update: Statement,
    /// A session that fires no triggers, to delete archived targets
    /// without the foreign-key scans of unindexed `archived_by`.
    teardown: Client,
    delete: Statement,
    delete_assignment: Statement,
}

impl PostgresDirect {
    async fn open(url: &str) -> PostgresDirect {
        let client = connect_postgres(url).await;
        let update = client
            .prepare("UPDATE users SET version = version + 1 WHERE id = $1")
            .await
            .expect("the update is prepared");
        let teardown = connect_postgres(url).await;
        teardown
            .batch_execute("SET session_replication_role = replica")
            .await
            .expect("the teardown session disables triggers (this needs a superuser)");
        let delete = teardown.prepare("DELETE FROM users WHERE id = $1").await.expect("prepared");
        let delete_assignment = teardown
            .prepare("DELETE FROM permission_assignments WHERE id = $1")
            .await
            .expect("prepared");
        PostgresDirect { client, update, teardown, delete, delete_assignment }
    }
}

impl Direct for PostgresDirect {
    async fn bare_update(&self, id: &str) {
        self.client.batch_execute("BEGIN").await.unwrap();
        let changed = self.client.execute(&self.update, &[&id]).await.unwrap();
        self.client.batch_execute("COMMIT").await.unwrap();
        assert_eq!(changed, 1);
    }

    async fn delete_user(&self, id: &str, assignments: &[String]) {
        for assignment in assignments {
            let deleted =
                self.teardown.execute(&self.delete_assignment, &[assignment]).await.unwrap();
            assert_eq!(deleted, 1);
        }
        let deleted = self.teardown.execute(&self.delete, &[&id]).await.unwrap();
        assert_eq!(deleted, 1);
    }

    async fn populate(
        &self,
        org: &str,
        users: &[BulkUser],
        assignments: &[BulkAssignment],
        created_at: i64,
    ) {
        let kind = UserKind::EndUser.as_str();
        let insert = self
            .client
            .prepare(
                "INSERT INTO users (id, org_id, kind, username, username_key, \
                 credential_uuid, is_registered, is_service_account, is_sso_required, \
                 external_id, state, archived_at, archived_by, created_at, version) \
                 SELECT u.id, $4::text, $5::text, u.username, u.username_key, \
                 NULL, false, false, false, NULL, 'Active', NULL, NULL, $6::bigint, 0 \
                 FROM unnest($1::text[], $2::text[], $3::text[]) \
                 AS u (id, username, username_key)",
            )
            .await
            .unwrap();
        let assign = self
            .client
            .prepare(
                "INSERT INTO permission_assignments \
                 (id, permission_id, user_id, org_id, created_at, ended_at) \
                 SELECT a.id, a.permission_id, a.user_id, $4::text, $5::bigint, NULL \
                 FROM unnest($1::text[], $2::text[], $3::text[]) \
                 AS a (id, permission_id, user_id)",
            )
            .await
            .unwrap();
        self.client.batch_execute("BEGIN").await.unwrap();
        for batch in users.chunks(POSTGRES_BATCH) {
            let ids: Vec<&str> = batch.iter().map(|user| user.id.as_str()).collect();
            let names: Vec<&str> = batch.iter().map(|user| user.username.as_str()).collect();
            let keys: Vec<&str> = batch.iter().map(|user| user.username_key.as_str()).collect();
            self.client
                .execute(&insert, &[&ids, &names, &keys, &org, &kind, &created_at])
                .await
                .unwrap();
        }
        for batch in assignments.chunks(POSTGRES_BATCH) {
            let ids: Vec<&str> = batch.iter().map(|a| a.id.as_str()).collect();
            let permissions: Vec<&str> = batch.iter().map(|a| a.permission_id.as_str()).collect();
            let users: Vec<&str> = batch.iter().map(|a| a.user_id.as_str()).collect();
            self.client
                .execute(&assign, &[&ids, &permissions, &users, &org, &created_at])
                .await
                .unwrap();
        }
        self.client.batch_execute("COMMIT").await.unwrap();
        // What autovacuum would do soon after: statistics for the planner
        // (which then see one permission in nearly every assignment), the
        // visibility map set.
        self.client.batch_execute("VACUUM (ANALYZE) users, permission_assignments").await.unwrap();
        // Writes the population out now: a checkpoint that the bulk load's
        // WAL would otherwise start during the measurements competes with
        // every commit for the disk, and the full-page images written after
        // it make each page's first change dearer.
        self.client.batch_execute("CHECKPOINT").await.unwrap();
    }
}

async fn connect_postgres(url: &str) -> Client {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.expect("the benchmark connects to PostgreSQL");
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("a benchmark connection to PostgreSQL failed: {error}");
        }
    });
    client
}

/// The request that archives `user_id`, as the TypeScript SDK sends it.
fn delete_request(user_id: &str) -> UserActionRequest {
    UserActionRequest {
        method: HttpMethod::Delete,
        path: format!("/auth/users/{user_id}"),
        payload: "{}".to_owned(),
    }
}

/// An archive whose user action was granted beforehand.
struct GrantedArchive {
    user_id: String,
    /// The ids of the target's assignments, deleted with it.
    assignments: Vec<String>,
    signed: SignedRequest,
}

/// One org on a store, its admin logged in, `users` more users in it.
struct Fixture<S: Store, D: Direct> {
    runtime: Runtime,
    service: Service<StorePorts<S>>,
    store: S,
    direct: D,
    caller: Caller,
    /// The user `bare_update` bumps: one of the bulk population.
    bare_target: String,
    /// A permission that grants `Permissions:Assign`, held by one user of
    /// the bulk population and by the targets of guarded archives.
    assigners: Permission,
    next_target: Cell<u64>,
}

impl<S: Store, D: Direct> Fixture<S, D> {
    /// Opens the store and its direct connection with `open`, creates the
    /// org, logs its admin in and writes `users` more users in bulk.
    fn new<F, Fut>(label: &str, users: usize, open: F) -> Fixture<S, D>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (S, D)>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (store, direct) = runtime.block_on(open());
        let tokens = JwtTokens::from_pkcs8(&auth_token::generate_signing_key()).unwrap();
        let service = Service::new(
            store.clone(),
            store.clone(),
            store.clone(),
            KeyVerifier::new(),
            tokens,
            SystemClock,
            SystemRandom,
        );
        let caller = runtime.block_on(log_in(&service));
        let readers =
            runtime.block_on(create_permission(&store, &caller, "Readers", &[Operation::ReadUser]));
        let assigners = runtime.block_on(create_permission(
            &store,
            &caller,
            "Assigners",
            &[Operation::AssignPermission],
        ));

        let started = Instant::now();
        let bulk = population(users);
        let assigner = &bulk[users / 4];
        let mut assignments: Vec<BulkAssignment> = bulk
            .iter()
            .map(|user| BulkAssignment {
                id: assignment_id().as_str().to_owned(),
                permission_id: readers.id.as_str().to_owned(),
                user_id: user.id.clone(),
            })
            .collect();
        assignments.push(BulkAssignment {
            id: assignment_id().as_str().to_owned(),
            permission_id: assigners.id.as_str().to_owned(),
            user_id: assigner.id.clone(),
        });
        runtime.block_on(direct.populate(
            caller.org_id().as_str(),
            &bulk,
            &assignments,
            SystemClock.now().unix_millis(),
        ));
        eprintln!(
            "{label}: {users} users and their assignments written in bulk in {:.1?}",
            started.elapsed()
        );

        let bare_target = bulk[users / 2].id.clone();
        // The bulk rows read back through the store as valid users, with
        // their assignments.
        for user in [&bulk[0], assigner, &bulk[users / 2], &bulk[users - 1]] {
            let id = UserId::parse(&user.id).unwrap();
            let found = runtime.block_on(store.find_user(&id)).unwrap().expect("stored");
            assert_eq!(found.org_id, *caller.org_id());
            assert_eq!(found.state, LifecycleState::Active);
            assert_eq!(found.username.as_str(), user.username);
            let held = if user.id == assigner.id { 2 } else { 1 };
            assert_eq!(found.assignments.len(), held);
        }
        let mut can_assign = vec![caller.id().clone(), UserId::parse(&assigner.id).unwrap()];
        can_assign.sort();
        let snapshot = runtime.block_on(store.assigners(caller.org_id())).unwrap();
        assert_eq!(snapshot.assigners, can_assign);
        Fixture {
            runtime,
            service,
            store,
            direct,
            caller,
            bare_target,
            assigners,
            next_target: Cell::new(0),
        }
    }

    /// A fresh target stored as `create_user` stores one, given
    /// `Assigners` as `assign_permission` gives it if `can_assign`, and a
    /// user action for its `DELETE`, stored as `Service::action` stores
    /// one.
    fn grant_archive(&self, can_assign: bool) -> GrantedArchive {
        let n = self.next_target.replace(self.next_target.get() + 1);
        let new = NewUser {
            id: UserId::from_random(&ports::random_array(&SystemRandom)),
            username: Username::parse(&format!("target{n}@bench.example")).unwrap(),
            kind: UserKind::EndUser,
            external_id: None,
            is_sso_required: false,
            credential: None,
        };
        let (user, event) = domain::create_user(&self.caller, new, SystemClock.now()).unwrap();
        let user_id = user.id.to_string();
        let grant = UserActionGrant {
            token: UserActionToken::from_random(&ports::random_array(&SystemRandom)),
            org_id: self.caller.org_id().clone(),
            user_id: self.caller.id().clone(),
            credential_uuid: self.caller.user().credential_uuid.clone().unwrap(),
            request: delete_request(&user_id),
            issued_at: SystemClock.now(),
            used_at: None,
        };
        let basis = Basis {
            actor: self.caller.id().clone(),
            actor_version: self.caller.user().version,
            guard: None,
        };
        let mut assignments = Vec::new();
        self.runtime.block_on(async {
            self.store.insert_user(&user, &[], &event, &basis).await.unwrap();
            if can_assign {
                let id = assignment_id();
                assignments.push(id.as_str().to_owned());
                let (assigned, event) = domain::assign_permission(
                    &self.caller,
                    &self.assigners,
                    &user,
                    id,
                    SystemClock.now(),
                )
                .unwrap();
                self.store.update_user(&assigned, &event, &basis).await.unwrap();
            }
            self.store.insert_user_action(&grant).await.unwrap();
        });
        let signed = SignedRequest { user_action: Some(grant.token), request: grant.request };
        GrantedArchive { user_id, assignments, signed }
    }

    fn archive_granted(&self, archive: &GrantedArchive) -> User {
        self.runtime
            .block_on(self.service.archive_user(&self.caller, &archive.signed, &archive.user_id))
            .expect("the user is archived")
    }
}

/// Creates a permission of the caller's org through the store, as
/// `create_permission` does.
async fn create_permission<S: Store>(
    store: &S,
    caller: &Caller,
    name: &str,
    operations: &[Operation],
) -> Permission {
    let id = PermissionId::from_random(&ports::random_array(&SystemRandom));
    let name = PermissionName::parse(name).unwrap();
    let (permission, event) =
        domain::create_permission(caller, id, name, operations.to_vec(), SystemClock.now());
    let basis =
        Basis { actor: caller.id().clone(), actor_version: caller.user().version, guard: None };
    store.insert_permission(&permission, &event, &basis).await.unwrap();
    permission
}

/// Creates the org, logs its admin in with a P-256 key and authenticates
/// the login token, as a client would.
async fn log_in<S: Store>(service: &Service<StorePorts<S>>) -> Caller {
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let spki = key.public_key().as_der().unwrap();
    let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref()));
    let username = "admin@bench.example";
    let created = service
        .create_org(OrgName::parse("Bench").unwrap(), Username::parse(username).unwrap(), pem)
        .await
        .unwrap();

    let issued = service.login_init(username, created.org.id.as_str()).await.unwrap();
    let client_data = client_data(&issued.challenge);
    let random = aws_lc_rs::rand::SystemRandom::new();
    let assertion = Assertion {
        cred_id: created.cred_id.as_str().to_owned(),
        signature: key.sign(&random, &client_data).unwrap().as_ref().to_vec(),
        client_data,
        authenticator_data: None,
    };
    let token = service.login(issued.challenge.id.as_str(), &assertion).await.unwrap();
    service.authenticate(&token).await.unwrap()
}

/// The client data a key signer signs for a challenge.
fn client_data(challenge: &Challenge) -> Vec<u8> {
    format!(r#"{{"type":"key.get","challenge":"{}"}}"#, challenge.challenge).into_bytes()
}

/// Whether criterion measures (`cargo bench` passes `--bench`) rather than
/// runs each benchmark once as a test (`cargo test --benches` does not).
fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--test")
}

/// The scales to run: the million only when measuring.
fn scales() -> Vec<(&'static str, usize)> {
    if measuring() {
        SCALES.to_vec()
    } else {
        eprintln!("stores: not measuring, so the 1m scale is skipped");
        SCALES.iter().copied().filter(|&(_, users)| users <= 1_000).collect()
    }
}

/// Runs `bare_update_<scale>`, `archive_<scale>` and
/// `archive_guarded_<scale>` on the fixture that `open` makes. The fixture
/// is made when the first of them runs, so a filter that selects none (or
/// `--list`) writes no population; it is answered, to be closed, if it was
/// made.
fn run_scale<S: Store, D: Direct>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    scale: &str,
    open: impl Fn() -> Fixture<S, D>,
) -> Option<Fixture<S, D>> {
    let fixture = OnceCell::new();
    let fixture_ref = || fixture.get_or_init(&open);

    group.bench_function(format!("bare_update_{scale}"), |b| {
        let f = fixture_ref();
        b.iter(|| f.runtime.block_on(f.direct.bare_update(black_box(&f.bare_target))))
    });

    for (name, can_assign) in [("archive", false), ("archive_guarded", true)] {
        group.bench_function(format!("{name}_{scale}"), |b| {
            let f = fixture_ref();
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let archive = f.grant_archive(can_assign);
                    let started = Instant::now();
                    let archived = f.archive_granted(black_box(&archive));
                    timed += started.elapsed();
                    black_box(archived);
                    f.runtime
                        .block_on(f.direct.delete_user(&archive.user_id, &archive.assignments));
                }
                timed
            })
        });
    }

    fixture.into_inner()
}

fn sqlite(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group("stores_sqlite");
    for (scale, users) in scales() {
        let path = dir.path().join(format!("stores-{scale}.db"));
        let open = || {
            Fixture::new(&format!("sqlite {scale}"), users, || async {
                let store = SqliteStore::connect(path.to_str().unwrap()).await.unwrap();
                (store, SqliteDirect::open(&path).await)
            })
        };
        if let Some(fixture) = run_scale(&mut group, scale, open) {
            fixture.runtime.block_on(fixture.store.close());
        }
    }
    group.finish();
}

/// A schema of the benchmark's own, dropped with the value.
struct Schema {
    server: String,
    name: String,
}

impl Schema {
    fn create(server: &str, scale: &str) -> Schema {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("bench_stores_{scale}_{}_{nanos}", std::process::id());
        let schema = Schema { server: server.to_owned(), name };
        block_on(execute(&schema.server, &format!("CREATE SCHEMA {}", schema.name)))
            .expect("the benchmark's schema is created");
        schema
    }

    /// The database's URL with the schema first in the `search_path`.
    fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.server, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(error) = block_on(execute(&self.server, &sql)) {
            eprintln!("the benchmark schema {} was not dropped: {error}", self.name);
        }
    }
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// Runs `sql` on a connection of its own to `url`.
async fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let connection = tokio::spawn(connection);
    client.batch_execute(sql).await?;
    drop(client);
    let _ = connection.await;
    Ok(())
}

fn postgres(c: &mut Criterion) {
    let Ok(server) = std::env::var(URL_VARIABLE) else {
        eprintln!("stores_postgres: skipped, set {URL_VARIABLE} to a PostgreSQL URL to run it");
        return;
    };
    let mut group = c.benchmark_group("stores_postgres");
    // Every commit waits for the WAL to reach the disk: a few milliseconds,
    // too slow for criterion's default hundred growing samples.
    group.sampling_mode(SamplingMode::Flat).sample_size(30);
    for (scale, users) in scales() {
        let schema = Schema::create(&server, scale);
        let url = schema.url();
        let open = || {
            Fixture::new(&format!("postgres {scale}"), users, || async {
                let store = PostgresStore::connect(&url).await.unwrap();
                (store, PostgresDirect::open(&url).await)
            })
        };
        if let Some(fixture) = run_scale(&mut group, scale, open) {
            fixture.store.close();
        }
        // The fixture's connections are closed; the schema can go.
        drop(schema);
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    sqlite(&mut criterion);
    postgres(&mut criterion);
    criterion.final_summary();
}
