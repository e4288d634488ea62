//! The ports: what orgusers' use cases need from the world, as traits.
//!
//! Each trait is a contract that an adapter fulfils: an in-memory map, a
//! SQLite file, a PostgreSQL database, a signature library, a JWT library.
//! The use cases in `app` are generic over these traits and never name an
//! adapter. With the `mocks` feature every trait also has a `mockall`
//! double (`MockUserRepository`, ...), for unit tests of the use cases.
//!
//! Clock and randomness are ports too, so the domain stays pure and tests
//! can pin both.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use domain::{
    Assignment, AuditEvent, Challenge, ChallengeId, CredId, Credential, CredentialUuid, Org, OrgId,
    Permission, PermissionId, Timestamp, User, UserActionGrant, UserActionToken, UserId, UserKind,
    Username,
};

/// Any error an adapter wraps; never shown to clients.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Occurs when a store cannot answer: the database is unreachable, a
/// statement failed, stored data is corrupt. Not a client's fault.
#[derive(Debug, thiserror::Error)]
#[error("the store failed: {0}")]
pub struct StoreError(#[source] pub BoxError);

impl StoreError {
    /// Wraps any adapter error.
    pub fn new(error: impl Into<BoxError>) -> StoreError {
        StoreError(error.into())
    }
}

/// Occurs when a new user cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// Occurs when a live user of the same org has the same user name key.
    #[error("the user name is taken")]
    UsernameTaken,
    /// Occurs when the caller's record changed since the insert was
    /// decided.
    #[error("the caller changed meanwhile")]
    Conflict,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a changed user cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    /// Occurs when a version is not the one the change was decided on:
    /// someone else changed the user, the caller or the org's guard
    /// meanwhile.
    #[error("the user changed meanwhile")]
    Conflict,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a new credential cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum AddCredentialError {
    /// Occurs when the stored user's version is not the one the change
    /// was decided on.
    #[error("the user changed meanwhile")]
    Conflict,
    /// Occurs when the user already has a credential with this `credId`.
    #[error("the credential id is taken")]
    CredIdTaken,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The org-wide version that every change which takes the power to assign
/// permissions from someone compares and sets, so that two such changes
/// never both pass the guard on the same picture of the org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgGuard {
    /// The org.
    pub org_id: OrgId,
    /// The guard version the change was decided on.
    pub version: u64,
}

/// What a change by a caller was decided on, besides the record it
/// changes: the caller's own record as read, and, for a change that could
/// take the power to assign permissions from someone, the org's guard.
///
/// A user's version moves whenever anything that decides what the user
/// may do changes: its state, its assignments, the operations of a
/// permission it holds. A store that compares the caller's version in the
/// transaction of the change therefore refuses a change decided for a
/// caller who was deactivated, archived or lost the right meanwhile, and
/// two users who act on each other at once cannot both succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basis {
    /// The caller.
    pub actor: UserId,
    /// The version of the caller's record the change was decided on.
    pub actor_version: u64,
    /// The org's guard version, when the change could take the power to
    /// assign from someone.
    pub guard: Option<OrgGuard>,
}

/// Who can assign permissions in an org, as of one guard version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignersSnapshot {
    /// The guard version this picture belongs to.
    pub guard: OrgGuard,
    /// The org's active users that hold `Permissions:Assign` through a live
    /// assignment of a live permission.
    pub assigners: Vec<UserId>,
}

/// A page of users, in the order of their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// At most the asked number of users.
    pub users: Vec<User>,
    /// Whether more users follow the last one.
    pub has_more: bool,
}

/// Users, their credentials, orgs and permissions: the records that change
/// together, each change in one transaction with its audit event.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// Stores a new org with its `OrgAdmin` permission and first admin (with
    /// the admin's assignment and credential), and the audit event, in one
    /// transaction.
    async fn create_org(
        &self,
        org: &Org,
        admin_permission: &Permission,
        admin: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// How many orgs exist.
    async fn count_orgs(&self) -> Result<u64, StoreError>;

    /// Stores a new user (version 0), its assignments, its credentials (none
    /// or one today), and the audit event, in one transaction.
    ///
    /// MUST return [`InsertUserError::UsernameTaken`], and store nothing,
    /// when a user of the same org that is not archived has the same
    /// [`Username::key`], even when another process inserts it
    /// concurrently; and [`InsertUserError::Conflict`] when the caller's
    /// stored version is not `basis.actor_version`.
    async fn insert_user(
        &self,
        user: &User,
        credentials: &[Credential],
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertUserError>;

    /// The user with this id, in any org and in any state, archived
    /// included, with its current assignments.
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// The user of `org` that is not archived and has this user name key.
    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> Result<Option<User>, StoreError>;

    /// Replaces the stored user with `user`, ends the stored assignments that
    /// `user.assignments` no longer lists, adds those it lists that are not
    /// stored yet, and appends `event`, in one transaction. The stored
    /// version becomes `user.version + 1`. With a guard in `basis`, the
    /// org's guard version is compared and bumped in the same transaction.
    ///
    /// MUST return [`UpdateUserError::Conflict`], and change nothing, when
    /// the stored version is not `user.version`, the caller's is not
    /// `basis.actor_version`, or the org's guard version is not the
    /// guard's; the caller's record MUST be held unchanged until the
    /// transaction ends, so that of two users changing each other at once
    /// one conflicts.
    async fn update_user(
        &self,
        user: &User,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdateUserError>;

    /// Up to `limit` users of `org` that are not archived, optionally of one
    /// kind, with ids greater than `after`, in ascending id order.
    ///
    /// Because ids never change, a walk through the pages sees every user
    /// that existed throughout the walk exactly once.
    async fn list_users(
        &self,
        org: &OrgId,
        kind: Option<UserKind>,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UserPage, StoreError>;

    /// The credential of `user` with this public id, active or not.
    async fn find_credential(
        &self,
        user: &UserId,
        cred_id: &CredId,
    ) -> Result<Option<Credential>, StoreError>;

    /// Every active credential of `user`, oldest first.
    async fn list_credentials(&self, user: &UserId) -> Result<Vec<Credential>, StoreError>;

    /// Stores `credential`, replaces the stored user with `user` (now
    /// registered, with its primary credential) and appends `event`, in
    /// one transaction. The stored version becomes `user.version + 1`.
    ///
    /// MUST return [`AddCredentialError::Conflict`] when the stored version
    /// is not `user.version`, and [`AddCredentialError::CredIdTaken`] when
    /// the user already has a credential with `credential.cred_id`, even
    /// one another process adds at the same moment; nothing changes then.
    async fn add_credential(
        &self,
        user: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), AddCredentialError>;

    /// Raises the stored signature counter of a credential to `count`.
    ///
    /// MUST store `count` and return `true` only when the stored counter
    /// is below `count`, and otherwise return `false` and change nothing,
    /// atomically: of two processes that raise one counter to the same
    /// value, exactly one gets `true`.
    async fn advance_sign_count(
        &self,
        credential: &CredentialUuid,
        count: u32,
    ) -> Result<bool, StoreError>;
}

/// Occurs when a new permission cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertPermissionError {
    /// Occurs when a live permission of the same org has the same name.
    #[error("the permission name is taken")]
    NameTaken,
    /// Occurs when the caller's record changed since the insert was
    /// decided.
    #[error("the caller changed meanwhile")]
    Conflict,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a changed permission cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum UpdatePermissionError {
    /// Occurs when the permission, the caller or the org's guard changed
    /// meanwhile.
    #[error("the permission changed meanwhile")]
    Conflict,
    /// Occurs when another live permission of the org has the new name.
    #[error("the permission name is taken")]
    NameTaken,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A page of permissions, in the order of their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionPage {
    /// At most the asked number of permissions.
    pub permissions: Vec<Permission>,
    /// Whether more permissions follow the last one.
    pub has_more: bool,
}

/// Permissions (roles) and their assignments. Assignments are made and
/// ended through [`UserRepository::update_user`], with the user they
/// belong to; this trait stores the permissions themselves and answers
/// questions across users.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait PermissionRepository: Send + Sync + 'static {
    /// Stores a new permission (version 0) and the audit event, in one
    /// transaction.
    ///
    /// MUST return [`InsertPermissionError::NameTaken`], and store nothing,
    /// when a live permission of the same org has the same name; and
    /// [`InsertPermissionError::Conflict`] when the caller's stored version
    /// is not `basis.actor_version`.
    async fn insert_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError>;

    /// The permission with this id, in any org, archived included.
    async fn find_permission(&self, id: &PermissionId) -> Result<Option<Permission>, StoreError>;

    /// Up to `limit` permissions of `org`, archived included, with ids
    /// greater than `after`, in ascending id order.
    async fn list_permissions(
        &self,
        org: &OrgId,
        after: Option<PermissionId>,
        limit: usize,
    ) -> Result<PermissionPage, StoreError>;

    /// Replaces the stored permission with `permission` and appends
    /// `event`, in one transaction; the stored version becomes
    /// `permission.version + 1`. When `permission.is_archived`, every live
    /// assignment of it ends in the same transaction. When its operations
    /// change or it is archived, the version of every user holding it
    /// moves in the same transaction, since what they may do changed. With
    /// a guard in `basis`, the org's guard version is compared and bumped
    /// too.
    ///
    /// MUST return [`UpdatePermissionError::Conflict`], and change nothing,
    /// when the stored version is not `permission.version`, the caller's is
    /// not `basis.actor_version` (held unchanged until the transaction
    /// ends), or the guard version is not the guard's; and `NameTaken` when
    /// another live permission of the org has the new name.
    async fn update_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdatePermissionError>;

    /// The live assignments of a permission, oldest first.
    async fn list_assignments(
        &self,
        permission: &PermissionId,
    ) -> Result<Vec<Assignment>, StoreError>;

    /// Who can assign permissions in `org` now, with the guard version that
    /// picture belongs to. Both MUST come from one consistent read.
    async fn assigners(&self, org: &OrgId) -> Result<AssignersSnapshot, StoreError>;
}

/// Things that are spent once: challenges, user-action grants and request
/// nonces.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait OneTimeStore: Send + Sync + 'static {
    /// Stores a newly issued challenge.
    async fn insert_challenge(&self, challenge: &Challenge) -> Result<(), StoreError>;

    /// Removes the challenge and returns it.
    ///
    /// MUST return it to at most one caller, even when many callers in many
    /// processes take the same id at once.
    async fn take_challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError>;

    /// Stores a newly issued user-action grant, unspent.
    async fn insert_user_action(&self, grant: &UserActionGrant) -> Result<(), StoreError>;

    /// The grant for this token, spent or not.
    async fn find_user_action(
        &self,
        token: &UserActionToken,
    ) -> Result<Option<UserActionGrant>, StoreError>;

    /// Marks the grant spent at `now`.
    ///
    /// MUST return `true` to exactly one caller for a token that was unspent,
    /// even when many callers in many processes spend it at once, and
    /// `false` to every other.
    async fn spend_user_action(
        &self,
        token: &UserActionToken,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records that a request presented the nonce `nonce`. The use cases
    /// refuse it as stale after `expires_at`, so its record may be
    /// forgotten then.
    ///
    /// MUST return `true` to exactly one caller for a nonce never recorded
    /// before, even when many callers in many processes present it at once,
    /// and `false` to every other.
    async fn use_nonce(&self, nonce: &str, expires_at: Timestamp) -> Result<bool, StoreError>;
}

/// Keeps the server's own secrets, shared by every server instance that
/// uses one database.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The login-token signing key (an Ed25519 PKCS#8 document). Stores
    /// `candidate` when no key is stored yet, then answers the stored key.
    ///
    /// MUST answer the same key to every caller in every process, even when
    /// several store a candidate at once.
    async fn token_signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;
}

/// Reads the audit log that [`UserRepository`] writes.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Every event of `org`, oldest first.
    async fn events(&self, org: &OrgId) -> Result<Vec<AuditEvent>, StoreError>;
}

/// The algorithm a public key is for; the stored key decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256, DER signatures.
    EcdsaP256,
    /// ECDSA on secp256k1 with SHA-256, DER signatures.
    EcdsaSecp256k1,
    /// Ed25519, raw 64-byte signatures.
    Ed25519,
    /// RSA PKCS#1 v1.5 with SHA-256, keys of 2048 bits or more.
    RsaPkcs1Sha256,
}

/// Occurs when a public key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publicKey {reason}")]
pub struct PublicKeyError {
    /// What is wrong with it, in words a client can act on.
    pub reason: String,
}

/// Occurs when a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Occurs when the signature is malformed or does not match.
    #[error("invalid signature")]
    InvalidSignature,
    /// Occurs when the stored key can no longer be used.
    #[error(transparent)]
    PublicKey(#[from] PublicKeyError),
}

/// Verifies what credentials sign.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait SignatureVerifier: Send + Sync + 'static {
    /// Parses a PEM public key (SubjectPublicKeyInfo) and tells which
    /// algorithm it is for. MUST refuse keys it could not verify with.
    async fn check_public_key(&self, pem: &str) -> Result<KeyAlgorithm, PublicKeyError>;

    /// Turns a COSE_Key, as a WebAuthn authenticator reports a new
    /// credential's public key, into the PEM SubjectPublicKeyInfo of the
    /// same key. MUST refuse a key it could not verify with, and a key
    /// whose declared COSE algorithm does not fit its type and curve.
    async fn public_key_from_cose(&self, cose_key: &[u8]) -> Result<String, PublicKeyError>;

    /// Verifies `signature` over exactly `message` with the PEM public key.
    /// The key's own algorithm decides how.
    async fn verify(
        &self,
        public_key_pem: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError>;
}

/// What a login token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthClaims {
    /// The user who logged in.
    pub user_id: UserId,
    /// The user's org.
    pub org_id: OrgId,
    /// A unique id for this token.
    pub token_id: String,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

/// Occurs when a login token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Occurs when the token is malformed, forged or expired.
    #[error("the token is not valid")]
    Invalid,
}

/// Issues and checks login tokens.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait AuthTokens: Send + Sync + 'static {
    /// A signed token carrying `claims`.
    async fn issue(&self, claims: &AuthClaims) -> Result<String, StoreError>;

    /// The claims of `token`, if it is authentic and not expired at `now`.
    async fn verify(&self, token: &str, now: Timestamp) -> Result<AuthClaims, TokenError>;
}

/// Tells the time.
#[cfg_attr(any(test, feature = "mocks"), automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// Draws random bytes from a cryptographic generator.
#[cfg_attr(any(test, feature = "mocks"), automock)]
pub trait Randomness: Send + Sync + 'static {
    /// Fills `buffer` with random bytes.
    fn fill(&self, buffer: &mut [u8]);
}

/// Draws an array of random bytes.
pub fn random_array<const N: usize>(random: &impl Randomness) -> [u8; N] {
    let mut bytes = [0; N];
    random.fill(&mut bytes);
    bytes
}
