//! Test data and databases shared by the store's tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::{
    AssignmentId, AuditEvent, AuditKind, Caller, CredId, Credential, CredentialKind,
    CredentialUuid, ID_RANDOM_BYTES, LifecycleState, Operation, Org, OrgId, OrgName, Permission,
    PermissionAssignment, PermissionId, PermissionName, Timestamp, User, UserActionToken, UserId,
    UserKind, Username,
};
use ports::{Basis, OrgGuard, PermissionRepository, UserRepository};
use store_sqlite::SqliteStore;
use tempfile::TempDir;

/// The time every fixture is created at.
pub(crate) const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// A database file in a directory of its own, removed with the value.
pub(crate) struct Db {
    dir: TempDir,
}

impl Db {
    /// A new directory; the database file is created by the first open.
    pub(crate) fn new() -> Db {
        Db { dir: tempfile::tempdir().expect("a temporary directory") }
    }

    /// The database file's path.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("orgusers.db")
    }

    /// Opens the database as a server process would, by its path.
    pub(crate) async fn open(&self) -> SqliteStore {
        let path = self.path();
        SqliteStore::connect(path.to_str().expect("a UTF-8 path")).await.expect("the store opens")
    }
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
    pub(crate) async fn create(store: &SqliteStore, label: &str) -> OrgFixture {
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
        store: &SqliteStore,
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
        store: &SqliteStore,
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
