//! A state-machine property test of permissions, their assignments and the
//! org guard, together with the user lifecycle.
//!
//! A reference model (users with their standing and the assignments they
//! hold, permissions with the operations they grant, all as plain sets)
//! predicts the outcome of random sequences of changes made by org admins
//! and by other users. The system under test runs the real domain
//! decisions on a table of users and permissions, playing the store and the
//! use cases the way `app` does: before a change that takes the power to
//! assign from someone, it asks `keep_an_assigner` with the org's current
//! assigners and refuses with `LastAssigner` when no one would keep it.
//!
//! After every step the table must agree with the model and keep the rules:
//! every org keeps an active user who can assign, a refused step changes
//! nothing, archived users hold nothing, archived permissions are held by
//! no one, `OrgAdmin` never changes, and a user holds an operation exactly
//! when one of its live assignments' permissions grants it today.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use common::{NAMES, stored_user};
use domain::{
    ArchiveUserError, AssignPermissionError, AssignmentId, Caller, ChangeActiveError,
    CreateUserError, ID_RANDOM_BYTES, LastAssigner, NewUser, Operation, OrgId, Permission,
    PermissionChangeError, PermissionId, PermissionName, RevokeAssignmentError, Timestamp, User,
    UserId, UserKind, Username, archive_permission, archive_user, assign_permission,
    create_permission, create_user, keep_an_assigner, loses_assign, revoke_assignment, set_active,
    update_permission,
};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::Union;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

/// How many orgs a run starts with, each with one admin holding `OrgAdmin`.
const ORGS: u32 = 2;

/// No user is created while the orgs have this many live users.
const MAX_LIVE_USERS: usize = 10;

/// No permission is created while the orgs have this many live ones.
const MAX_LIVE_PERMISSIONS: usize = 10;

/// The bytes of the `n`th id of a run: `n` in base 36 at the end, so a
/// failing sequence reads `us-00000-00000-0000000000000012`.
fn numbered(n: u32) -> [u8; ID_RANDOM_BYTES] {
    let mut bytes = [0; ID_RANDOM_BYTES];
    let mut rest = n;
    for byte in bytes.iter_mut().rev() {
        *byte = u8::try_from(rest % 36).expect("a base-36 digit");
        rest /= 36;
    }
    bytes
}

/// Why a step was refused: the exact error the use case answers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    NotAuthorized(Operation),
    CreateUser(CreateUserError),
    ArchiveUser(ArchiveUserError),
    ChangeActive(ChangeActiveError),
    Permission(PermissionChangeError),
    Assign(AssignPermissionError),
    Revoke(RevokeAssignmentError),
    LastAssigner(LastAssigner),
}

/// What a step ended with.
type Outcome = Result<(), Refusal>;

/// One step of a run, always made by an active `caller`.
#[derive(Debug, Clone)]
enum Transition {
    CreateUser { caller: UserId, id: UserId, name: usize, kind: UserKind },
    ArchiveUser { caller: UserId, target: UserId },
    SetActive { caller: UserId, target: UserId, active: bool },
    CreatePermission { caller: UserId, id: PermissionId, operations: Vec<Operation> },
    UpdatePermission { caller: UserId, permission: PermissionId, operations: Vec<Operation> },
    ArchivePermission { caller: UserId, permission: PermissionId },
    Assign { caller: UserId, permission: PermissionId, target: UserId, id: AssignmentId },
    Revoke { caller: UserId, permission: PermissionId, assignment: AssignmentId },
}

impl Transition {
    fn caller(&self) -> &UserId {
        match self {
            Transition::CreateUser { caller, .. }
            | Transition::ArchiveUser { caller, .. }
            | Transition::SetActive { caller, .. }
            | Transition::CreatePermission { caller, .. }
            | Transition::UpdatePermission { caller, .. }
            | Transition::ArchivePermission { caller, .. }
            | Transition::Assign { caller, .. }
            | Transition::Revoke { caller, .. } => caller,
        }
    }

    /// The use case, as the statistics name it.
    fn use_case(&self) -> &'static str {
        match self {
            Transition::CreateUser { .. } => "create user",
            Transition::ArchiveUser { .. } => "archive user",
            Transition::SetActive { active: true, .. } => "activate user",
            Transition::SetActive { active: false, .. } => "deactivate user",
            Transition::CreatePermission { .. } => "create permission",
            Transition::UpdatePermission { .. } => "update permission",
            Transition::ArchivePermission { .. } => "archive permission",
            Transition::Assign { .. } => "assign permission",
            Transition::Revoke { .. } => "revoke assignment",
        }
    }
}

/// The kinds of step, each asking for one operation of its caller.
#[derive(Debug, Clone, Copy)]
enum Step {
    CreateUser,
    ArchiveUser,
    Deactivate,
    Activate,
    CreatePermission,
    UpdatePermission,
    ArchivePermission,
    Assign,
    Revoke,
}

impl Step {
    fn operation(self) -> Operation {
        match self {
            Step::CreateUser => Operation::CreateUser,
            Step::ArchiveUser => Operation::DeleteUser,
            Step::Deactivate => Operation::DeactivateUser,
            Step::Activate => Operation::ActivateUser,
            Step::CreatePermission => Operation::CreatePermission,
            Step::UpdatePermission => Operation::UpdatePermission,
            Step::ArchivePermission => Operation::ArchivePermission,
            Step::Assign => Operation::AssignPermission,
            Step::Revoke => Operation::RevokePermission,
        }
    }
}

/// Where the model's user stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Active,
    Inactive,
    Archived,
}

/// What the model knows of a user.
#[derive(Debug, Clone)]
struct ModelUser {
    org: OrgId,
    name_class: usize,
    standing: Standing,
    /// The live assignments it holds, with the permission each gives.
    holds: BTreeMap<AssignmentId, PermissionId>,
}

/// What the model knows of a permission.
#[derive(Debug, Clone)]
struct ModelPermission {
    org: OrgId,
    operations: BTreeSet<Operation>,
    immutable: bool,
    archived: bool,
}

/// How an org starts: its admin, holding the org's `OrgAdmin`.
#[derive(Debug, Clone)]
struct Founding {
    org: OrgId,
    admin: UserId,
    name: usize,
    org_admin: PermissionId,
    assignment: AssignmentId,
}

/// The reference model.
#[derive(Debug, Clone)]
struct Model {
    foundings: Vec<Founding>,
    users: BTreeMap<UserId, ModelUser>,
    permissions: BTreeMap<PermissionId, ModelPermission>,
    /// Assignments that were revoked or ended by an archive.
    ended: Vec<(PermissionId, AssignmentId)>,
    /// The number the next fresh id is made of.
    next: u32,
    last: Option<Outcome>,
}

impl Model {
    /// The live user `id` of `org`.
    fn user_in(&self, org: &OrgId, id: &UserId) -> Option<&ModelUser> {
        self.users.get(id).filter(|u| &u.org == org && u.standing != Standing::Archived)
    }

    /// The permission `id` of `org`, archived or not.
    fn permission_in(&self, org: &OrgId, id: &PermissionId) -> Option<&ModelPermission> {
        self.permissions.get(id).filter(|p| &p.org == org)
    }

    fn holds(&self, user: &UserId, operation: Operation) -> bool {
        let Some(user) = self.users.get(user) else {
            return false;
        };
        user.holds.values().any(|id| {
            let permission = &self.permissions[id];
            !permission.archived && permission.operations.contains(&operation)
        })
    }

    /// The active users of `org` who can assign permissions.
    fn assigners(&self, org: &OrgId) -> BTreeSet<&UserId> {
        self.users
            .iter()
            .filter(|(id, u)| {
                &u.org == org
                    && u.standing == Standing::Active
                    && self.holds(id, Operation::AssignPermission)
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// Whether `id` is an active user holding its org's `OrgAdmin`.
    fn is_admin(&self, id: &UserId) -> bool {
        self.users.get(id).is_some_and(|u| {
            u.standing == Standing::Active
                && u.holds.values().any(|p| self.permissions[p].immutable)
        })
    }

    /// `next`, unless it leaves an org that has someone who can assign
    /// with no one.
    fn guarded(&self, next: Model) -> Result<Model, Refusal> {
        for founding in &self.foundings {
            let org = &founding.org;
            if !self.assigners(org).is_empty() && next.assigners(org).is_empty() {
                return Err(Refusal::LastAssigner(LastAssigner));
            }
        }
        Ok(next)
    }

    /// The permission `id` of `org` as long as it may change.
    fn mutable_permission(&self, org: &OrgId, id: &PermissionId) -> Result<(), Refusal> {
        let Some(permission) = self.permission_in(org, id) else {
            return Err(Refusal::Permission(PermissionChangeError::NotFound));
        };
        if permission.immutable {
            return Err(Refusal::Permission(PermissionChangeError::Immutable));
        }
        if permission.archived {
            return Err(Refusal::Permission(PermissionChangeError::Archived));
        }
        Ok(())
    }

    /// The model after `transition`, or why it is refused. The checks come
    /// in the order the use cases make them: the caller's right first.
    fn decide(&self, transition: &Transition) -> Result<Model, Refusal> {
        let caller_id = transition.caller();
        let org = self.users[caller_id].org.clone();
        let require = |operation| {
            if self.holds(caller_id, operation) {
                Ok(())
            } else {
                Err(Refusal::NotAuthorized(operation))
            }
        };
        let mut next = self.clone();
        match transition {
            Transition::CreateUser { id, name, kind, .. } => {
                require(Operation::CreateUser)?;
                if !matches!(kind, UserKind::CustomerEmployee | UserKind::EndUser) {
                    return Err(Refusal::CreateUser(CreateUserError::KindNotCreatable(*kind)));
                }
                let name_class = NAMES[*name].1;
                let taken = self.users.values().any(|u| {
                    u.org == org && u.standing != Standing::Archived && u.name_class == name_class
                });
                if taken {
                    return Err(Refusal::CreateUser(CreateUserError::UsernameTaken));
                }
                let user = ModelUser {
                    org,
                    name_class,
                    standing: Standing::Active,
                    holds: BTreeMap::new(),
                };
                next.users.insert(id.clone(), user);
                Ok(next)
            }
            Transition::ArchiveUser { target, .. } => {
                require(Operation::DeleteUser)?;
                if self.user_in(&org, target).is_none() {
                    return Err(Refusal::ArchiveUser(ArchiveUserError::NotFound));
                }
                if target == caller_id {
                    return Err(Refusal::ArchiveUser(ArchiveUserError::SelfArchive));
                }
                let user = next.users.get_mut(target).expect("a live target");
                user.standing = Standing::Archived;
                let ended = std::mem::take(&mut user.holds);
                next.ended.extend(ended.into_iter().map(|(a, p)| (p, a)));
                self.guarded(next)
            }
            Transition::SetActive { target, active, .. } => {
                require(if *active { Operation::ActivateUser } else { Operation::DeactivateUser })?;
                if self.user_in(&org, target).is_none() {
                    return Err(Refusal::ChangeActive(ChangeActiveError::NotFound));
                }
                if !active && target == caller_id {
                    return Err(Refusal::ChangeActive(ChangeActiveError::SelfDeactivate));
                }
                let standing = if *active { Standing::Active } else { Standing::Inactive };
                next.users.get_mut(target).expect("a live target").standing = standing;
                self.guarded(next)
            }
            Transition::CreatePermission { id, operations, .. } => {
                require(Operation::CreatePermission)?;
                let permission = ModelPermission {
                    org,
                    operations: operations.iter().copied().collect(),
                    immutable: false,
                    archived: false,
                };
                next.permissions.insert(id.clone(), permission);
                Ok(next)
            }
            Transition::UpdatePermission { permission, operations, .. } => {
                require(Operation::UpdatePermission)?;
                self.mutable_permission(&org, permission)?;
                let changed = next.permissions.get_mut(permission).expect("a known permission");
                changed.operations = operations.iter().copied().collect();
                self.guarded(next)
            }
            Transition::ArchivePermission { permission, .. } => {
                require(Operation::ArchivePermission)?;
                self.mutable_permission(&org, permission)?;
                next.permissions.get_mut(permission).expect("a known permission").archived = true;
                for user in next.users.values_mut() {
                    let (ended, kept): (BTreeMap<_, _>, _) = std::mem::take(&mut user.holds)
                        .into_iter()
                        .partition(|(_, held)| held == permission);
                    user.holds = kept;
                    next.ended.extend(ended.into_iter().map(|(a, p)| (p, a)));
                }
                self.guarded(next)
            }
            Transition::Assign { permission, target, id, .. } => {
                require(Operation::AssignPermission)?;
                let Some(assigned) = self.permission_in(&org, permission) else {
                    return Err(Refusal::Assign(AssignPermissionError::PermissionNotFound));
                };
                let Some(user) = self.user_in(&org, target) else {
                    return Err(Refusal::Assign(AssignPermissionError::UserNotFound));
                };
                if assigned.archived {
                    return Err(Refusal::Assign(AssignPermissionError::PermissionArchived));
                }
                if user.holds.values().any(|held| held == permission) {
                    return Err(Refusal::Assign(AssignPermissionError::AlreadyAssigned));
                }
                let user = next.users.get_mut(target).expect("a live target");
                user.holds.insert(id.clone(), permission.clone());
                Ok(next)
            }
            Transition::Revoke { permission, assignment, .. } => {
                require(Operation::RevokePermission)?;
                if self.permission_in(&org, permission).is_none() {
                    return Err(Refusal::Revoke(RevokeAssignmentError::PermissionNotFound));
                }
                let holder =
                    next.users.values_mut().find(|u| u.holds.get(assignment) == Some(permission));
                let Some(holder) = holder else {
                    return Err(Refusal::Revoke(RevokeAssignmentError::AssignmentNotFound));
                };
                holder.holds.remove(assignment);
                next.ended.push((permission.clone(), assignment.clone()));
                self.guarded(next)
            }
        }
    }

    /// Who makes a step of `kind`: often one who may make it but cannot
    /// assign, the kind of user who can take that power from the last who
    /// has it; often an admin; sometimes anyone active.
    fn callers(&self, kind: Step) -> BoxedStrategy<UserId> {
        let active: Vec<UserId> = self
            .users
            .iter()
            .filter(|(_, u)| u.standing == Standing::Active)
            .map(|(id, _)| id.clone())
            .collect();
        let admins: Vec<UserId> = active.iter().filter(|id| self.is_admin(id)).cloned().collect();
        let limited: Vec<UserId> = active
            .iter()
            .filter(|id| {
                self.holds(id, kind.operation()) && !self.holds(id, Operation::AssignPermission)
            })
            .cloned()
            .collect();
        // The last active user of an org can neither deactivate nor
        // archive itself, so there is always a caller.
        weighted(vec![(3, limited), (2, admins), (1, active)]).expect("an active user")
    }

    /// A user for `caller` to act on: mostly one of `focus` or another live
    /// user of its org; sometimes itself, or anyone at all.
    fn target(&self, caller: &UserId, focus: Vec<UserId>) -> BoxedStrategy<UserId> {
        let org = &self.users[caller].org;
        let live: Vec<UserId> = self
            .users
            .iter()
            .filter(|(id, u)| &u.org == org && u.standing != Standing::Archived && *id != caller)
            .map(|(id, _)| id.clone())
            .collect();
        let everyone: Vec<UserId> = self.users.keys().cloned().collect();
        weighted(vec![(6, focus), (6, live), (1, vec![caller.clone()]), (1, everyone)])
            .expect("everyone holds the caller")
    }

    /// The permissions of `org` that `keep` selects.
    fn permissions_of(
        &self,
        org: &OrgId,
        keep: impl Fn(&ModelPermission) -> bool,
    ) -> Vec<PermissionId> {
        self.permissions
            .iter()
            .filter(|(_, p)| &p.org == org && keep(p))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A permission for a caller of `org` to act on: mostly one of `focus`
    /// or another live one it may change; sometimes its `OrgAdmin`, or any
    /// permission at all.
    fn permission(&self, org: &OrgId, focus: Vec<PermissionId>) -> BoxedStrategy<PermissionId> {
        let mutable = self.permissions_of(org, |p| !p.immutable && !p.archived);
        let org_admin = self.permissions_of(org, |p| p.immutable);
        let every_permission: Vec<PermissionId> = self.permissions.keys().cloned().collect();
        weighted(vec![(4, focus), (6, mutable), (1, org_admin), (1, every_permission)])
            .expect("every org has its OrgAdmin")
    }

    /// A step of `kind` made by `caller`.
    fn step_of(&self, kind: Step, caller: &UserId) -> BoxedStrategy<Transition> {
        let c = caller.clone();
        let fresh = self.next;
        let org = &self.users[caller].org;
        let assigners: Vec<UserId> =
            self.assigners(org).into_iter().filter(|id| *id != caller).cloned().collect();
        let grants_assign = |p: &ModelPermission| {
            !p.archived && p.operations.contains(&Operation::AssignPermission)
        };
        match kind {
            Step::CreateUser => {
                let kinds = prop_oneof![
                    4 => Just(UserKind::CustomerEmployee),
                    4 => Just(UserKind::EndUser),
                    1 => Just(UserKind::DfnsStaff),
                    1 => Just(UserKind::AccountUser),
                ];
                (0..NAMES.len(), kinds)
                    .prop_map(move |(name, kind)| {
                        let id = UserId::from_random(&numbered(fresh));
                        Transition::CreateUser { caller: c.clone(), id, name, kind }
                    })
                    .boxed()
            }
            Step::ArchiveUser => self
                .target(caller, assigners)
                .prop_map(move |target| Transition::ArchiveUser { caller: c.clone(), target })
                .boxed(),
            Step::Deactivate => self
                .target(caller, assigners)
                .prop_map(move |target| Transition::SetActive {
                    caller: c.clone(),
                    target,
                    active: false,
                })
                .boxed(),
            Step::Activate => {
                let inactive: Vec<UserId> = self
                    .users
                    .iter()
                    .filter(|(_, u)| &u.org == org && u.standing == Standing::Inactive)
                    .map(|(id, _)| id.clone())
                    .collect();
                self.target(caller, inactive)
                    .prop_map(move |target| Transition::SetActive {
                        caller: c.clone(),
                        target,
                        active: true,
                    })
                    .boxed()
            }
            Step::CreatePermission => operations()
                .prop_map(move |operations| {
                    let id = PermissionId::from_random(&numbered(fresh));
                    Transition::CreatePermission { caller: c.clone(), id, operations }
                })
                .boxed(),
            Step::UpdatePermission => {
                // Mostly give or take `Permissions:Assign`, keeping the rest.
                let current: BTreeMap<PermissionId, BTreeSet<Operation>> = self
                    .permissions
                    .iter()
                    .map(|(id, p)| (id.clone(), p.operations.clone()))
                    .collect();
                let granting = self.permissions_of(org, |p| grants_assign(p) && !p.immutable);
                (self.permission(org, granting), prop::bool::weighted(0.75), operations())
                    .prop_map(move |(permission, toggle, replacement)| {
                        let operations = if toggle {
                            let mut kept = current[&permission].clone();
                            if !kept.remove(&Operation::AssignPermission) {
                                kept.insert(Operation::AssignPermission);
                            }
                            kept.into_iter().collect()
                        } else {
                            replacement
                        };
                        Transition::UpdatePermission { caller: c.clone(), permission, operations }
                    })
                    .boxed()
            }
            Step::ArchivePermission => {
                let granting = self.permissions_of(org, |p| grants_assign(p) && !p.immutable);
                self.permission(org, granting)
                    .prop_map(move |permission| Transition::ArchivePermission {
                        caller: c.clone(),
                        permission,
                    })
                    .boxed()
            }
            Step::Assign => {
                // Mostly a live permission to a live user of the org who
                // lacks it, often one that makes it an assigner, `OrgAdmin`
                // included: giving it makes an admin.
                let mut fitting = Vec::new();
                let mut empowering = Vec::new();
                for (permission, p) in self.permissions.iter().filter(|(_, p)| &p.org == org) {
                    for (id, user) in &self.users {
                        let fits = &user.org == org
                            && user.standing != Standing::Archived
                            && !p.archived
                            && !user.holds.values().any(|held| held == permission);
                        if fits && grants_assign(p) {
                            empowering.push((permission.clone(), id.clone()));
                        }
                        if fits {
                            fitting.push((permission.clone(), id.clone()));
                        }
                    }
                }
                let granting = self.permissions_of(org, grants_assign);
                let any = (self.permission(org, granting), self.target(caller, Vec::new()));
                let pair = match weighted(vec![(1, empowering), (1, fitting)]) {
                    Some(fitting) => prop_oneof![5 => fitting, 1 => any].boxed(),
                    None => any.boxed(),
                };
                pair.prop_map(move |(permission, target)| {
                    let id = AssignmentId::from_random(&numbered(fresh));
                    Transition::Assign { caller: c.clone(), permission, target, id }
                })
                .boxed()
            }
            Step::Revoke => self
                .revocable(org)
                .prop_map(move |(permission, assignment)| Transition::Revoke {
                    caller: c.clone(),
                    permission,
                    assignment,
                })
                .boxed(),
        }
    }

    /// A permission of `org` and an assignment to revoke from it: mostly
    /// a live one, often one that gives an active user the power to
    /// assign; now and then one of another permission, one already ended,
    /// or one that never was.
    fn revocable(&self, org: &OrgId) -> BoxedStrategy<(PermissionId, AssignmentId)> {
        let mut held = Vec::new();
        let mut assigning = Vec::new();
        for user in self.users.values().filter(|u| &u.org == org) {
            for (assignment, permission) in &user.holds {
                let pair = (permission.clone(), assignment.clone());
                let grants =
                    self.permissions[permission].operations.contains(&Operation::AssignPermission);
                if user.standing == Standing::Active && grants {
                    assigning.push(pair.clone());
                }
                held.push(pair);
            }
        }
        let mismatched: Vec<(PermissionId, AssignmentId)> = held
            .iter()
            .filter_map(|(permission, assignment)| {
                let other = self
                    .permissions
                    .iter()
                    .find(|(id, p)| &p.org == org && *id != permission)
                    .map(|(id, _)| id.clone())?;
                Some((other, assignment.clone()))
            })
            .collect();
        let org_admin = self.permissions_of(org, |p| p.immutable).remove(0);
        let never = vec![(org_admin, AssignmentId::from_random(&numbered(self.next)))];
        weighted(vec![
            (4, assigning),
            (6, held),
            (1, mismatched),
            (1, self.ended.clone()),
            (1, never),
        ])
        .expect("an assignment that never was")
    }
}

impl Model {
    /// Steps that take an admin's power once someone else of its org can
    /// assign: the power then rests on permissions that can change, where
    /// the guard of a permission change has work to do.
    fn hand_overs(&self) -> Vec<Transition> {
        let mut hand_overs = Vec::new();
        for founding in &self.foundings {
            let org = &founding.org;
            let assigners = self.assigners(org);
            if !assigners.iter().any(|id| !self.is_admin(id)) {
                continue;
            }
            let callers: Vec<&UserId> = self
                .users
                .iter()
                .filter(|(_, u)| &u.org == org && u.standing == Standing::Active)
                .map(|(id, _)| id)
                .collect();
            let with = |operation| callers.iter().filter(move |id| self.holds(id, operation));
            for &admin in assigners.iter().filter(|id| self.is_admin(id)) {
                for &caller in with(Operation::DeactivateUser).filter(|id| **id != admin) {
                    let (caller, target) = (caller.clone(), admin.clone());
                    hand_overs.push(Transition::SetActive { caller, target, active: false });
                }
                for &caller in with(Operation::DeleteUser).filter(|id| **id != admin) {
                    let (caller, target) = (caller.clone(), admin.clone());
                    hand_overs.push(Transition::ArchiveUser { caller, target });
                }
                for (assignment, permission) in &self.users[admin].holds {
                    if !self.permissions[permission].immutable {
                        continue;
                    }
                    for &caller in with(Operation::RevokePermission) {
                        hand_overs.push(Transition::Revoke {
                            caller: caller.clone(),
                            permission: permission.clone(),
                            assignment: assignment.clone(),
                        });
                    }
                }
            }
        }
        hand_overs
    }

    /// Steps that would take the power to assign from the last of an org
    /// who has it, made by users who have the right to make them: the
    /// guard must refuse every one.
    fn threats(&self) -> Vec<Transition> {
        let mut threats = Vec::new();
        for founding in &self.foundings {
            let org = &founding.org;
            let callers: Vec<&UserId> = self
                .users
                .iter()
                .filter(|(_, u)| &u.org == org && u.standing == Standing::Active)
                .map(|(id, _)| id)
                .collect();
            let with = |operation| callers.iter().filter(move |id| self.holds(id, operation));

            let assigners = self.assigners(org);
            if let [last] = assigners.into_iter().collect::<Vec<_>>()[..] {
                for &caller in with(Operation::DeactivateUser).filter(|id| **id != last) {
                    let (caller, target) = (caller.clone(), last.clone());
                    threats.push(Transition::SetActive { caller, target, active: false });
                }
                for &caller in with(Operation::DeleteUser).filter(|id| **id != last) {
                    let (caller, target) = (caller.clone(), last.clone());
                    threats.push(Transition::ArchiveUser { caller, target });
                }
                let granting: Vec<(&AssignmentId, &PermissionId)> = self.users[last]
                    .holds
                    .iter()
                    .filter(|(_, p)| {
                        self.permissions[*p].operations.contains(&Operation::AssignPermission)
                    })
                    .collect();
                if let [(assignment, permission)] = granting[..] {
                    for &caller in with(Operation::RevokePermission) {
                        threats.push(Transition::Revoke {
                            caller: caller.clone(),
                            permission: permission.clone(),
                            assignment: assignment.clone(),
                        });
                    }
                }
            }

            for (id, permission) in &self.permissions {
                let changes = &permission.org == org && !permission.immutable;
                if !changes || !permission.operations.contains(&Operation::AssignPermission) {
                    continue;
                }
                let mut kept = permission.operations.clone();
                kept.remove(&Operation::AssignPermission);
                let mut without = self.clone();
                let taken = without.permissions.get_mut(id).expect("a known permission");
                taken.operations = kept.clone();
                if !without.assigners(org).is_empty() {
                    continue;
                }
                for &caller in with(Operation::UpdatePermission) {
                    let operations = kept.iter().copied().collect();
                    let (caller, permission) = (caller.clone(), id.clone());
                    threats.push(Transition::UpdatePermission { caller, permission, operations });
                }
                for &caller in with(Operation::ArchivePermission) {
                    let (caller, permission) = (caller.clone(), id.clone());
                    threats.push(Transition::ArchivePermission { caller, permission });
                }
            }
        }
        threats
    }
}

/// A choice among the non-empty `options`, by weight; none when all are
/// empty.
fn weighted<T>(options: Vec<(u32, Vec<T>)>) -> Option<BoxedStrategy<T>>
where
    T: Clone + fmt::Debug + 'static,
{
    let options: Vec<(u32, BoxedStrategy<T>)> = options
        .into_iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(weight, values)| (weight, select(values).boxed()))
        .collect();
    (!options.is_empty()).then(|| Union::new_weighted(options).boxed())
}

/// Operations for a permission: a subset in the usual order, or a few in
/// any order, perhaps twice.
fn operations() -> BoxedStrategy<Vec<Operation>> {
    prop_oneof![
        subsequence(Operation::ALL, 0..=Operation::ALL.len()),
        proptest::collection::vec(select(Operation::ALL), 0..8),
    ]
    .boxed()
}

struct RolesMachine;

impl ReferenceStateMachine for RolesMachine {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        proptest::collection::vec(0..NAMES.len(), ORGS as usize)
            .prop_map(|names| {
                let mut model = Model {
                    foundings: Vec::new(),
                    users: BTreeMap::new(),
                    permissions: BTreeMap::new(),
                    ended: Vec::new(),
                    next: ORGS + 1,
                    last: None,
                };
                for (n, name) in (1..).zip(names) {
                    let founding = Founding {
                        org: OrgId::from_random(&numbered(n)),
                        admin: UserId::from_random(&numbered(n)),
                        name,
                        org_admin: PermissionId::from_random(&numbered(n)),
                        assignment: AssignmentId::from_random(&numbered(n)),
                    };
                    let admin = ModelUser {
                        org: founding.org.clone(),
                        name_class: NAMES[name].1,
                        standing: Standing::Active,
                        holds: BTreeMap::from([(
                            founding.assignment.clone(),
                            founding.org_admin.clone(),
                        )]),
                    };
                    // `OrgAdmin` grants every operation there is.
                    let org_admin = ModelPermission {
                        org: founding.org.clone(),
                        operations: Operation::ALL.iter().copied().collect(),
                        immutable: true,
                        archived: false,
                    };
                    model.users.insert(founding.admin.clone(), admin);
                    model.permissions.insert(founding.org_admin.clone(), org_admin);
                    model.foundings.push(founding);
                }
                model
            })
            .boxed()
    }

    fn transitions(model: &Model) -> BoxedStrategy<Transition> {
        let mut kinds = vec![
            (2, Step::ArchiveUser),
            (2, Step::Deactivate),
            (1, Step::Activate),
            (3, Step::Revoke),
        ];
        // Orgs start with their admin alone: they grow fast at first.
        let live_users = model.users.values().filter(|u| u.standing != Standing::Archived).count();
        if live_users < MAX_LIVE_USERS {
            kinds.push((if live_users < MAX_LIVE_USERS / 2 { 4 } else { 1 }, Step::CreateUser));
        }
        // Mostly give a permission to someone who lacks it, once there is
        // such a pair.
        let lacks = |(id, p): (&PermissionId, &ModelPermission)| {
            !p.archived
                && model.users.values().any(|u| {
                    u.org == p.org
                        && u.standing != Standing::Archived
                        && !u.holds.values().any(|held| held == id)
                })
        };
        let assignable = model.permissions.iter().any(lacks);
        kinds.push((if assignable { 12 } else { 1 }, Step::Assign));
        // Changing a permission needs one that can change.
        if model.permissions.values().any(|p| !p.archived && !p.immutable) {
            kinds.extend([(3, Step::UpdatePermission), (1, Step::ArchivePermission)]);
        }
        let live_permissions = model.permissions.values().filter(|p| !p.archived).count();
        if live_permissions < MAX_LIVE_PERMISSIONS {
            let weight = if live_permissions < MAX_LIVE_PERMISSIONS / 2 { 5 } else { 2 };
            kinds.push((weight, Step::CreatePermission));
        }
        let threats = model.threats();
        let hand_overs = model.hand_overs();
        let model = Arc::new(model.clone());
        let mut steps: Vec<(u32, BoxedStrategy<Transition>)> = kinds
            .into_iter()
            .map(|(weight, kind)| {
                let model = Arc::clone(&model);
                let step = model
                    .callers(kind)
                    .prop_flat_map(move |caller| model.step_of(kind, &caller))
                    .boxed();
                (weight, step)
            })
            .collect();
        if !hand_overs.is_empty() {
            steps.push((4, select(hand_overs).boxed()));
        }
        // A guard that is never asked proves nothing: a threat is made
        // soon after it appears, except the lone admin revoking its own
        // `OrgAdmin`, which is always there to be made.
        let mut by_use_case: BTreeMap<&str, Vec<Transition>> = BTreeMap::new();
        for threat in threats {
            by_use_case.entry(threat.use_case()).or_default().push(threat);
        }
        for (use_case, threats) in by_use_case {
            let weight = if use_case == "revoke assignment" { 2 } else { 12 };
            steps.push((weight, select(threats).boxed()));
        }
        Union::new_weighted(steps).boxed()
    }

    fn preconditions(model: &Model, transition: &Transition) -> bool {
        // Shrinking drops steps, so a caller may no longer be active. Fresh
        // ids stay fresh: each step was given its own number.
        model.users.get(transition.caller()).is_some_and(|u| u.standing == Standing::Active)
    }

    fn apply(mut model: Model, transition: &Transition) -> Model {
        model.next += 1;
        match model.decide(transition) {
            Ok(next) => Model { last: Some(Ok(())), ..next },
            Err(refusal) => Model { last: Some(Err(refusal)), ..model },
        }
    }
}

/// What the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rows {
    users: BTreeMap<UserId, User>,
    permissions: BTreeMap<PermissionId, Permission>,
}

/// The system under test: the domain's decisions on a table that plays
/// the store, called the way the use cases call them.
#[derive(Debug)]
struct Table {
    rows: Rows,
    /// The rows before the last step.
    previous: Rows,
    /// Each org's `OrgAdmin` as it was first stored.
    org_admins: Vec<Permission>,
    last: Option<Outcome>,
    clock: i64,
    /// The use case and outcome of every step so far.
    steps: Vec<(&'static str, Outcome)>,
}

/// The caller's right to `operation`, as `authorize` checks it first.
fn authorize(caller: &Caller, operation: Operation) -> Outcome {
    caller.require(operation).map_err(|denied| Refusal::NotAuthorized(denied.operation))
}

impl Table {
    fn now(&mut self) -> Timestamp {
        self.clock += 1;
        Timestamp::from_unix_millis(self.clock)
    }

    /// The caller behind a login token of `id`, as a request loads it.
    fn caller(&self, id: &UserId) -> Caller {
        let user = self.rows.users.get(id).expect("the model picks stored callers").clone();
        let org = user.org_id.clone();
        Caller::from_token_subject(user, &org).expect("the model picks active callers")
    }

    /// The stored user `id`, of any org, archived or not.
    fn find_user(&self, id: &UserId) -> Option<User> {
        self.rows.users.get(id).cloned()
    }

    /// The permission `id` if `caller` may see it, as the use cases load it.
    fn load_permission(&self, caller: &Caller, id: &PermissionId) -> Option<Permission> {
        let permission = self.rows.permissions.get(id)?;
        domain::permission_visible_to(caller, permission).then(|| permission.clone())
    }

    /// The live assignments of `permission` and who holds each.
    fn assignments_of(&self, permission: &PermissionId) -> Vec<(AssignmentId, UserId)> {
        let mut found = Vec::new();
        for user in self.rows.users.values() {
            for held in user.assignments.iter().filter(|a| &a.permission_id == permission) {
                found.push((held.assignment_id.clone(), user.id.clone()));
            }
        }
        found
    }

    /// The active users of `org` holding a live permission of the org that
    /// grants `Permissions:Assign`, read from the permissions as stored.
    fn assigners(&self, org: &OrgId) -> Vec<UserId> {
        let grants = |id: &PermissionId| {
            self.rows.permissions.get(id).is_some_and(|p| {
                &p.org_id == org && !p.is_archived && p.grants(Operation::AssignPermission)
            })
        };
        self.rows
            .users
            .values()
            .filter(|u| u.is_active() && u.assignments.iter().any(|a| grants(&a.permission_id)))
            .map(|u| u.id.clone())
            .collect()
    }

    /// The guard of a change of one user, as the use cases ask it: only
    /// when the user loses the power to assign.
    fn guard(&self, before: &User, after: &User) -> Outcome {
        if !loses_assign(before, after) {
            return Ok(());
        }
        self.checked_guard(&before.org_id, std::slice::from_ref(&before.id))
    }

    /// The guard of a change of a permission: when it stops granting
    /// `Permissions:Assign`, every holder that no other assignment lets
    /// assign loses the power.
    fn permission_guard(&self, before: &Permission, after: &Permission) -> Outcome {
        let grants = |p: &Permission| !p.is_archived && p.grants(Operation::AssignPermission);
        if !grants(before) || grants(after) {
            return Ok(());
        }
        let mut losing = Vec::new();
        for (_, holder) in self.assignments_of(&before.id) {
            let Some(holder) = self.find_user(&holder) else {
                continue;
            };
            let assigns_otherwise = holder.assignments.iter().any(|a| {
                a.permission_id != before.id && a.operations.contains(&Operation::AssignPermission)
            });
            if !assigns_otherwise {
                losing.push(holder.id);
            }
        }
        self.checked_guard(&before.org_id, &losing)
    }

    fn checked_guard(&self, org: &OrgId, losing: &[UserId]) -> Outcome {
        keep_an_assigner(&self.assigners(org), losing).map_err(Refusal::LastAssigner)
    }

    /// Stores a decided change of a user.
    fn store_user(&mut self, user: User) {
        let stored = User { version: user.version + 1, ..user };
        self.rows.users.insert(stored.id.clone(), stored);
    }

    /// Stores a decided change of a permission. Its holders see it at
    /// once, as the store's join shows them: the new name and operations,
    /// or no assignment at all once it is archived.
    fn store_permission(&mut self, permission: Permission) {
        let stored = Permission { version: permission.version + 1, ..permission };
        for user in self.rows.users.values_mut() {
            if stored.is_archived {
                user.assignments.retain(|a| a.permission_id != stored.id);
                continue;
            }
            for held in user.assignments.iter_mut().filter(|a| a.permission_id == stored.id) {
                held.permission_name = stored.name.as_str().to_owned();
                held.operations = stored.operations.clone();
            }
        }
        self.rows.permissions.insert(stored.id.clone(), stored);
    }

    fn run(&mut self, transition: Transition) -> Outcome {
        match transition {
            Transition::CreateUser { caller, id, name, kind } => {
                self.create_user(&caller, id, name, kind)
            }
            Transition::ArchiveUser { caller, target } => self.archive_user(&caller, &target),
            Transition::SetActive { caller, target, active } => {
                self.set_active(&caller, &target, active)
            }
            Transition::CreatePermission { caller, id, operations } => {
                self.create_permission(&caller, id, operations)
            }
            Transition::UpdatePermission { caller, permission, operations } => {
                self.update_permission(&caller, &permission, operations)
            }
            Transition::ArchivePermission { caller, permission } => {
                self.archive_permission(&caller, &permission)
            }
            Transition::Assign { caller, permission, target, id } => {
                self.assign(&caller, &permission, &target, id)
            }
            Transition::Revoke { caller, permission, assignment } => {
                self.revoke(&caller, &permission, &assignment)
            }
        }
    }

    fn create_user(&mut self, caller: &UserId, id: UserId, name: usize, kind: UserKind) -> Outcome {
        let caller = self.caller(caller);
        authorize(&caller, Operation::CreateUser)?;
        let username = Username::parse(NAMES[name].0).expect("the names are valid");
        let new = NewUser {
            id,
            username,
            kind,
            external_id: None,
            is_sso_required: false,
            credential: None,
        };
        let (user, _event) = create_user(&caller, new, self.now()).map_err(Refusal::CreateUser)?;

        // The store refuses, with the insert, a name a live user holds.
        let taken = self.rows.users.values().any(|other| {
            other.is_visible_to(&user.org_id) && other.username.same_as(&user.username)
        });
        if taken {
            return Err(Refusal::CreateUser(CreateUserError::UsernameTaken));
        }
        self.rows.users.insert(user.id.clone(), user);
        Ok(())
    }

    fn archive_user(&mut self, caller: &UserId, target: &UserId) -> Outcome {
        let caller = self.caller(caller);
        authorize(&caller, Operation::DeleteUser)?;
        let target =
            self.find_user(target).ok_or(Refusal::ArchiveUser(ArchiveUserError::NotFound))?;
        let (archived, _event) =
            archive_user(&caller, &target, self.now()).map_err(Refusal::ArchiveUser)?;
        self.guard(&target, &archived)?;
        self.store_user(archived);
        Ok(())
    }

    fn set_active(&mut self, caller: &UserId, target: &UserId, active: bool) -> Outcome {
        let caller = self.caller(caller);
        let operation = if active { Operation::ActivateUser } else { Operation::DeactivateUser };
        authorize(&caller, operation)?;
        let target =
            self.find_user(target).ok_or(Refusal::ChangeActive(ChangeActiveError::NotFound))?;
        let decided =
            set_active(&caller, &target, active, self.now()).map_err(Refusal::ChangeActive)?;
        if let Some((changed, _event)) = decided {
            self.guard(&target, &changed)?;
            self.store_user(changed);
        }
        Ok(())
    }

    fn create_permission(
        &mut self,
        caller: &UserId,
        id: PermissionId,
        operations: Vec<Operation>,
    ) -> Outcome {
        let caller = self.caller(caller);
        authorize(&caller, Operation::CreatePermission)?;
        // Names are unique per permission: clashes are the store's rule.
        let name = PermissionName::parse(&format!("Role {id}")).expect("a valid name");
        let (permission, _event) = create_permission(&caller, id, name, operations, self.now());
        self.rows.permissions.insert(permission.id.clone(), permission);
        Ok(())
    }

    fn update_permission(
        &mut self,
        caller: &UserId,
        id: &PermissionId,
        operations: Vec<Operation>,
    ) -> Outcome {
        let caller = self.caller(caller);
        authorize(&caller, Operation::UpdatePermission)?;
        let current = self
            .load_permission(&caller, id)
            .ok_or(Refusal::Permission(PermissionChangeError::NotFound))?;
        let (updated, _event) =
            update_permission(&caller, &current, None, Some(operations), self.now())
                .map_err(Refusal::Permission)?;
        self.permission_guard(&current, &updated)?;
        self.store_permission(updated);
        Ok(())
    }

    fn archive_permission(&mut self, caller: &UserId, id: &PermissionId) -> Outcome {
        let caller = self.caller(caller);
        authorize(&caller, Operation::ArchivePermission)?;
        let current = self
            .load_permission(&caller, id)
            .ok_or(Refusal::Permission(PermissionChangeError::NotFound))?;
        let (archived, _event) =
            archive_permission(&caller, &current, self.now()).map_err(Refusal::Permission)?;
        self.permission_guard(&current, &archived)?;
        self.store_permission(archived);
        Ok(())
    }

    fn assign(
        &mut self,
        caller: &UserId,
        id: &PermissionId,
        target: &UserId,
        assignment: AssignmentId,
    ) -> Outcome {
        let caller = self.caller(caller);
        authorize(&caller, Operation::AssignPermission)?;
        let permission = self
            .load_permission(&caller, id)
            .ok_or(Refusal::Assign(AssignPermissionError::PermissionNotFound))?;
        let target =
            self.find_user(target).ok_or(Refusal::Assign(AssignPermissionError::UserNotFound))?;
        let (assigned, _event) =
            assign_permission(&caller, &permission, &target, assignment, self.now())
                .map_err(Refusal::Assign)?;
        self.store_user(assigned);
        Ok(())
    }

    fn revoke(&mut self, caller: &UserId, id: &PermissionId, assignment: &AssignmentId) -> Outcome {
        let caller = self.caller(caller);
        authorize(&caller, Operation::RevokePermission)?;
        let not_found = Refusal::Revoke(RevokeAssignmentError::AssignmentNotFound);
        let permission = self
            .load_permission(&caller, id)
            .ok_or(Refusal::Revoke(RevokeAssignmentError::PermissionNotFound))?;
        let (_, holder) = self
            .assignments_of(&permission.id)
            .into_iter()
            .find(|(held, _)| held == assignment)
            .ok_or(not_found.clone())?;
        let holder = self.find_user(&holder).ok_or(not_found)?;
        let (revoked, _event) =
            revoke_assignment(&caller, &permission, &holder, assignment, self.now())
                .map_err(Refusal::Revoke)?;
        self.guard(&holder, &revoked)?;
        self.store_user(revoked);
        Ok(())
    }
}

/// How the cases of a run went, to show the guard was put to work.
#[derive(Debug, Default)]
struct Statistics {
    cases: usize,
    steps: usize,
    /// Cases in which the guard refused at least one step.
    guarded_cases: usize,
    /// Cases in which the guard refused at least one step of a use case.
    guarded_cases_of: BTreeMap<&'static str, usize>,
    /// How often each use case ended with each outcome.
    outcomes: BTreeMap<(&'static str, String), usize>,
}

impl Statistics {
    fn record(&mut self, steps: &[(&'static str, Outcome)]) {
        self.cases += 1;
        self.steps += steps.len();
        let guarded: BTreeSet<&'static str> = steps
            .iter()
            .filter(|(_, outcome)| matches!(outcome, Err(Refusal::LastAssigner(_))))
            .map(|(use_case, _)| *use_case)
            .collect();
        if !guarded.is_empty() {
            self.guarded_cases += 1;
        }
        for use_case in guarded {
            *self.guarded_cases_of.entry(use_case).or_default() += 1;
        }
        for (use_case, outcome) in steps {
            let outcome = match outcome {
                Ok(()) => "done".to_owned(),
                Err(refusal) => format!("{refusal:?}"),
            };
            *self.outcomes.entry((use_case, outcome)).or_default() += 1;
        }
    }
}

impl fmt::Display for Statistics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} cases, {} steps", self.cases, self.steps)?;
        writeln!(f, "{} cases with a step refused by the guard", self.guarded_cases)?;
        for (use_case, cases) in &self.guarded_cases_of {
            writeln!(f, "{cases:6}  cases with {use_case} refused by the guard")?;
        }
        for ((use_case, outcome), count) in &self.outcomes {
            writeln!(f, "{count:6}  {use_case}: {outcome}")?;
        }
        Ok(())
    }
}

thread_local! {
    /// The statistics of the cases run on this thread.
    static STATISTICS: RefCell<Statistics> = RefCell::default();
}

impl StateMachineTest for RolesMachine {
    type SystemUnderTest = Table;
    type Reference = RolesMachine;

    fn init_test(model: &Model) -> Table {
        let start = Timestamp::from_unix_millis(0);
        let mut rows = Rows { users: BTreeMap::new(), permissions: BTreeMap::new() };
        let mut org_admins = Vec::new();
        for founding in &model.foundings {
            let org_admin =
                Permission::org_admin(founding.org_admin.clone(), founding.org.clone(), start);
            let admin = stored_user(&founding.admin, &founding.org, founding.name, Vec::new());
            // The first admin is given `OrgAdmin` by the assign decision.
            let itself = Caller::from_token_subject(admin.clone(), &founding.org)
                .expect("a new admin is active");
            let (admin, _event) =
                assign_permission(&itself, &org_admin, &admin, founding.assignment.clone(), start)
                    .expect("a new admin can be given OrgAdmin");
            rows.users.insert(admin.id.clone(), admin);
            rows.permissions.insert(org_admin.id.clone(), org_admin.clone());
            org_admins.push(org_admin);
        }
        Table { previous: rows.clone(), rows, org_admins, last: None, clock: 0, steps: Vec::new() }
    }

    fn apply(mut table: Table, _model: &Model, transition: Transition) -> Table {
        table.previous = table.rows.clone();
        let use_case = transition.use_case();
        let outcome = table.run(transition);
        table.steps.push((use_case, outcome.clone()));
        if _model
            .foundings
            .iter()
            .any(|f| _model.assigners(&f.org).iter().all(|id| !_model.is_admin(id)))
        {
            table.steps.push(("zz no admin assigner", Err(Refusal::LastAssigner(LastAssigner))));
        }
        if _model.foundings.iter().any(|f| _model.assigners(&f.org).len() > 1) {
            table.steps.push(("zz two assigners", Err(Refusal::LastAssigner(LastAssigner))));
        }
        table.last = Some(outcome);
        table
    }

    fn check_invariants(table: &Table, model: &Model) {
        assert_eq!(table.last, model.last, "the outcome differs from the model's");

        if matches!(table.last, Some(Err(_))) {
            assert_eq!(table.rows, table.previous, "a refused step changed the table");
        }

        let users = &table.rows.users;
        let permissions = &table.rows.permissions;
        for founding in &model.foundings {
            let keeps_an_assigner = users.values().any(|u| {
                u.org_id == founding.org && u.is_active() && u.holds(Operation::AssignPermission)
            });
            assert!(keeps_an_assigner, "{} has no active user who can assign", founding.org);
        }

        for org_admin in &table.org_admins {
            assert_eq!(&permissions[&org_admin.id], org_admin, "OrgAdmin changed");
        }

        for (id, before) in &table.previous.users {
            if before.is_archived() {
                assert_eq!(&users[id], before, "{id} changed after it was archived");
            }
        }

        for (id, user) in users {
            if user.is_archived() {
                assert!(user.assignments.is_empty(), "archived {id} holds assignments");
            }
            let mut held = BTreeSet::new();
            for assignment in &user.assignments {
                let permission = &permissions[&assignment.permission_id];
                assert!(held.insert(&permission.id), "{id} holds {} twice", permission.id);
                assert!(!permission.is_archived, "{id} holds archived {}", permission.id);
                assert_eq!(permission.org_id, user.org_id, "{id} holds a foreign permission");
                assert_eq!(
                    assignment.operations, permission.operations,
                    "{id} sees stale operations of {}",
                    permission.id
                );
                assert_eq!(assignment.permission_name, permission.name.as_str());
            }
            for &operation in Operation::ALL {
                let granted = user.assignments.iter().any(|a| {
                    let permission = &permissions[&a.permission_id];
                    !permission.is_archived && permission.grants(operation)
                });
                assert_eq!(user.holds(operation), granted, "{id} holds {operation} wrongly");
                assert_eq!(granted, model.holds(id, operation), "{id} {operation}: model");
            }
        }

        for (id, permission) in permissions {
            if permission.is_archived {
                let holders = table.assignments_of(id);
                assert!(holders.is_empty(), "archived {id} is held by {holders:?}");
            }
        }

        let ids: Vec<&UserId> = users.keys().collect();
        let model_ids: Vec<&UserId> = model.users.keys().collect();
        assert_eq!(ids, model_ids, "the table and the model hold different users");
        for (id, expected) in &model.users {
            let user = &users[id];
            let standing = if user.is_archived() {
                Standing::Archived
            } else if user.is_active() {
                Standing::Active
            } else {
                Standing::Inactive
            };
            assert_eq!(user.org_id, expected.org, "{id} moved org");
            assert_eq!(standing, expected.standing, "{id} standing");
            let holds: BTreeMap<AssignmentId, PermissionId> = user
                .assignments
                .iter()
                .map(|a| (a.assignment_id.clone(), a.permission_id.clone()))
                .collect();
            assert_eq!(holds, expected.holds, "{id} assignments");
        }

        let ids: Vec<&PermissionId> = permissions.keys().collect();
        let model_ids: Vec<&PermissionId> = model.permissions.keys().collect();
        assert_eq!(ids, model_ids, "the table and the model hold different permissions");
        for (id, expected) in &model.permissions {
            let permission = &permissions[id];
            let operations: BTreeSet<Operation> = permission.operations.iter().copied().collect();
            assert_eq!(operations.len(), permission.operations.len(), "{id} repeats operations");
            assert_eq!(operations, expected.operations, "{id} operations");
            assert_eq!(permission.org_id, expected.org, "{id} moved org");
            assert_eq!(permission.is_archived, expected.archived, "{id} archived");
            assert_eq!(permission.is_immutable, expected.immutable, "{id} immutable");
        }
    }

    fn teardown(table: Table) {
        if std::env::var("SHOW").is_ok() {
            for (c, o) in &table.steps {
                eprintln!("  {c}: {o:?}");
            }
            eprintln!("----");
        }
        STATISTICS.with_borrow_mut(|statistics| statistics.record(&table.steps));
    }
}

/// The use cases the guard stands in front of.
const GUARDED_USE_CASES: [&str; 5] = [
    "archive user",
    "deactivate user",
    "update permission",
    "archive permission",
    "revoke assignment",
];

/// Cases in which the guard must refuse each of `GUARDED_USE_CASES`.
const GUARDED_CASES_WANTED: usize = 5;

/// Runs `cases` freshly drawn sequences; a failure panics with its shrunk
/// case.
fn run_cases(cases: u32) {
    let config = ProptestConfig { cases, source_file: Some(file!()), ..Default::default() };
    let strategy = RolesMachine::sequential_strategy(1..50);
    let result = TestRunner::new(config.clone()).run(&strategy, |(initial, transitions, seen)| {
        RolesMachine::test_sequential(config.clone(), initial, transitions, seen);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// Use cases the guard refused in fewer than `GUARDED_CASES_WANTED` cases.
fn short_of_refusals(statistics: &Statistics) -> Vec<(&'static str, usize)> {
    GUARDED_USE_CASES
        .into_iter()
        .map(|use_case| (use_case, statistics.guarded_cases_of.get(use_case).copied().unwrap_or(0)))
        .filter(|(_, cases)| *cases < GUARDED_CASES_WANTED)
        .collect()
}

#[test]
fn permissions_and_the_lifecycle_keep_an_assigner_in_every_org() {
    // At least 256 sequences, more when PROPTEST_CASES asks for them.
    let cases = ProptestConfig::default().cases.max(256);
    run_cases(cases);

    // A guard that is never asked proves nothing: it must refuse a step in
    // a good share of the cases, and in every use case it stands in front
    // of. Some refusals need a rare org (one assigner and another user who
    // may deactivate it), so a run short of them draws more sequences, every
    // one checked as above, up to four times as many.
    let mut extra_batches = 0;
    loop {
        let short = STATISTICS.with_borrow(short_of_refusals);
        if short.is_empty() || extra_batches == 12 {
            break;
        }
        run_cases(cases.div_ceil(4));
        extra_batches += 1;
    }
    let statistics = STATISTICS.take();
    eprintln!("{statistics}");
    assert!(
        statistics.guarded_cases * 2 >= statistics.cases,
        "the guard refused a step in only {} of {} cases",
        statistics.guarded_cases,
        statistics.cases
    );
    let short = short_of_refusals(&statistics);
    assert!(short.is_empty(), "of {} cases, the guard refused only {short:?}", statistics.cases);
}
