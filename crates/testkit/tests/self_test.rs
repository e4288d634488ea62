//! The kit catches broken stores: it runs on a wrapper of the memory store
//! that breaks one promise of the ports, and must fail, naming what broke.
//! The same wrapper without a fault must pass, so the failures come from
//! the faults and not from the wrapper.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::{
    Assignment, AuditEvent, Challenge, ChallengeId, CredId, Credential, CredentialUuid, Org, OrgId,
    Permission, PermissionId, Timestamp, User, UserActionGrant, UserActionToken, UserId, UserKind,
    Username,
};
use ports::{
    AddCredentialError, AssignersSnapshot, AuditLog, Basis, InsertPermissionError, InsertUserError,
    OneTimeStore, PermissionPage, PermissionRepository, StoreError, UpdatePermissionError,
    UpdateUserError, UserPage, UserRepository,
};
use store_memory::MemoryStore;

/// The one promise a [`Faulty`] store breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// None: the wrapper only passes calls on.
    None,
    /// `update_user` stores whatever version it is given: lost updates.
    IgnoresVersions,
    /// `take_challenge` leaves the challenge in the store.
    KeepsChallenges,
    /// User-action grants never read as spent, and spend again.
    ForgetsSpending,
    /// Every nonce is new to it.
    ForgetsNonces,
    /// `add_credential` stores whatever version it is given.
    RegistersOverVersions,
    /// `add_credential` answers a taken `credId` by storing the rest of the
    /// change without the credential.
    AcceptsTakenCredIds,
    /// `add_credential` stores the credential but leaves the user as it
    /// was, unregistered and without a primary credential.
    ForgetsRegistration,
    /// `advance_sign_count` also "raises" a counter to its own value.
    CountsEqualAsHigher,
    /// Every write takes the caller's version to be the one it was decided
    /// on: a change lands for a caller who changed meanwhile.
    IgnoresCallerVersions,
    /// `update_permission` leaves its holders' versions where they were
    /// when it changes what they may do.
    ForgetsHolders,
}

/// The memory store, with one fault.
#[derive(Debug, Clone)]
struct Faulty {
    inner: MemoryStore,
    fault: Fault,
    /// The counter of every credential stored through the wrapper, which
    /// the memory store does not look up by uuid.
    counts: Arc<Mutex<HashMap<CredentialUuid, u32>>>,
    /// How far each user's version in the memory store is ahead of the one
    /// the wrapper shows: the moves of holders' versions it hides.
    hidden: Arc<Mutex<HashMap<UserId, u64>>>,
}

impl Faulty {
    fn new(fault: Fault) -> Faulty {
        Faulty { inner: MemoryStore::new(), fault, counts: Arc::default(), hidden: Arc::default() }
    }

    /// How far `user`'s stored version is ahead of the one shown.
    fn hidden(&self, user: &UserId) -> u64 {
        self.hidden.lock().unwrap().get(user).copied().unwrap_or(0)
    }

    /// `user` with the version the wrapper shows.
    fn shown(&self, user: User) -> User {
        User { version: user.version - self.hidden(&user.id), ..user }
    }

    /// `user` with the version the memory store holds.
    fn stored(&self, user: &User) -> User {
        User { version: user.version + self.hidden(&user.id), ..user.clone() }
    }

    /// `basis` as the memory store must see it: with the caller's stored
    /// version, or the one it holds now when the fault ignores it.
    async fn basis(&self, basis: &Basis) -> Result<Basis, StoreError> {
        let actor_version = match self.inner.find_user(&basis.actor).await? {
            Some(actor) if self.fault == Fault::IgnoresCallerVersions => actor.version,
            _ => basis.actor_version + self.hidden(&basis.actor),
        };
        Ok(Basis { actor_version, ..basis.clone() })
    }

    /// The stored versions of `permission`'s live holders.
    async fn holder_versions(
        &self,
        permission: &PermissionId,
    ) -> Result<Vec<(UserId, u64)>, StoreError> {
        let mut versions = Vec::new();
        for assignment in self.inner.list_assignments(permission).await? {
            if let Some(holder) = self.inner.find_user(&assignment.user_id).await? {
                versions.push((holder.id, holder.version));
            }
        }
        Ok(versions)
    }

    /// Notes the counters of credentials just stored.
    fn note(&self, credentials: &[Credential]) {
        let mut counts = self.counts.lock().unwrap();
        counts.extend(credentials.iter().map(|c| (c.uuid.clone(), c.sign_count)));
    }
}

#[async_trait]
impl UserRepository for Faulty {
    async fn create_org(
        &self,
        org: &Org,
        admin_permission: &Permission,
        admin: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.create_org(org, admin_permission, admin, credential, event).await?;
        self.note(std::slice::from_ref(credential));
        Ok(())
    }

    async fn count_orgs(&self) -> Result<u64, StoreError> {
        self.inner.count_orgs().await
    }

    async fn insert_user(
        &self,
        user: &User,
        credentials: &[Credential],
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertUserError> {
        let basis = self.basis(basis).await?;
        self.inner.insert_user(user, credentials, event, &basis).await?;
        self.note(credentials);
        Ok(())
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.inner.find_user(id).await?.map(|user| self.shown(user)))
    }

    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> Result<Option<User>, StoreError> {
        let found = self.inner.find_user_by_username(org, username).await?;
        Ok(found.map(|user| self.shown(user)))
    }

    async fn update_user(
        &self,
        user: &User,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdateUserError> {
        let basis = self.basis(basis).await?;
        if self.fault == Fault::IgnoresVersions {
            if let Some(stored) = self.inner.find_user(&user.id).await? {
                let current = User { version: stored.version, ..user.clone() };
                return self.inner.update_user(&current, event, &basis).await;
            }
        }
        self.inner.update_user(&self.stored(user), event, &basis).await
    }

    async fn list_users(
        &self,
        org: &OrgId,
        kind: Option<UserKind>,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UserPage, StoreError> {
        let page = self.inner.list_users(org, kind, after, limit).await?;
        let users = page.users.into_iter().map(|user| self.shown(user)).collect();
        Ok(UserPage { users, ..page })
    }

    async fn find_credential(
        &self,
        user: &UserId,
        cred_id: &CredId,
    ) -> Result<Option<Credential>, StoreError> {
        self.inner.find_credential(user, cred_id).await
    }

    async fn list_credentials(&self, user: &UserId) -> Result<Vec<Credential>, StoreError> {
        self.inner.list_credentials(user).await
    }

    async fn add_credential(
        &self,
        user: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), AddCredentialError> {
        let stored = self.inner.find_user(&user.id).await?;
        let mut user = self.stored(user);
        match (self.fault, &stored) {
            (Fault::RegistersOverVersions, Some(stored)) => user.version = stored.version,
            (Fault::ForgetsRegistration, Some(stored)) => {
                user.is_registered = stored.is_registered;
                user.credential_uuid = stored.credential_uuid.clone();
            }
            _ => {}
        }
        match self.inner.add_credential(&user, credential, event).await {
            Err(AddCredentialError::CredIdTaken) if self.fault == Fault::AcceptsTakenCredIds => {
                let basis =
                    Basis { actor: user.id.clone(), actor_version: user.version, guard: None };
                self.inner.update_user(&user, event, &basis).await.map_err(|e| match e {
                    UpdateUserError::Conflict => AddCredentialError::Conflict,
                    UpdateUserError::Store(e) => AddCredentialError::Store(e),
                })
            }
            Ok(()) => {
                self.note(std::slice::from_ref(credential));
                Ok(())
            }
            other => other,
        }
    }

    async fn advance_sign_count(
        &self,
        credential: &CredentialUuid,
        count: u32,
    ) -> Result<bool, StoreError> {
        let raised = self.inner.advance_sign_count(credential, count).await?;
        let mut counts = self.counts.lock().unwrap();
        let equal = counts.get(credential) == Some(&count);
        if raised {
            counts.insert(credential.clone(), count);
        }
        Ok(raised || (equal && self.fault == Fault::CountsEqualAsHigher))
    }
}

#[async_trait]
impl PermissionRepository for Faulty {
    async fn insert_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError> {
        let basis = self.basis(basis).await?;
        self.inner.insert_permission(permission, event, &basis).await
    }

    async fn find_permission(&self, id: &PermissionId) -> Result<Option<Permission>, StoreError> {
        self.inner.find_permission(id).await
    }

    async fn list_permissions(
        &self,
        org: &OrgId,
        after: Option<PermissionId>,
        limit: usize,
    ) -> Result<PermissionPage, StoreError> {
        self.inner.list_permissions(org, after, limit).await
    }

    async fn update_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdatePermissionError> {
        let basis = self.basis(basis).await?;
        let before = self.holder_versions(&permission.id).await?;
        self.inner.update_permission(permission, event, &basis).await?;
        if self.fault == Fault::ForgetsHolders {
            // Whatever the memory store moved, the wrapper shows unmoved.
            let mut moved = Vec::new();
            for (holder, version) in before {
                if let Some(after) = self.inner.find_user(&holder).await? {
                    moved.push((holder, after.version - version));
                }
            }
            let mut hidden = self.hidden.lock().unwrap();
            for (holder, by) in moved {
                *hidden.entry(holder).or_default() += by;
            }
        }
        Ok(())
    }

    async fn list_assignments(
        &self,
        permission: &PermissionId,
    ) -> Result<Vec<Assignment>, StoreError> {
        self.inner.list_assignments(permission).await
    }

    async fn assigners(&self, org: &OrgId) -> Result<AssignersSnapshot, StoreError> {
        self.inner.assigners(org).await
    }
}

#[async_trait]
impl OneTimeStore for Faulty {
    async fn insert_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        self.inner.insert_challenge(challenge).await
    }

    async fn take_challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        let taken = self.inner.take_challenge(id).await?;
        if let (Fault::KeepsChallenges, Some(challenge)) = (self.fault, &taken) {
            self.inner.insert_challenge(challenge).await?;
        }
        Ok(taken)
    }

    async fn insert_user_action(&self, grant: &UserActionGrant) -> Result<(), StoreError> {
        self.inner.insert_user_action(grant).await
    }

    async fn find_user_action(
        &self,
        token: &UserActionToken,
    ) -> Result<Option<UserActionGrant>, StoreError> {
        let grant = self.inner.find_user_action(token).await?;
        if self.fault == Fault::ForgetsSpending {
            return Ok(grant.map(|grant| UserActionGrant { used_at: None, ..grant }));
        }
        Ok(grant)
    }

    async fn spend_user_action(
        &self,
        token: &UserActionToken,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let spent = self.inner.spend_user_action(token, now).await?;
        Ok(spent || self.fault == Fault::ForgetsSpending)
    }

    async fn use_nonce(&self, nonce: &str, expires_at: Timestamp) -> Result<bool, StoreError> {
        let fresh = self.inner.use_nonce(nonce, expires_at).await?;
        Ok(fresh || self.fault == Fault::ForgetsNonces)
    }
}

#[async_trait]
impl AuditLog for Faulty {
    async fn events(&self, org: &OrgId) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.events(org).await
    }
}

/// Runs the kit on a store with `fault` and answers its panic message, if
/// it failed. The seed is fixed so that the outcome does not depend on the
/// run; 64 sequences reach every kind of step many times.
fn run_with(fault: Fault) -> Option<String> {
    let config = testkit::Config { cases: 64, seed: Some(7), ..testkit::Config::default() };
    let run = catch_unwind(AssertUnwindSafe(|| {
        testkit::check_adapter(|| async move { Faulty::new(fault) }, config)
    }));
    let panic = run.err()?;
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    Some(message)
}

#[test]
fn a_store_that_only_passes_calls_on_passes() {
    assert_eq!(run_with(Fault::None), None);
}

#[test]
fn a_store_that_ignores_versions_fails_on_a_stale_write() {
    let message = run_with(Fault::IgnoresVersions).expect("the kit must fail");
    assert!(message.contains("Stale"), "{message}");
    assert!(message.contains("Conflict"), "{message}");
}

#[test]
fn a_store_that_keeps_taken_challenges_fails_on_a_second_answer() {
    let message = run_with(Fault::KeepsChallenges).expect("the kit must fail");
    assert!(message.contains("ChallengeNotValid"), "{message}");
}

#[test]
fn a_store_that_forgets_spent_user_actions_fails_on_a_replay() {
    let message = run_with(Fault::ForgetsSpending).expect("the kit must fail");
    assert!(message.contains("UserActionUsed"), "{message}");
}

#[test]
fn a_store_that_forgets_nonces_fails_on_a_replayed_nonce() {
    let message = run_with(Fault::ForgetsNonces).expect("the kit must fail");
    assert!(message.contains("NonceUsed"), "{message}");
}

#[test]
fn a_store_that_registers_over_a_changed_version_fails_on_a_stale_registration() {
    let message = run_with(Fault::RegistersOverVersions).expect("the kit must fail");
    assert!(message.contains("Registration"), "{message}");
    assert!(message.contains("Conflict"), "{message}");
}

#[test]
fn a_store_that_accepts_a_taken_cred_id_fails_on_a_second_registration() {
    let message = run_with(Fault::AcceptsTakenCredIds).expect("the kit must fail");
    assert!(message.contains("Register"), "{message}");
    assert!(message.contains("CredIdTaken"), "{message}");
}

#[test]
fn a_store_that_forgets_to_mark_a_registered_user_fails_on_its_first_credential() {
    let message = run_with(Fault::ForgetsRegistration).expect("the kit must fail");
    assert!(message.contains("Register"), "{message}");
    assert!(message.contains("reads back unlike the use case stored it"), "{message}");
}

#[test]
fn a_store_that_counts_an_equal_counter_as_higher_fails_on_a_repeated_count() {
    let message = run_with(Fault::CountsEqualAsHigher).expect("the kit must fail");
    assert!(message.contains("Count"), "{message}");
    assert!(message.contains("CountNotRaised"), "{message}");
}

#[test]
fn a_store_that_ignores_the_callers_version_fails_on_a_write_for_a_stale_caller() {
    let message = run_with(Fault::IgnoresCallerVersions).expect("the kit must fail");
    assert!(message.contains("StaleActor"), "{message}");
    assert!(message.contains("Conflict"), "{message}");
}

#[test]
fn a_store_that_forgets_to_move_holders_versions_fails_on_a_change_of_their_permission() {
    let message = run_with(Fault::ForgetsHolders).expect("the kit must fail");
    assert!(message.contains("Permission {"), "{message}");
    assert!(message.contains("differs from the model in version"), "{message}");
}
