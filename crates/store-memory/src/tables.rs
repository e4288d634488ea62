//! The store's tables and indexes, and the rules that keep them consistent.
//!
//! Everything here is synchronous and runs under the store's one lock, so
//! each method is a transaction: it checks every constraint first and only
//! then writes, so a refused write leaves the tables as they were.
//!
//! Users, permissions and assignments are kept apart, as rows of a database
//! would be: a user read joins its live assignments with the permissions
//! they name, so a renamed permission shows its new name at once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use domain::{
    AssignmentId, AuditEvent, Challenge, ChallengeId, CredId, Credential, Org, OrgId, Permission,
    PermissionAssignment, PermissionId, PermissionName, Timestamp, User, UserActionGrant,
    UserActionToken, UserId, UserKind, Username,
};
use ports::{InsertUserError, StoreError, UpdateUserError, UserPage};

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
    /// Occurs when a user with the same id exists.
    #[error("user {0} already exists")]
    DuplicateUser(UserId),
    /// Occurs when a permission with the same id exists in another org.
    #[error("permission {0} belongs to another org")]
    ForeignPermission(PermissionId),
    /// Occurs when an assignment names an archived permission.
    #[error("permission {0} is archived")]
    ArchivedPermission(PermissionId),
    /// Occurs when an assignment names a permission that is unknown and
    /// cannot be recorded from the assignment.
    #[error("permission {0} has an invalid name")]
    InvalidPermissionName(PermissionId),
    /// Occurs when a credential is stored for another user.
    #[error("a credential does not belong to user {0}")]
    ForeignCredential(UserId),
    /// Occurs when an update would give a live user a user name another
    /// live user of the org holds.
    #[error("the user name of user {0} is taken")]
    UsernameTaken(UserId),
}

impl From<Violation> for StoreError {
    fn from(violation: Violation) -> StoreError {
        StoreError::new(violation)
    }
}

/// A live assignment of a permission to a user.
#[derive(Debug, Clone)]
struct AssignmentRow {
    id: AssignmentId,
    permission_id: PermissionId,
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

/// Every table of the store.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    orgs: HashMap<OrgId, Org>,
    permissions: HashMap<PermissionId, Permission>,
    users: HashMap<UserId, UserRow>,
    live: HashMap<OrgId, LiveUsers>,
    credentials: HashMap<UserId, Vec<Credential>>,
    audit: HashMap<OrgId, Vec<AuditEvent>>,
    challenges: HashMap<ChallengeId, Challenge>,
    user_actions: HashMap<UserActionToken, UserActionGrant>,
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
            return Err(Violation::ForeignPermission(admin_permission.id.clone()).into());
        }
        if credential.user_id != admin.id {
            return Err(Violation::ForeignCredential(admin.id.clone()).into());
        }
        let mut new_permissions = vec![admin_permission.clone()];
        let rows = self.plan_assignments(admin, &[], &mut new_permissions, event.at)?;

        self.orgs.insert(org.id.clone(), org.clone());
        self.insert_permissions(new_permissions);
        self.insert_user_row(admin, rows);
        self.credentials.insert(admin.id.clone(), vec![credential.clone()]);
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
    ) -> Result<(), InsertUserError> {
        if self.users.contains_key(&user.id) {
            return Err(StoreError::from(Violation::DuplicateUser(user.id.clone())).into());
        }
        if !user.is_archived() && self.live_holder(&user.org_id, &user.username).is_some() {
            return Err(InsertUserError::UsernameTaken);
        }
        if credentials.iter().any(|c| c.user_id != user.id) {
            return Err(StoreError::from(Violation::ForeignCredential(user.id.clone())).into());
        }
        let mut new_permissions = Vec::new();
        let rows = self.plan_assignments(user, &[], &mut new_permissions, event.at)?;

        self.insert_permissions(new_permissions);
        let stored = User { version: 0, ..user.clone() };
        self.insert_user_row(&stored, rows);
        if !credentials.is_empty() {
            self.credentials.entry(user.id.clone()).or_default().extend_from_slice(credentials);
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
    ) -> Result<(), UpdateUserError> {
        // An unknown id matches no row, as `UPDATE .. WHERE version = ?`
        // would: the caller read a user that is not there.
        let Some(row) = self.users.get(&user.id) else {
            return Err(UpdateUserError::Conflict);
        };
        if row.user.version != user.version {
            return Err(UpdateUserError::Conflict);
        }
        let old = &row.user;
        let keeps_its_name =
            !old.is_archived() && old.org_id == user.org_id && old.username.same_as(&user.username);
        if !user.is_archived()
            && !keeps_its_name
            && self.live_holder(&user.org_id, &user.username).is_some()
        {
            return Err(StoreError::from(Violation::UsernameTaken(user.id.clone())).into());
        }
        let mut new_permissions = Vec::new();
        let rows = self.plan_assignments(user, &row.assignments, &mut new_permissions, event.at)?;

        self.insert_permissions(new_permissions);
        if let Some(old) = self.users.remove(&user.id) {
            self.unindex(&old.user);
        }
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
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut walk = ids.range::<UserId, _>((start, Bound::Unbounded));
        let users: Vec<User> = walk
            .by_ref()
            .take(limit)
            .filter_map(|id| self.users.get(id))
            .map(|row| self.joined(row))
            .collect();
        let has_more = walk.next().is_some();
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

    pub(crate) fn save_permission(&mut self, permission: &Permission) -> Result<(), StoreError> {
        if let Some(stored) = self.permissions.get(&permission.id) {
            if stored.org_id != permission.org_id {
                return Err(Violation::ForeignPermission(permission.id.clone()).into());
            }
        }

        if permission.is_archived {
            // Archiving a permission is rare, so a scan is cheaper than an
            // index that every assignment would have to maintain.
            for row in self.users.values_mut() {
                row.assignments.retain(|a| a.permission_id != permission.id);
            }
        }
        self.permissions.insert(permission.id.clone(), permission.clone());
        Ok(())
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

    pub(crate) fn token_signing_key(&mut self, candidate: &[u8]) -> Vec<u8> {
        self.token_signing_key.get_or_insert_with(|| candidate.to_vec()).clone()
    }

    /// The live user of `org` holding this user name's key.
    fn live_holder(&self, org: &OrgId, username: &Username) -> Option<&UserId> {
        self.live.get(org)?.by_username.get(username.key())
    }

    /// `row`'s user with its live assignments, joined with the permissions
    /// they name as those are now.
    fn joined(&self, row: &UserRow) -> User {
        let assignments = row
            .assignments
            .iter()
            .filter_map(|a| {
                let permission = self.permissions.get(&a.permission_id)?;
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
    /// permissions. Rows in `stored` that `user` still lists are kept as
    /// they are; permissions not stored yet are added to `new_permissions`.
    ///
    /// No port creates permissions besides the org admin's, so a permission
    /// first seen in an assignment is recorded from what the assignment says
    /// of it, as the permissions API would have stored it.
    fn plan_assignments(
        &self,
        user: &User,
        stored: &[AssignmentRow],
        new_permissions: &mut Vec<Permission>,
        at: Timestamp,
    ) -> Result<Vec<AssignmentRow>, StoreError> {
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(user.assignments.len());
        for assignment in &user.assignments {
            if !seen.insert(&assignment.assignment_id) {
                continue;
            }
            if let Some(row) = stored.iter().find(|r| r.id == assignment.assignment_id) {
                rows.push(row.clone());
                continue;
            }
            let id = &assignment.permission_id;
            let known =
                self.permissions.get(id).or_else(|| new_permissions.iter().find(|p| &p.id == id));
            match known {
                Some(p) if p.org_id != user.org_id => {
                    return Err(Violation::ForeignPermission(id.clone()).into());
                }
                Some(p) if p.is_archived => {
                    return Err(Violation::ArchivedPermission(id.clone()).into());
                }
                Some(_) => {}
                None => {
                    let name = PermissionName::parse(&assignment.permission_name)
                        .map_err(|_| Violation::InvalidPermissionName(id.clone()))?;
                    new_permissions.push(Permission {
                        id: id.clone(),
                        org_id: user.org_id.clone(),
                        name,
                        operations: assignment.operations.clone(),
                        is_immutable: false,
                        is_archived: false,
                        created_at: at,
                        updated_at: at,
                    });
                }
            }
            rows.push(AssignmentRow {
                id: assignment.assignment_id.clone(),
                permission_id: id.clone(),
            });
        }
        Ok(rows)
    }

    fn insert_permissions(&mut self, permissions: Vec<Permission>) {
        for permission in permissions {
            self.permissions.insert(permission.id.clone(), permission);
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
        let record = User { assignments: Vec::new(), ..user.clone() };
        self.users.insert(user.id.clone(), UserRow { user: record, assignments });
    }

    /// Removes `user` from the live indexes.
    fn unindex(&mut self, user: &User) {
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
