//! The store's tables and indexes, and the rules that keep them consistent.
//!
//! Everything here is synchronous and runs under the store's one lock, so
//! each method is a transaction: it checks every constraint first and only
//! then writes, so a refused write leaves the tables as they were.
//!
//! Users, permissions and assignments are kept apart, as rows of a database
//! would be: a user read joins its live assignments with the permissions
//! they name, so a renamed permission shows its new name at once. Ended
//! assignments are dropped rather than kept: the audit log records them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use domain::{
    Assignment, AssignmentId, AuditEvent, Challenge, ChallengeId, CredId, Credential,
    CredentialUuid, Operation, Org, OrgId, Permission, PermissionAssignment, PermissionId,
    PermissionName, Timestamp, User, UserActionGrant, UserActionToken, UserId, UserKind, Username,
};
use ports::{
    AddCredentialError, AssignersSnapshot, Basis, InsertPermissionError, InsertUserError, OrgGuard,
    PermissionPage, StoreError, UpdatePermissionError, UpdateUserError, UserPage,
};

/// Occurs when a write breaks a constraint a database would enforce, or the
/// store cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Violation {
    /// Occurs when a thread panicked while it held the store's lock.
    #[error("the in-memory store was poisoned by a panic")]
    Poisoned,
    /// Occurs when an org with the same id exists.
    #[error("org {0} already exists")]
    DuplicateOrg(OrgId),
    /// Occurs when a record names an org that was never created.
    #[error("org {0} does not exist")]
    UnknownOrg(OrgId),
    /// Occurs when a user with the same id exists.
    #[error("user {0} already exists")]
    DuplicateUser(UserId),
    /// Occurs when a permission with the same id exists.
    #[error("permission {0} already exists")]
    DuplicatePermission(PermissionId),
    /// Occurs when an assignment names a permission that was never stored.
    #[error("permission {0} does not exist")]
    UnknownPermission(PermissionId),
    /// Occurs when an assignment names a permission of another org.
    #[error("permission {0} belongs to another org")]
    ForeignPermission(PermissionId),
    /// Occurs when an assignment names an archived permission.
    #[error("permission {0} is archived")]
    ArchivedPermission(PermissionId),
    /// Occurs when a credential is stored for another user.
    #[error("a credential does not belong to user {0}")]
    ForeignCredential(UserId),
    /// Occurs when a credential with the same uuid exists.
    #[error("credential {0} already exists")]
    DuplicateCredential(CredentialUuid),
    /// Occurs when a new user is stored with two credentials of one
    /// `credId`; a registration is told [`AddCredentialError::CredIdTaken`]
    /// instead.
    #[error("user {0} would have two credentials with one credId")]
    DuplicateCredId(UserId),
    /// Occurs when an update would give a live user a user name another
    /// live user of the org holds.
    #[error("the user name of user {0} is taken")]
    UsernameTaken(UserId),
    /// Occurs when a change names the guard of another org than its own.
    #[error("the guard of org {0} does not cover a change in another org")]
    ForeignGuard(OrgId),
}

impl From<Violation> for StoreError {
    fn from(violation: Violation) -> StoreError {
        StoreError::new(violation)
    }
}

/// A stored org and its guard version.
#[derive(Debug)]
struct OrgRow {
    #[expect(dead_code, reason = "kept as a database keeps the row; no port reads an org yet")]
    org: Org,
    guard_version: u64,
}

/// A live assignment of a permission to a user.
#[derive(Debug, Clone)]
struct AssignmentRow {
    id: AssignmentId,
    permission_id: PermissionId,
    created_at: Timestamp,
    /// Orders assignments made at the same time, as a row id would.
    seq: u64,
}

/// A stored user: its record, without assignments, and its live
/// assignments.
#[derive(Debug)]
struct UserRow {
    user: User,
    assignments: Vec<AssignmentRow>,
}

/// The live (not archived) users of one org, indexed for the reads that
/// must not scan.
#[derive(Debug, Default)]
struct LiveUsers {
    by_username: HashMap<String, UserId>,
    ids: BTreeSet<UserId>,
    ids_by_kind: HashMap<UserKind, BTreeSet<UserId>>,
}

/// The permissions of one org: every id, for paging, and the names of the
/// live ones, which must be unique.
#[derive(Debug, Default)]
struct OrgPermissions {
    ids: BTreeSet<PermissionId>,
    live_names: HashMap<String, PermissionId>,
}

/// Every table of the store.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    orgs: HashMap<OrgId, OrgRow>,
    permissions: HashMap<PermissionId, Permission>,
    org_permissions: HashMap<OrgId, OrgPermissions>,
    /// The holder of each live assignment, by permission.
    holders: HashMap<PermissionId, HashMap<AssignmentId, UserId>>,
    next_assignment_seq: u64,
    users: HashMap<UserId, UserRow>,
    live: HashMap<OrgId, LiveUsers>,
    /// Every credential of each user, oldest first.
    credentials: HashMap<UserId, Vec<Credential>>,
    /// The owner of each credential, by uuid, as a primary key would find
    /// it.
    credential_owners: HashMap<CredentialUuid, UserId>,
    audit: HashMap<OrgId, Vec<AuditEvent>>,
    challenges: HashMap<ChallengeId, Challenge>,
    user_actions: HashMap<UserActionToken, UserActionGrant>,
    /// Every request nonce presented, with the time it goes stale.
    ///
    /// FIXME: stale nonces are never forgotten; a sweep of the entries
    /// whose time has passed, run with the server's clock, would bound the
    /// map.
    nonces: HashMap<String, Timestamp>,
    token_signing_key: Option<Vec<u8>>,
}

impl Tables {
    pub(crate) fn create_org(
        &mut self,
        org: &Org,
        admin_permission: &Permission,
        admin: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        if self.orgs.contains_key(&org.id) {
            return Err(Violation::DuplicateOrg(org.id.clone()).into());
        }
        if self.users.contains_key(&admin.id) {
            return Err(Violation::DuplicateUser(admin.id.clone()).into());
        }
        if self.permissions.contains_key(&admin_permission.id) {
            return Err(Violation::DuplicatePermission(admin_permission.id.clone()).into());
        }
        if admin_permission.org_id != org.id {
            return Err(Violation::ForeignPermission(admin_permission.id.clone()).into());
        }
        self.check_new_credentials(admin, std::slice::from_ref(credential))?;
        let pending = std::slice::from_ref(admin_permission);
        let rows = self.plan_assignments(admin, &[], pending, admin.created_at)?;

        self.orgs.insert(org.id.clone(), OrgRow { org: org.clone(), guard_version: 0 });
        self.store_permission(Permission { version: 0, ..admin_permission.clone() });
        self.insert_user_row(admin, rows);
        self.store_credential(credential);
        self.append_event(event);
        Ok(())
    }

    pub(crate) fn count_orgs(&self) -> u64 {
        self.orgs.len() as u64
    }

    pub(crate) fn insert_user(
        &mut self,
        user: &User,
        credentials: &[Credential],
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertUserError> {
        if !self.actor_holds(basis) {
            return Err(InsertUserError::Conflict);
        }
        if self.users.contains_key(&user.id) {
            return Err(StoreError::from(Violation::DuplicateUser(user.id.clone())).into());
        }
        if !user.is_archived() && self.live_holder(&user.org_id, &user.username).is_some() {
            return Err(InsertUserError::UsernameTaken);
        }
        self.check_new_credentials(user, credentials).map_err(StoreError::from)?;
        let rows =
            self.plan_assignments(user, &[], &[], user.created_at).map_err(StoreError::from)?;

        let stored = User { version: 0, ..user.clone() };
        self.insert_user_row(&stored, rows);
        for credential in credentials {
            self.store_credential(credential);
        }
        self.append_event(event);
        Ok(())
    }

    pub(crate) fn find_user(&self, id: &UserId) -> Option<User> {
        self.users.get(id).map(|row| self.joined(row))
    }

    pub(crate) fn find_user_by_username(&self, org: &OrgId, username: &Username) -> Option<User> {
        let id = self.live_holder(org, username)?;
        self.find_user(id)
    }

    pub(crate) fn update_user(
        &mut self,
        user: &User,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdateUserError> {
        let guard = basis.guard.as_ref();
        // An unknown id matches no row, as `UPDATE .. WHERE version = ?`
        // would: the caller read a user that is not there.
        let Some(row) = self.users.get(&user.id) else {
            return Err(UpdateUserError::Conflict);
        };
        if row.user.version != user.version || !self.actor_holds(basis) {
            return Err(UpdateUserError::Conflict);
        }
        if let Some(guard) = guard {
            if !self.guard_holds(guard, &user.org_id).map_err(StoreError::from)? {
                return Err(UpdateUserError::Conflict);
            }
        }
        self.check_name_kept(&row.user, user).map_err(StoreError::from)?;
        let rows = match self.plan_assignments(user, &row.assignments, &[], event.at) {
            Ok(rows) => rows,
            // The permission was archived after the caller read it; deciding
            // again on fresh reads refuses the assignment properly.
            Err(Violation::ArchivedPermission(_)) => return Err(UpdateUserError::Conflict),
            Err(violation) => return Err(StoreError::from(violation).into()),
        };

        if let Some(guard) = guard {
            self.bump_guard(&guard.org_id);
        }
        self.remove_user_row(&user.id);
        let stored = User { version: user.version + 1, ..user.clone() };
        self.insert_user_row(&stored, rows);
        self.append_event(event);
        Ok(())
    }

    pub(crate) fn list_users(
        &self,
        org: &OrgId,
        kind: Option<UserKind>,
        after: Option<&UserId>,
        limit: usize,
    ) -> UserPage {
        let empty = UserPage { users: Vec::new(), has_more: false };
        let Some(live) = self.live.get(org) else {
            return empty;
        };
        let ids = match kind {
            Some(kind) => match live.ids_by_kind.get(&kind) {
                Some(ids) => ids,
                None => return empty,
            },
            None => &live.ids,
        };
        let (users, has_more) = page(ids, after, limit, |id| self.find_user(id));
        UserPage { users, has_more }
    }

    pub(crate) fn find_credential(&self, user: &UserId, cred_id: &CredId) -> Option<Credential> {
        let credentials = self.credentials.get(user)?;
        credentials.iter().find(|c| &c.cred_id == cred_id).cloned()
    }

    pub(crate) fn list_credentials(&self, user: &UserId) -> Vec<Credential> {
        let credentials = self.credentials.get(user).map(Vec::as_slice).unwrap_or_default();
        credentials.iter().filter(|c| c.is_active).cloned().collect()
    }

    pub(crate) fn add_credential(
        &mut self,
        user: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), AddCredentialError> {
        // An unknown id matches no row, as for `update_user`.
        let Some(row) = self.users.get(&user.id) else {
            return Err(AddCredentialError::Conflict);
        };
        if row.user.version != user.version {
            return Err(AddCredentialError::Conflict);
        }
        if self.find_credential(&user.id, &credential.cred_id).is_some() {
            return Err(AddCredentialError::CredIdTaken);
        }
        self.check_new_credentials(user, std::slice::from_ref(credential))
            .map_err(StoreError::from)?;
        self.check_name_kept(&row.user, user).map_err(StoreError::from)?;

        // A registration changes no assignment: the stored ones stay.
        let assignments = row.assignments.clone();
        self.remove_user_row(&user.id);
        let stored = User { version: user.version + 1, ..user.clone() };
        self.insert_user_row(&stored, assignments);
        self.store_credential(credential);
        self.append_event(event);
        Ok(())
    }

    pub(crate) fn advance_sign_count(&mut self, uuid: &CredentialUuid, count: u32) -> bool {
        let Some(owner) = self.credential_owners.get(uuid) else {
            return false;
        };
        let credentials = self.credentials.get_mut(owner).map(Vec::as_mut_slice);
        let stored = credentials.unwrap_or_default().iter_mut().find(|c| &c.uuid == uuid);
        match stored {
            Some(credential) if credential.sign_count < count => {
                credential.sign_count = count;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn insert_permission(
        &mut self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError> {
        if !self.actor_holds(basis) {
            return Err(InsertPermissionError::Conflict);
        }
        if self.permissions.contains_key(&permission.id) {
            let duplicate = Violation::DuplicatePermission(permission.id.clone());
            return Err(StoreError::from(duplicate).into());
        }
        if !self.orgs.contains_key(&permission.org_id) {
            let unknown = Violation::UnknownOrg(permission.org_id.clone());
            return Err(StoreError::from(unknown).into());
        }
        if !permission.is_archived
            && self.live_permission_named(&permission.org_id, &permission.name).is_some()
        {
            return Err(InsertPermissionError::NameTaken);
        }

        self.store_permission(Permission { version: 0, ..permission.clone() });
        self.append_event(event);
        Ok(())
    }

    pub(crate) fn find_permission(&self, id: &PermissionId) -> Option<Permission> {
        self.permissions.get(id).cloned()
    }

    pub(crate) fn list_permissions(
        &self,
        org: &OrgId,
        after: Option<&PermissionId>,
        limit: usize,
    ) -> PermissionPage {
        let Some(owned) = self.org_permissions.get(org) else {
            return PermissionPage { permissions: Vec::new(), has_more: false };
        };
        let (permissions, has_more) = page(&owned.ids, after, limit, |id| self.find_permission(id));
        PermissionPage { permissions, has_more }
    }

    pub(crate) fn update_permission(
        &mut self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdatePermissionError> {
        let guard = basis.guard.as_ref();
        // A permission moves to no other org: one that is asked to matches
        // no row, as `UPDATE .. WHERE org_id = ? AND version = ?` would.
        let stored = self.permissions.get(&permission.id).filter(|stored| {
            stored.org_id == permission.org_id && stored.version == permission.version
        });
        let Some(stored) = stored else {
            return Err(UpdatePermissionError::Conflict);
        };
        let rights_change = permission.is_archived || stored.operations != permission.operations;
        if !self.actor_holds(basis) {
            return Err(UpdatePermissionError::Conflict);
        }
        if let Some(guard) = guard {
            if !self.guard_holds(guard, &permission.org_id).map_err(StoreError::from)? {
                return Err(UpdatePermissionError::Conflict);
            }
        }
        if !permission.is_archived {
            let named = self.live_permission_named(&permission.org_id, &permission.name);
            if named.is_some_and(|holder| holder != &permission.id) {
                return Err(UpdatePermissionError::NameTaken);
            }
        }

        if let Some(guard) = guard {
            self.bump_guard(&guard.org_id);
        }
        if rights_change {
            self.bump_holders(&permission.id);
        }
        if let Some(old) = self.permissions.remove(&permission.id) {
            self.unindex_permission_name(&old);
        }
        if permission.is_archived {
            self.end_assignments_of(&permission.id);
        }
        self.store_permission(Permission { version: permission.version + 1, ..permission.clone() });
        self.append_event(event);
        Ok(())
    }

    pub(crate) fn list_assignments(&self, permission: &PermissionId) -> Vec<Assignment> {
        let Some(holders) = self.holders.get(permission) else {
            return Vec::new();
        };
        let mut found: Vec<(Timestamp, u64, Assignment)> = holders
            .iter()
            .filter_map(|(assignment_id, user_id)| {
                let row = self.users.get(user_id)?;
                let held = row.assignments.iter().find(|a| &a.id == assignment_id)?;
                let assignment = Assignment {
                    id: held.id.clone(),
                    permission_id: held.permission_id.clone(),
                    user_id: user_id.clone(),
                    org_id: row.user.org_id.clone(),
                    is_immutable: false,
                    created_at: held.created_at,
                    ended_at: None,
                };
                Some((held.created_at, held.seq, assignment))
            })
            .collect();
        found.sort_by_key(|(created_at, seq, _)| (*created_at, *seq));
        found.into_iter().map(|(_, _, assignment)| assignment).collect()
    }

    pub(crate) fn assigners(&self, org: &OrgId) -> Result<AssignersSnapshot, StoreError> {
        let Some(org_row) = self.orgs.get(org) else {
            return Err(Violation::UnknownOrg(org.clone()).into());
        };
        let live_permissions = self.org_permissions.get(org).map(|owned| owned.live_names.values());
        let mut assigners = BTreeSet::new();
        for id in live_permissions.into_iter().flatten() {
            let grants_assign =
                self.permissions.get(id).is_some_and(|p| p.grants(Operation::AssignPermission));
            if !grants_assign {
                continue;
            }
            for holder in self.holders.get(id).into_iter().flat_map(HashMap::values) {
                if self.users.get(holder).is_some_and(|row| row.user.is_active()) {
                    assigners.insert(holder.clone());
                }
            }
        }
        let guard = OrgGuard { org_id: org.clone(), version: org_row.guard_version };
        Ok(AssignersSnapshot { guard, assigners: assigners.into_iter().collect() })
    }

    pub(crate) fn events(&self, org: &OrgId) -> Vec<AuditEvent> {
        self.audit.get(org).cloned().unwrap_or_default()
    }

    pub(crate) fn insert_challenge(&mut self, challenge: &Challenge) {
        self.challenges.insert(challenge.id.clone(), challenge.clone());
    }

    pub(crate) fn take_challenge(&mut self, id: &ChallengeId) -> Option<Challenge> {
        self.challenges.remove(id)
    }

    pub(crate) fn insert_user_action(&mut self, grant: &UserActionGrant) {
        let unspent = UserActionGrant { used_at: None, ..grant.clone() };
        self.user_actions.insert(grant.token.clone(), unspent);
    }

    pub(crate) fn find_user_action(&self, token: &UserActionToken) -> Option<UserActionGrant> {
        self.user_actions.get(token).cloned()
    }

    pub(crate) fn spend_user_action(&mut self, token: &UserActionToken, now: Timestamp) -> bool {
        match self.user_actions.get_mut(token) {
            Some(grant) if grant.used_at.is_none() => {
                grant.used_at = Some(now);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn use_nonce(&mut self, nonce: &str, expires_at: Timestamp) -> bool {
        if self.nonces.contains_key(nonce) {
            return false;
        }
        self.nonces.insert(nonce.to_owned(), expires_at);
        true
    }

    pub(crate) fn token_signing_key(&mut self, candidate: &[u8]) -> Vec<u8> {
        self.token_signing_key.get_or_insert_with(|| candidate.to_vec()).clone()
    }

    /// The live user of `org` holding this user name's key.
    fn live_holder(&self, org: &OrgId, username: &Username) -> Option<&UserId> {
        self.live.get(org)?.by_username.get(username.key())
    }

    /// Fails when storing `user` over `old` would give a live user a name
    /// another live user of its org holds.
    fn check_name_kept(&self, old: &User, user: &User) -> Result<(), Violation> {
        let keeps_its_name =
            !old.is_archived() && old.org_id == user.org_id && old.username.same_as(&user.username);
        if !user.is_archived()
            && !keeps_its_name
            && self.live_holder(&user.org_id, &user.username).is_some()
        {
            return Err(Violation::UsernameTaken(user.id.clone()));
        }
        Ok(())
    }

    /// Fails when `credentials` cannot be stored as new ones of `user`:
    /// one belongs to someone else, reuses a uuid, or repeats a `credId`
    /// of the user, as the keys of a credentials table would refuse.
    fn check_new_credentials(
        &self,
        user: &User,
        credentials: &[Credential],
    ) -> Result<(), Violation> {
        let stored = self.credentials.get(&user.id).map(Vec::as_slice).unwrap_or_default();
        let mut uuids = HashSet::new();
        let mut cred_ids: HashSet<&CredId> = stored.iter().map(|c| &c.cred_id).collect();
        for credential in credentials {
            if credential.user_id != user.id || credential.org_id != user.org_id {
                return Err(Violation::ForeignCredential(user.id.clone()));
            }
            if self.credential_owners.contains_key(&credential.uuid)
                || !uuids.insert(&credential.uuid)
            {
                return Err(Violation::DuplicateCredential(credential.uuid.clone()));
            }
            if !cred_ids.insert(&credential.cred_id) {
                return Err(Violation::DuplicateCredId(user.id.clone()));
            }
        }
        Ok(())
    }

    /// Stores `credential` as its user's newest and indexes it.
    fn store_credential(&mut self, credential: &Credential) {
        self.credential_owners.insert(credential.uuid.clone(), credential.user_id.clone());
        self.credentials.entry(credential.user_id.clone()).or_default().push(credential.clone());
    }

    /// The live permission of `org` with this name.
    fn live_permission_named(&self, org: &OrgId, name: &PermissionName) -> Option<&PermissionId> {
        self.org_permissions.get(org)?.live_names.get(name.as_str())
    }

    /// Whether `guard` holds the current guard version of `org`, the org
    /// of the change; an unknown org matches no version.
    fn guard_holds(&self, guard: &OrgGuard, org: &OrgId) -> Result<bool, Violation> {
        if &guard.org_id != org {
            return Err(Violation::ForeignGuard(guard.org_id.clone()));
        }
        Ok(self.orgs.get(org).is_some_and(|row| row.guard_version == guard.version))
    }

    fn bump_guard(&mut self, org: &OrgId) {
        if let Some(row) = self.orgs.get_mut(org) {
            row.guard_version += 1;
        }
    }

    /// `row`'s user with its live assignments of live permissions, joined
    /// with those permissions as they are now.
    fn joined(&self, row: &UserRow) -> User {
        let assignments = row
            .assignments
            .iter()
            .filter_map(|a| {
                let permission = self.permissions.get(&a.permission_id)?;
                if permission.is_archived {
                    return None;
                }
                Some(PermissionAssignment {
                    assignment_id: a.id.clone(),
                    permission_id: a.permission_id.clone(),
                    permission_name: permission.name.as_str().to_owned(),
                    operations: permission.operations.clone(),
                })
            })
            .collect();
        User { assignments, ..row.user.clone() }
    }

    /// The assignment rows `user` must have, checked against the stored
    /// permissions and `pending`, those stored in the same transaction.
    /// Rows in `stored` that `user` still lists are kept as they are; new
    /// ones are made at `at`.
    fn plan_assignments(
        &self,
        user: &User,
        stored: &[AssignmentRow],
        pending: &[Permission],
        at: Timestamp,
    ) -> Result<Vec<AssignmentRow>, Violation> {
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(user.assignments.len());
        let mut seq = self.next_assignment_seq;
        for assignment in &user.assignments {
            if !seen.insert(&assignment.assignment_id) {
                continue;
            }
            if let Some(row) = stored.iter().find(|r| r.id == assignment.assignment_id) {
                rows.push(row.clone());
                continue;
            }
            let id = &assignment.permission_id;
            let known = self.permissions.get(id).or_else(|| pending.iter().find(|p| &p.id == id));
            match known {
                None => return Err(Violation::UnknownPermission(id.clone())),
                Some(p) if p.org_id != user.org_id => {
                    return Err(Violation::ForeignPermission(id.clone()));
                }
                Some(p) if p.is_archived => return Err(Violation::ArchivedPermission(id.clone())),
                Some(_) => {}
            }
            rows.push(AssignmentRow {
                id: assignment.assignment_id.clone(),
                permission_id: id.clone(),
                created_at: at,
                seq,
            });
            seq += 1;
        }
        Ok(rows)
    }

    /// Stores `permission` and indexes it.
    fn store_permission(&mut self, permission: Permission) {
        let owned = self.org_permissions.entry(permission.org_id.clone()).or_default();
        owned.ids.insert(permission.id.clone());
        if !permission.is_archived {
            owned.live_names.insert(permission.name.as_str().to_owned(), permission.id.clone());
        }
        self.permissions.insert(permission.id.clone(), permission);
    }

    /// Frees the name of `permission` if it held it.
    fn unindex_permission_name(&mut self, permission: &Permission) {
        let Some(owned) = self.org_permissions.get_mut(&permission.org_id) else {
            return;
        };
        if owned.live_names.get(permission.name.as_str()) == Some(&permission.id) {
            owned.live_names.remove(permission.name.as_str());
        }
    }

    /// Moves the version of every live holder of `permission`: what they
    /// may do is about to change.
    fn bump_holders(&mut self, permission: &PermissionId) {
        let holders: Vec<UserId> =
            self.holders.get(permission).into_iter().flat_map(|h| h.values().cloned()).collect();
        for holder in holders {
            if let Some(row) = self.users.get_mut(&holder) {
                row.user.version += 1;
            }
        }
    }

    /// Whether the caller's record is still the one the change was decided
    /// on.
    fn actor_holds(&self, basis: &Basis) -> bool {
        self.users.get(&basis.actor).is_some_and(|row| row.user.version == basis.actor_version)
    }

    /// Ends every live assignment of `permission`, whoever holds it.
    fn end_assignments_of(&mut self, permission: &PermissionId) {
        for (assignment_id, holder) in self.holders.remove(permission).unwrap_or_default() {
            if let Some(row) = self.users.get_mut(&holder) {
                row.assignments.retain(|a| a.id != assignment_id);
            }
        }
    }

    /// Stores `user` (its assignments as `assignments`) and indexes it.
    fn insert_user_row(&mut self, user: &User, assignments: Vec<AssignmentRow>) {
        if !user.is_archived() {
            let live = self.live.entry(user.org_id.clone()).or_default();
            live.by_username.insert(user.username.key().to_owned(), user.id.clone());
            live.ids.insert(user.id.clone());
            live.ids_by_kind.entry(user.kind).or_default().insert(user.id.clone());
        }
        for row in &assignments {
            let holders = self.holders.entry(row.permission_id.clone()).or_default();
            holders.insert(row.id.clone(), user.id.clone());
            self.next_assignment_seq = self.next_assignment_seq.max(row.seq + 1);
        }
        let record = User { assignments: Vec::new(), ..user.clone() };
        self.users.insert(user.id.clone(), UserRow { user: record, assignments });
    }

    /// Removes the user `id` and its assignments from the tables and every
    /// index.
    fn remove_user_row(&mut self, id: &UserId) {
        let Some(old) = self.users.remove(id) else {
            return;
        };
        for row in &old.assignments {
            if let Some(holders) = self.holders.get_mut(&row.permission_id) {
                holders.remove(&row.id);
            }
        }
        let user = &old.user;
        if user.is_archived() {
            return;
        }
        let Some(live) = self.live.get_mut(&user.org_id) else {
            return;
        };
        if live.by_username.get(user.username.key()) == Some(&user.id) {
            live.by_username.remove(user.username.key());
        }
        live.ids.remove(&user.id);
        if let Some(ids) = live.ids_by_kind.get_mut(&user.kind) {
            ids.remove(&user.id);
        }
    }

    fn append_event(&mut self, event: &AuditEvent) {
        self.audit.entry(event.org_id.clone()).or_default().push(event.clone());
    }
}

/// Up to `limit` records of the `ids` greater than `after`, read with
/// `read`, and whether more ids follow.
fn page<Id: Ord, T>(
    ids: &BTreeSet<Id>,
    after: Option<&Id>,
    limit: usize,
    read: impl Fn(&Id) -> Option<T>,
) -> (Vec<T>, bool) {
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut walk = ids.range::<Id, _>((start, Bound::Unbounded));
    let records = walk.by_ref().take(limit).filter_map(read).collect();
    (records, walk.next().is_some())
}
