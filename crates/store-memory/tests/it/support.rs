//! Builders for the records the tests store.

use domain::{
    AssignmentId, AuditEvent, AuditKind, Caller, CredId, Credential, CredentialKind,
    CredentialUuid, LifecycleState, Operation, Org, OrgId, OrgName, Permission,
    PermissionAssignment, PermissionId, PermissionName, Timestamp, User, UserId, UserKind,
    Username,
};
use ports::{Basis, OrgGuard, PermissionRepository, UserRepository};
use store_memory::MemoryStore;

/// A moment all tests share.
pub(crate) const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// Random bytes that differ for each `seed`, to make distinct ids.
pub(crate) fn random(seed: u32) -> [u8; 26] {
    let mut bytes = [7; 26];
    for (i, b) in seed.to_be_bytes().iter().enumerate() {
        // An id keeps each byte modulo 36 only, so a seed byte is split
        // into two base-36 digits to keep distinct seeds distinct.
        bytes[10 + i] = b % 36;
        bytes[20 + i] = b / 36;
    }
    bytes
}

/// The id of org number `seed`.
pub(crate) fn org_id(seed: u32) -> OrgId {
    OrgId::from_random(&random(seed))
}

/// The id of user number `seed`.
pub(crate) fn user_id(seed: u32) -> UserId {
    UserId::from_random(&random(seed))
}

/// A live user of `org` with this name and no assignments.
pub(crate) fn user(org: &OrgId, seed: u32, name: &str) -> User {
    User {
        id: user_id(seed),
        org_id: org.clone(),
        kind: UserKind::CustomerEmployee,
        username: Username::parse(name).unwrap(),
        credential_uuid: None,
        is_registered: false,
        is_service_account: false,
        is_sso_required: false,
        external_id: None,
        state: LifecycleState::Active,
        assignments: Vec::new(),
        created_at: NOW,
        version: 0,
    }
}

/// An event of `kind` about `user`, made by `actor`.
pub(crate) fn event(kind: AuditKind, user: &User, actor: &UserId) -> AuditEvent {
    AuditEvent {
        kind,
        org_id: user.org_id.clone(),
        user_id: user.id.clone(),
        permission_id: None,
        actor: actor.clone(),
        at: NOW,
    }
}

/// The event that records the creation of `user` by itself.
pub(crate) fn created(user: &User) -> AuditEvent {
    event(AuditKind::UserCreated, user, &user.id)
}

/// Creates permission number `seed` in `org`, by its admin.
pub(crate) async fn create_permission(
    store: &MemoryStore,
    org: &NewOrg,
    seed: u32,
    name: &str,
    operations: &[Operation],
) -> Permission {
    let id = PermissionId::from_random(&random(seed));
    let name = PermissionName::parse(name).unwrap();
    let (permission, event) =
        domain::create_permission(&org.caller(), id, name, operations.to_vec(), NOW);
    store.insert_permission(&permission, &event, &org.basis()).await.unwrap();
    permission
}

/// An assignment of `permission`, as a user value lists it.
pub(crate) fn assignment(permission: &Permission, seed: u32) -> PermissionAssignment {
    PermissionAssignment {
        assignment_id: AssignmentId::from_random(&random(seed)),
        permission_id: permission.id.clone(),
        permission_name: permission.name.as_str().to_owned(),
        operations: permission.operations.clone(),
    }
}

/// A `Key` credential of `user`.
pub(crate) fn credential(user: &User, seed: u32, active: bool) -> Credential {
    Credential {
        uuid: CredentialUuid::from_random(&random(seed)),
        cred_id: CredId::parse(&format!("cred-{seed}")).unwrap(),
        user_id: user.id.clone(),
        org_id: user.org_id.clone(),
        kind: CredentialKind::Key,
        name: String::new(),
        public_key_pem: "-----BEGIN PUBLIC KEY-----".to_owned(),
        sign_count: 0,
        relying_party_id: None,
        origin: None,
        is_active: active,
        created_at: NOW,
    }
}

/// A `Fido2` credential of `user` with this `credId`, registered at `at`.
pub(crate) fn passkey(user: &User, seed: u32, cred_id: &str, at: Timestamp) -> Credential {
    Credential {
        uuid: CredentialUuid::from_random(&random(seed)),
        cred_id: CredId::parse(cred_id).unwrap(),
        user_id: user.id.clone(),
        org_id: user.org_id.clone(),
        kind: CredentialKind::Fido2,
        name: format!("passkey {seed}"),
        public_key_pem: "-----BEGIN PUBLIC KEY-----".to_owned(),
        sign_count: 3,
        relying_party_id: Some("example.com".to_owned()),
        origin: Some("https://app.example.com".to_owned()),
        is_active: true,
        created_at: at,
    }
}

/// An org created in `store` with its admin, who holds `OrgAdmin`.
pub(crate) struct NewOrg {
    /// The org's id.
    pub(crate) id: OrgId,
    /// The admin, as stored.
    pub(crate) admin: User,
    /// The admin's permission.
    pub(crate) admin_permission: Permission,
}

impl NewOrg {
    /// The admin as an authenticated caller.
    pub(crate) fn caller(&self) -> Caller {
        Caller::from_token_subject(self.admin.clone(), &self.id).unwrap()
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
}

/// What a change by `actor`, as read, is decided on, without the org's
/// guard.
pub(crate) fn by(actor: &User) -> Basis {
    Basis { actor: actor.id.clone(), actor_version: actor.version, guard: None }
}

/// The seed of the org whose admin [`operator`] is.
const OPERATOR_ORG: u32 = 900;

/// What a change by an operator is decided on: the admin of an org of its
/// own, created on first use (so a test that races inserts asks for it
/// before the race). Tests of users in orgs they never created need a
/// caller that exists; a store compares only the caller's version, not
/// whether it may act.
pub(crate) async fn operator(store: &MemoryStore) -> Basis {
    let admin = user_id(1_000_000 + OPERATOR_ORG);
    if let Some(admin) = store.find_user(&admin).await.unwrap() {
        return by(&admin);
    }
    by(&create_org(store, OPERATOR_ORG).await.admin)
}

/// Creates org number `seed` with an admin named `admin@<seed>.io`.
pub(crate) async fn create_org(store: &MemoryStore, seed: u32) -> NewOrg {
    let id = org_id(seed);
    let org = Org { id: id.clone(), name: OrgName::parse("Acme").unwrap(), created_at: NOW };
    let admin_permission =
        Permission::org_admin(PermissionId::from_random(&random(seed)), id.clone(), NOW);
    let mut admin = user(&id, 1_000_000 + seed, &format!("admin@{seed}.io"));
    admin.assignments.push(assignment(&admin_permission, seed));
    let credential = credential(&admin, seed, true);
    admin.credential_uuid = Some(credential.uuid.clone());
    admin.is_registered = true;
    store.create_org(&org, &admin_permission, &admin, &credential, &created(&admin)).await.unwrap();
    NewOrg { id, admin, admin_permission }
}
