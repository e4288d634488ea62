//! In-memory adapters for orgusers' stores.
//!
//! [`MemoryStore`] implements [`UserRepository`], [`PermissionRepository`],
//! [`OneTimeStore`], [`AuditLog`] and [`SecretStore`] on maps behind one
//! lock, keeping every promise the ports make as a database would: unique
//! user names among an org's live users and unique permission names among
//! its live permissions, compare-and-set updates of users, permissions and
//! the org guard, every change checked against the caller's version (and
//! a permission's change of rights moving its holders' versions),
//! credentials registered by compare-and-set with a `credId`
//! unique per user, signature counters that only grow, audit events
//! written with their change, challenges taken once, user actions spent
//! once and request nonces accepted once. It is
//! meant for tests, benchmarks and services that embed orgusers without a
//! database; its state lives as long as the process.
//!
//! Every operation takes the lock once, does its work on indexed maps and
//! releases it before returning, so the lock is never held across an
//! `.await`. Holding one lock also makes [`PermissionRepository::assigners`]
//! a consistent read: its assigners and guard version are one picture.

mod tables;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::{
    Assignment, AuditEvent, Challenge, ChallengeId, CredId, Credential, CredentialUuid, Org, OrgId,
    Permission, PermissionId, Timestamp, User, UserActionGrant, UserActionToken, UserId, UserKind,
    Username,
};
use ports::{
    AddCredentialError, AssignersSnapshot, AuditLog, Basis, InsertPermissionError, InsertUserError,
    OneTimeStore, PermissionPage, PermissionRepository, SecretStore, StoreError,
    UpdatePermissionError, UpdateUserError, UserPage, UserRepository,
};

use crate::tables::{Tables, Violation};

/// A store that keeps everything in memory; clones share one state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Runs `work` on the tables under the lock, as one transaction.
    fn with<T>(&self, work: impl FnOnce(&mut Tables) -> T) -> Result<T, StoreError> {
        let mut tables = self.tables.lock().map_err(|_| Violation::Poisoned)?;
        Ok(work(&mut tables))
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create_org(
        &self,
        org: &Org,
        admin_permission: &Permission,
        admin: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.with(|t| t.create_org(org, admin_permission, admin, credential, event))?
    }

    async fn count_orgs(&self) -> Result<u64, StoreError> {
        self.with(|t| t.count_orgs())
    }

    async fn insert_user(
        &self,
        user: &User,
        credentials: &[Credential],
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertUserError> {
        self.with(|t| t.insert_user(user, credentials, event, basis))?
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.with(|t| t.find_user(id))
    }

    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> Result<Option<User>, StoreError> {
        self.with(|t| t.find_user_by_username(org, username))
    }

    async fn update_user(
        &self,
        user: &User,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdateUserError> {
        self.with(|t| t.update_user(user, event, basis))?
    }

    async fn list_users(
        &self,
        org: &OrgId,
        kind: Option<UserKind>,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UserPage, StoreError> {
        self.with(|t| t.list_users(org, kind, after.as_ref(), limit))
    }

    async fn find_credential(
        &self,
        user: &UserId,
        cred_id: &CredId,
    ) -> Result<Option<Credential>, StoreError> {
        self.with(|t| t.find_credential(user, cred_id))
    }

    async fn list_credentials(&self, user: &UserId) -> Result<Vec<Credential>, StoreError> {
        self.with(|t| t.list_credentials(user))
    }

    async fn add_credential(
        &self,
        user: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), AddCredentialError> {
        self.with(|t| t.add_credential(user, credential, event))?
    }

    async fn advance_sign_count(
        &self,
        credential: &CredentialUuid,
        count: u32,
    ) -> Result<bool, StoreError> {
        self.with(|t| t.advance_sign_count(credential, count))
    }
}

#[async_trait]
impl PermissionRepository for MemoryStore {
    async fn insert_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError> {
        self.with(|t| t.insert_permission(permission, event, basis))?
    }

    async fn find_permission(&self, id: &PermissionId) -> Result<Option<Permission>, StoreError> {
        self.with(|t| t.find_permission(id))
    }

    async fn list_permissions(
        &self,
        org: &OrgId,
        after: Option<PermissionId>,
        limit: usize,
    ) -> Result<PermissionPage, StoreError> {
        self.with(|t| t.list_permissions(org, after.as_ref(), limit))
    }

    async fn update_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdatePermissionError> {
        self.with(|t| t.update_permission(permission, event, basis))?
    }

    async fn list_assignments(
        &self,
        permission: &PermissionId,
    ) -> Result<Vec<Assignment>, StoreError> {
        self.with(|t| t.list_assignments(permission))
    }

    async fn assigners(&self, org: &OrgId) -> Result<AssignersSnapshot, StoreError> {
        self.with(|t| t.assigners(org))?
    }
}

#[async_trait]
impl OneTimeStore for MemoryStore {
    async fn insert_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        self.with(|t| t.insert_challenge(challenge))
    }

    async fn take_challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        self.with(|t| t.take_challenge(id))
    }

    async fn insert_user_action(&self, grant: &UserActionGrant) -> Result<(), StoreError> {
        self.with(|t| t.insert_user_action(grant))
    }

    async fn find_user_action(
        &self,
        token: &UserActionToken,
    ) -> Result<Option<UserActionGrant>, StoreError> {
        self.with(|t| t.find_user_action(token))
    }

    async fn spend_user_action(
        &self,
        token: &UserActionToken,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.with(|t| t.spend_user_action(token, now))
    }

    async fn use_nonce(&self, nonce: &str, expires_at: Timestamp) -> Result<bool, StoreError> {
        self.with(|t| t.use_nonce(nonce, expires_at))
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn events(&self, org: &OrgId) -> Result<Vec<AuditEvent>, StoreError> {
        self.with(|t| t.events(org))
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn token_signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.with(|t| t.token_signing_key(candidate))
    }
}
