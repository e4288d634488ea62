//! Test data and databases shared by the store's tests.
//!
//! Every test gets a schema of its own in the database that
//! `ORGUSERS_TEST_POSTGRES_URL` names, so tests run concurrently on one
//! database; the schema is dropped when the test ends, passed or failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use domain::{
    AssignmentId, AuditEvent, AuditKind, Caller, CredId, Credential, CredentialKind,
    CredentialUuid, ID_RANDOM_BYTES, LifecycleState, Operation, Org, OrgId, OrgName, Permission,
    PermissionAssignment, PermissionId, PermissionName, Timestamp, User, UserActionToken, UserId,
    UserKind, Username,
};
use ports::{Basis, OrgGuard, PermissionRepository, UserRepository};
use store_postgres::PostgresStore;
use tokio_postgres::NoTls;

/// The environment variable that names the database to test on.
pub(crate) const URL_VARIABLE: &str = "ORGUSERS_TEST_POSTGRES_URL";

/// The time every fixture is created at.
pub(crate) const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// A schema of its own for one test, dropped with the value.
pub(crate) struct Db {
    /// The URL of the database, as given.
    server: String,
    /// The schema's name.
    schema: String,
}

impl Db {
    /// A new, empty schema; `None`, after saying so, when no database is
    /// configured.
    pub(crate) async fn new() -> Option<Db> {
        let Ok(server) = std::env::var(URL_VARIABLE) else {
            // libtest captures `eprintln!` of passing tests; a direct write
            // to stderr is not captured, so the skip shows in a plain
            // `cargo test`. Once per test binary, not once per test.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the PostgreSQL store tests: set {URL_VARIABLE} to a PostgreSQL URL to run them"
                );
            });
            return None;
        };
        let schema = fresh_schema_name();
        execute(&server, &format!("CREATE SCHEMA {schema}")).await.expect("the schema is created");
        Some(Db { server, schema })
    }

    /// The URL of this schema: the database's, with the schema first in
    /// the `search_path` of every connection.
    pub(crate) fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.server, self.schema)
    }

    /// Connects as a server process would, by the URL.
    pub(crate) async fn open(&self) -> PostgresStore {
        PostgresStore::connect(&self.url()).await.expect("the store connects")
    }

    /// Connects as a server process would, with one more setting of the
    /// database's for every session, such as `deadlock_timeout=3s`.
    pub(crate) async fn open_with(&self, setting: &str) -> PostgresStore {
        let setting = setting.replace('=', "%3D");
        let url = format!("{}%20-c%20{setting}", self.url());
        PostgresStore::connect(&url).await.expect("the store connects")
    }

    /// A session of its own on this schema, behind the store's back, for a
    /// test that keeps a transaction open while the store works.
    pub(crate) async fn session(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.url(), NoTls).await.expect("a session connects");
        tokio::spawn(connection);
        client
    }

    /// Runs `sql` in this schema behind the store's back, as a bug or a
    /// hand edit would.
    pub(crate) async fn tamper(&self, sql: &str) {
        self.try_tamper(sql).await.expect("the tampering runs");
    }

    /// Runs `sql` in this schema behind the store's back, and answers
    /// whether the database took it.
    pub(crate) async fn try_tamper(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        execute(&self.url(), sql).await
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be shutting down:
        // a thread with a runtime of its own drops the schema.
        let server = self.server.clone();
        let drop_schema = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(execute(&server, &drop_schema))?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("the test schema {} was not dropped: {dropped:?}", self.schema);
        }
    }
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
    format!("t_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Distinct random bytes for each call: a counter written in base 36, so
/// every id drawn in a test run is different.
pub(crate) fn fresh_random() -> [u8; ID_RANDOM_BYTES] {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0; ID_RANDOM_BYTES];
    for byte in bytes.iter_mut().rev() {
        *byte = (n % 36) as u8;
        n /= 36;
    }
    bytes
}

/// A user-action token never drawn before in this test run.
pub(crate) fn fresh_token() -> UserActionToken {
    let mut bytes = [0; 32];
    bytes[..ID_RANDOM_BYTES].copy_from_slice(&fresh_random());
    UserActionToken::from_random(&bytes)
}

/// A user name; panics on an invalid one.
pub(crate) fn username(name: &str) -> Username {
    Username::parse(name).expect("a valid user name")
}

/// An org created in the store, with its admin and `OrgAdmin` permission.
pub(crate) struct OrgFixture {
    pub(crate) org: Org,
    pub(crate) permission: Permission,
    pub(crate) admin: User,
    pub(crate) credential: Credential,
    pub(crate) event: AuditEvent,
}

impl OrgFixture {
    /// Creates an org whose admin is `admin@<label>.example`.
    pub(crate) async fn create(store: &PostgresStore, label: &str) -> OrgFixture {
        let org = Org {
            id: OrgId::from_random(&fresh_random()),
            name: OrgName::parse(label).expect("a valid org name"),
            created_at: T0,
        };
        let permission =
            Permission::org_admin(PermissionId::from_random(&fresh_random()), org.id.clone(), T0);
        let mut admin =
            new_user(&org.id, &format!("admin@{label}.example"), UserKind::CustomerEmployee);
        admin.assignments.push(assignment(&permission));
        let credential = key_credential(&admin, "admin-key");
        admin.credential_uuid = Some(credential.uuid.clone());
        admin.is_registered = true;
        let event = event(AuditKind::UserCreated, &admin, &admin.id, T0);

        store
            .create_org(&org, &permission, &admin, &credential, &event)
            .await
            .expect("the org is created");
        OrgFixture { org, permission, admin, credential, event }
    }

    /// The admin as an authenticated caller.
    pub(crate) fn caller(&self) -> Caller {
        Caller::from_token_subject(self.admin.clone(), &self.org.id).expect("an active admin")
    }

    /// What a change by the admin, as created, is decided on: no guard.
    pub(crate) fn basis(&self) -> Basis {
        by(&self.admin)
    }

    /// What a change by the admin, as created, is decided on, with the
    /// org's `guard`.
    pub(crate) fn guarded(&self, guard: OrgGuard) -> Basis {
        Basis { guard: Some(guard), ..self.basis() }
    }

    /// Creates a permission of this org, by the admin.
    pub(crate) async fn create_permission(
        &self,
        store: &PostgresStore,
        name: &str,
        operations: &[Operation],
    ) -> Permission {
        let id = PermissionId::from_random(&fresh_random());
        let name = PermissionName::parse(name).expect("a valid permission name");
        let (permission, event) =
            domain::create_permission(&self.caller(), id, name, operations.to_vec(), T0);
        store
            .insert_permission(&permission, &event, &self.basis())
            .await
            .expect("the permission is inserted");
        permission
    }

    /// Inserts an active user of this org, created by the admin.
    pub(crate) async fn insert_user(
        &self,
        store: &PostgresStore,
        name: &str,
        kind: UserKind,
    ) -> User {
        let user = new_user(&self.org.id, name, kind);
        let created = event(AuditKind::UserCreated, &user, &self.admin.id, T0);
        store.insert_user(&user, &[], &created, &self.basis()).await.expect("the user is inserted");
        user
    }
}

/// What a change by `actor`, as read, is decided on, without the org's
/// guard.
pub(crate) fn by(actor: &User) -> Basis {
    Basis { actor: actor.id.clone(), actor_version: actor.version, guard: None }
}

/// An active user of `org` at version 0, without assignments or
/// credentials, not stored.
pub(crate) fn new_user(org: &OrgId, name: &str, kind: UserKind) -> User {
    User {
        id: UserId::from_random(&fresh_random()),
        org_id: org.clone(),
        kind,
        username: username(name),
        credential_uuid: None,
        is_registered: false,
        is_service_account: false,
        is_sso_required: false,
        external_id: None,
        state: LifecycleState::Active,
        assignments: Vec::new(),
        created_at: T0,
        version: 0,
    }
}

/// A new assignment of `permission`.
pub(crate) fn assignment(permission: &Permission) -> PermissionAssignment {
    PermissionAssignment {
        assignment_id: AssignmentId::from_random(&fresh_random()),
        permission_id: permission.id.clone(),
        permission_name: permission.name.as_str().to_owned(),
        operations: permission.operations.clone(),
    }
}

/// An active `Key` credential of `user`.
pub(crate) fn key_credential(user: &User, cred_id: &str) -> Credential {
    Credential {
        uuid: CredentialUuid::from_random(&fresh_random()),
        cred_id: CredId::parse(cred_id).expect("a valid credential id"),
        user_id: user.id.clone(),
        org_id: user.org_id.clone(),
        kind: CredentialKind::Key,
        name: String::new(),
        public_key_pem: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
            .to_owned(),
        sign_count: 0,
        relying_party_id: None,
        origin: None,
        is_active: true,
        created_at: T0,
    }
}

/// An active `Fido2` credential of `user` with this `credId`, registered
/// at `at`, whose authenticator counted 3.
pub(crate) fn passkey(user: &User, cred_id: &str, at: Timestamp) -> Credential {
    Credential {
        uuid: CredentialUuid::from_random(&fresh_random()),
        cred_id: CredId::parse(cred_id).expect("a valid credential id"),
        user_id: user.id.clone(),
        org_id: user.org_id.clone(),
        kind: CredentialKind::Fido2,
        name: format!("{cred_id} on a laptop"),
        public_key_pem:
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQ\n-----END PUBLIC KEY-----\n".to_owned(),
        sign_count: 3,
        relying_party_id: Some("example.com".to_owned()),
        origin: Some("https://app.example.com".to_owned()),
        is_active: true,
        created_at: at,
    }
}

/// `user`, as stored, registering `credential` itself: the user as it must
/// be stored and the event, as the domain decides them.
pub(crate) fn registration(user: &User, credential: &Credential) -> (User, AuditEvent) {
    let caller = Caller::from_token_subject(user.clone(), &user.org_id).expect("an active user");
    domain::register_credential(&caller, credential, credential.created_at)
        .expect("a valid credential name")
}

/// An audit event of `kind` about `user`, by `actor`, at `at`.
pub(crate) fn event(kind: AuditKind, user: &User, actor: &UserId, at: Timestamp) -> AuditEvent {
    AuditEvent {
        kind,
        org_id: user.org_id.clone(),
        user_id: user.id.clone(),
        permission_id: None,
        actor: actor.clone(),
        at,
    }
}

/// The backend process of `session`.
pub(crate) async fn backend_pid(session: &tokio_postgres::Client) -> i32 {
    session.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0)
}

/// Returns once some session waits for a lock that the session of backend
/// `pid` holds, as `observer` sees it.
pub(crate) async fn blocked_by(observer: &tokio_postgres::Client, pid: i32) {
    // Each look is a round trip to the server, so the loop spins no faster
    // than the server answers; it gives up long after any store would
    // have reached the lock.
    for _ in 0..100_000 {
        let row = observer
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                 WHERE $1 = ANY (pg_blocking_pids(pid)))",
                &[&pid],
            )
            .await
            .unwrap();
        if row.get::<_, bool>(0) {
            return;
        }
    }
    panic!("nothing waited for the locks of backend {pid}");
}
