//! The reference model: what the orgs must look like after every step, told
//! with plain indexes instead of ids, and the transitions that drive it.
//!
//! Users, permissions and assignments are numbered in the order they come
//! to exist: users `0..ORGS` are the orgs' first admins, permission
//! `org * ROLES.len() + role` was created as `role` of `org` (an update may
//! rename it and give it another role's operations since), and assignment
//! `org` is the admin of `org` holding `OrgAdmin`. A user's credentials are
//! numbered in the order it got them. The model never asks the domain
//! what is the same user name or who may act: the name classes and the
//! roles' operations are written out here, so that a bug shared by the
//! domain and the model cannot hide.

use domain::{AuditKind, Operation, UserKind};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest_state_machine::ReferenceStateMachine;

/// How many orgs every sequence starts with, each with its admin.
pub(crate) const ORGS: usize = 2;

/// User names to pick from, each with the class of names it clashes with:
/// case and Unicode variants share a class. Both orgs draw from this list,
/// so the same name in two orgs comes up often.
pub(crate) const NAMES: &[(&str, usize)] = &[
    ("Jane@x.io", 0),
    ("jane@x.io", 0),
    ("JANE@X.IO", 0),
    ("jos\u{e9}@x.io", 1),
    ("jose\u{301}@x.io", 1),
    ("JOS\u{c9}@x.io", 1),
    ("stra\u{df}e@x.de", 2),
    ("STRASSE@x.de", 2),
    ("bob@x.io", 3),
    ("jane@x.com", 4),
];

/// How many request nonces a sequence draws from, so that they repeat.
pub(crate) const NONCES: usize = 2;

/// How many `credId`s users register `Fido2` credentials under. Every user
/// draws from the same few, so a user registering one it already has and
/// two users registering the same one both come up often.
pub(crate) const PASSKEYS: usize = 3;

/// The `credId` of passkey `passkey`.
pub(crate) fn passkey_cred_id(passkey: usize) -> String {
    format!("passkey-{passkey}")
}

/// How many name classes [`NAMES`] has.
pub(crate) const NAME_CLASSES: usize = 5;

/// The permissions every org has: `OrgAdmin` from its creation, the others
/// created by its admin before the first step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    OrgAdmin,
    UserAdmin,
    Assigner,
    Reader,
}

/// Every role, in the order of their permission indexes within an org.
pub(crate) const ROLES: [Role; 4] = [Role::OrgAdmin, Role::UserAdmin, Role::Assigner, Role::Reader];

impl Role {
    /// The permission's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::OrgAdmin => "OrgAdmin",
            Role::UserAdmin => "UserAdmin",
            Role::Assigner => "Assigner",
            Role::Reader => "Reader",
        }
    }

    /// The operations the permission grants.
    pub(crate) fn operations(self) -> &'static [Operation] {
        match self {
            Role::OrgAdmin => Operation::ALL,
            Role::UserAdmin => &[
                Operation::CreateUser,
                Operation::ReadUser,
                Operation::ActivateUser,
                Operation::DeactivateUser,
                Operation::DeleteUser,
            ],
            Role::Assigner => &[
                Operation::AssignPermission,
                Operation::RevokePermission,
                Operation::ReadPermission,
                Operation::ReadAssignments,
            ],
            Role::Reader => &[Operation::ReadUser],
        }
    }
}

/// The org permission `permission` belongs to.
pub(crate) fn permission_org(permission: usize) -> usize {
    permission / ROLES.len()
}

/// The role permission `permission` is.
pub(crate) fn permission_role(permission: usize) -> Role {
    ROLES[permission % ROLES.len()]
}

/// The names a permission may be renamed to: its org's other permissions'
/// names, which clash while those live, and one that no permission has.
pub(crate) const PERMISSION_NAMES: [&str; 5] =
    ["OrgAdmin", "UserAdmin", "Assigner", "Reader", "Renamed"];

/// What the model knows of a permission.
#[derive(Debug, Clone)]
pub(crate) struct ModelPermission {
    /// Its name now.
    pub(crate) name: &'static str,
    /// The role whose operations it grants now.
    pub(crate) grants: Role,
    pub(crate) archived: bool,
    /// How many changes were stored: the version the store must show.
    pub(crate) version: u64,
}

/// Where a user stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    Active,
    Inactive,
    Archived,
}

/// What the model knows of a user.
#[derive(Debug, Clone)]
pub(crate) struct ModelUser {
    pub(crate) org: usize,
    /// An index into [`NAMES`].
    pub(crate) name: usize,
    pub(crate) kind: UserKind,
    pub(crate) life: Life,
    /// How many changes were stored: the version the store must show.
    pub(crate) version: u64,
    /// Whether the user was created with a `Key` credential, which the kit
    /// logged in with and signs with: a user created without one never
    /// has a login token.
    pub(crate) has_key: bool,
    /// Every credential of the user, oldest first; the first is its
    /// primary credential, and the user is registered once it has one.
    pub(crate) credentials: Vec<ModelCredential>,
}

/// A credential as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelCredential {
    /// The passkey whose `credId` it has; `None` for the `Key` the user
    /// was created with.
    pub(crate) passkey: Option<usize>,
    /// The signature counter the store must show.
    pub(crate) sign_count: u32,
}

/// Where a signature counter is raised to, from the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountTo {
    /// One below, or 0 when it is 0.
    Lower,
    /// The stored counter itself.
    Same,
    /// This much above, or the largest counter.
    Higher(u32),
    /// The largest counter there is.
    Max,
}

impl CountTo {
    /// The counter to raise to from `stored`.
    pub(crate) fn from(self, stored: u32) -> u32 {
        match self {
            CountTo::Lower => stored.saturating_sub(1),
            CountTo::Same => stored,
            CountTo::Higher(by) => stored.saturating_add(by),
            CountTo::Max => u32::MAX,
        }
    }
}

/// The assignment of a permission to a user, live or ended.
#[derive(Debug, Clone)]
pub(crate) struct ModelAssignment {
    pub(crate) permission: usize,
    pub(crate) user: usize,
    pub(crate) live: bool,
}

/// An audit event the log must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelEvent {
    pub(crate) kind: AuditKind,
    pub(crate) user: usize,
    pub(crate) actor: usize,
    pub(crate) permission: Option<usize>,
}

/// What one attempt ended with. A step may make several attempts (a
/// misbound user action, then the rightful request, then a replay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It succeeded and changed something.
    Done,
    /// It succeeded and changed nothing: a read, a no-op, a login.
    Unchanged,
    Unauthenticated,
    NotAuthorized,
    UserActionInvalid,
    UserActionUsed,
    UserNotFound,
    SelfArchive,
    SelfDeactivate,
    UsernameTaken,
    LastAssigner,
    PermissionNotFound,
    PermissionImmutable,
    PermissionArchived,
    PermissionNameTaken,
    AlreadyAssigned,
    AssignmentNotFound,
    ChallengeNotValid,
    InvalidSignature,
    NonceInvalid,
    NonceUsed,
    /// A direct write with a stale version, guard or caller version was
    /// refused.
    Conflict,
    /// A registration named a `credId` the user already has.
    CredIdTaken,
    /// A signature counter was not raised: the stored one is not lower.
    CountNotRaised,
    /// A use case gave up after losing every compare-and-set race: never
    /// predicted, since in a sequential run only a store that answers
    /// `Conflict` without cause can make it.
    Contended,
    /// The store failed: never predicted.
    StoreFailed(String),
    /// Anything else the kit did not expect: never predicted.
    Unexpected(String),
}

/// How the user-action token of a state-changing request is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenUse {
    /// By the request it was signed for, once.
    Once,
    /// By the request it was signed for, then again.
    Twice,
    /// First by a request it was not signed for, then by the rightful one.
    MisboundFirst(Misbind),
}

/// How a request differs from the one its user action was signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Misbind {
    /// Another body.
    Payload,
    /// Another path.
    Path,
    /// Another method.
    Method,
    /// No user action at all.
    Missing,
    /// A token the server never issued.
    Unknown,
    /// The same request, sent by this other user.
    Presenter(usize),
}

/// A direct write to the store that must lose its compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StaleWrite {
    /// The user's version is off by this much (behind when it can be).
    UserVersion(u64),
    /// The user's version is right but the org's guard version is not;
    /// for an archived user, the version is one ahead instead.
    GuardVersion,
    /// A registration of a new credential, with a `credId` no user has,
    /// decided on a version off by this much.
    Registration(u64),
}

/// A direct write decided for a caller on a version of the caller that is
/// not the stored one, which must conflict whatever else it would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActorWrite {
    /// A new user in the caller's org.
    InsertUser,
    /// `target`, as stored, deactivated or activated (kept as it is when
    /// archived).
    UpdateUser { target: usize },
    /// A new permission in the caller's org.
    InsertPermission,
    /// `permission`, as stored, granting other operations.
    UpdatePermission { permission: usize },
}

/// What a challenge is issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChallengeKind {
    Login,
    UserAction,
}

/// The first answer to a challenge; a good answer always follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FirstAnswer {
    /// Signed with the user's own credential.
    Good,
    /// A signature that does not verify.
    BadSignature,
    /// A good signature, naming this other user's credential.
    OtherCredential(usize),
}

/// One step of a sequence. Users, permissions and assignments are indexes.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    /// `caller` creates a user named `NAMES[name]` in its org, with a
    /// `Key` credential when `key`.
    Create { caller: usize, name: usize, kind: UserKind, key: bool, token: TokenUse },
    /// `caller` activates (`active`) or deactivates `target`.
    SetActive { caller: usize, target: usize, active: bool, token: TokenUse },
    /// `caller` archives `target`.
    Archive { caller: usize, target: usize, token: TokenUse },
    /// `caller` reads `target`.
    Get { caller: usize, target: usize },
    /// `caller` assigns `permission` to `target`.
    Assign { caller: usize, permission: usize, target: usize, token: TokenUse },
    /// `caller` revokes `assignment`, naming it under `permission`.
    Revoke { caller: usize, permission: usize, assignment: usize, token: TokenUse },
    /// `caller` changes `permission` to grant the operations of `grants`,
    /// renaming it to `PERMISSION_NAMES[name]` when `rename` names one.
    UpdatePermission {
        caller: usize,
        permission: usize,
        grants: Role,
        rename: Option<usize>,
        token: TokenUse,
    },
    /// `caller` archives `permission`.
    ArchivePermission { caller: usize, permission: usize, token: TokenUse },
    /// A stale `update_user` of `target`, straight to the store.
    Stale { target: usize, write: StaleWrite },
    /// `write` straight to the store, decided for `actor` on a version of
    /// it one ahead of the stored one, or one behind when `ahead` is false
    /// and the stored version is not 0.
    StaleActor { actor: usize, write: ActorWrite, ahead: bool },
    /// `user` is issued a challenge and answers it twice.
    Challenge { user: usize, kind: ChallengeKind, first: FirstAnswer },
    /// Two requests present nonce `nonce`, dated now or, when `stale`,
    /// too long ago.
    Nonce { nonce: usize, stale: bool },
    /// `user` registers a `Fido2` credential under passkey `passkey`'s
    /// `credId`, whose authenticator counted `count`: decided by the
    /// domain for `user` as the caller, then `add_credential` straight to
    /// the store.
    Register { user: usize, passkey: usize, count: u32 },
    /// The signature counter of `user`'s credential `credential` is raised
    /// as `to` says, with `advance_sign_count` straight to the store.
    Count { user: usize, credential: usize, to: CountTo },
}

/// The model's state.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Seeds the system's random generator.
    pub(crate) seed: u64,
    pub(crate) users: Vec<ModelUser>,
    pub(crate) permissions: Vec<ModelPermission>,
    pub(crate) assignments: Vec<ModelAssignment>,
    /// Per org, every audit event, oldest first.
    pub(crate) events: Vec<Vec<ModelEvent>>,
    /// Which nonces a request presented, fresh.
    pub(crate) nonces_used: [bool; NONCES],
    /// The outcomes of the last step's attempts.
    pub(crate) last: Vec<Outcome>,
}

impl Model {
    fn new(seed: u64, admin_names: &[usize]) -> Model {
        let mut model = Model {
            seed,
            users: Vec::new(),
            permissions: Vec::new(),
            assignments: Vec::new(),
            events: Vec::new(),
            nonces_used: [false; NONCES],
            last: Vec::new(),
        };
        for (org, &name) in admin_names.iter().enumerate() {
            let admin = model.users.len();
            model.users.push(ModelUser {
                org,
                name,
                kind: UserKind::CustomerEmployee,
                life: Life::Active,
                version: 0,
                has_key: true,
                credentials: vec![ModelCredential { passkey: None, sign_count: 0 }],
            });
            model.assignments.push(ModelAssignment {
                permission: org * ROLES.len(),
                user: admin,
                live: true,
            });
            for role in ROLES {
                model.permissions.push(ModelPermission {
                    name: role.name(),
                    grants: role,
                    archived: false,
                    version: 0,
                });
            }
            let mut events = vec![ModelEvent {
                kind: AuditKind::UserCreated,
                user: admin,
                actor: admin,
                permission: None,
            }];
            for role in 1..ROLES.len() {
                events.push(ModelEvent {
                    kind: AuditKind::PermissionCreated,
                    user: admin,
                    actor: admin,
                    permission: Some(org * ROLES.len() + role),
                });
            }
            model.events.push(events);
        }
        model
    }

    /// Whether the last step changed anything.
    pub(crate) fn changed(&self) -> bool {
        self.last.contains(&Outcome::Done)
    }

    pub(crate) fn is_active(&self, user: usize) -> bool {
        self.users[user].life == Life::Active
    }

    /// Whether `user`'s login token authenticates it: it is active and was
    /// logged in, with the key it was created with.
    pub(crate) fn signs_in(&self, user: usize) -> bool {
        self.is_active(user) && self.users[user].has_key
    }

    fn visible_to(&self, user: usize, org: usize) -> bool {
        let user = &self.users[user];
        user.life != Life::Archived && user.org == org
    }

    /// The live assignments of `user`.
    pub(crate) fn assignments_of(&self, user: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.assignments.len())
            .filter(move |&a| self.assignments[a].live && self.assignments[a].user == user)
    }

    /// Whether `user` holds `operation` through a live assignment.
    pub(crate) fn holds(&self, user: usize, operation: Operation) -> bool {
        self.assignments_of(user).any(|a| {
            let permission = &self.permissions[self.assignments[a].permission];
            !permission.archived && permission.grants.operations().contains(&operation)
        })
    }

    /// The users holding a live assignment of `permission`.
    fn holders(&self, permission: usize) -> Vec<usize> {
        let live = self.assignments.iter().filter(|a| a.live && a.permission == permission);
        live.map(|a| a.user).collect()
    }

    /// The org's active users who can assign permissions.
    pub(crate) fn assigners(&self, org: usize) -> Vec<usize> {
        (0..self.users.len())
            .filter(|&u| {
                self.users[u].org == org
                    && self.is_active(u)
                    && self.holds(u, Operation::AssignPermission)
            })
            .collect()
    }

    /// Whether someone but `losing` can still assign in `org`.
    fn another_assigner(&self, org: usize, losing: usize) -> bool {
        self.assigners(org).iter().any(|&u| u != losing)
    }

    fn live_name_taken(&self, org: usize, name: usize) -> bool {
        self.users
            .iter()
            .any(|u| u.org == org && u.life != Life::Archived && NAMES[u.name].1 == NAMES[name].1)
    }

    fn record(
        &mut self,
        org: usize,
        kind: AuditKind,
        user: usize,
        actor: usize,
        permission: Option<usize>,
    ) {
        self.events[org].push(ModelEvent { kind, user, actor, permission });
    }

    /// The attempts of a state-changing request by `caller` that needs
    /// `operation`, with `change` deciding the rightful attempt.
    ///
    /// The use cases check the permission before the user action, so a
    /// caller without it is refused on every attempt and never spends its
    /// token; one with it spends the token on the rightful attempt, so a
    /// replay finds it used, and a misbound attempt leaves it unspent.
    fn signed(
        &mut self,
        caller: usize,
        operation: Operation,
        token: &TokenUse,
        change: impl FnOnce(&mut Model) -> Outcome,
    ) -> Vec<Outcome> {
        if !self.signs_in(caller) {
            return vec![Outcome::Unauthenticated];
        }
        let holds = self.holds(caller, operation);
        let refused_or = |outcome| if holds { outcome } else { Outcome::NotAuthorized };
        let mut outcomes = Vec::new();
        if let TokenUse::MisboundFirst(misbind) = token {
            outcomes.push(match misbind {
                Misbind::Presenter(p) if !self.signs_in(*p) => Outcome::Unauthenticated,
                Misbind::Presenter(p) if !self.holds(*p, operation) => Outcome::NotAuthorized,
                // Another user may not spend the caller's token.
                Misbind::Presenter(_) => Outcome::UserActionInvalid,
                _ => refused_or(Outcome::UserActionInvalid),
            });
        }
        outcomes.push(if holds { change(self) } else { Outcome::NotAuthorized });
        if *token == TokenUse::Twice {
            outcomes.push(refused_or(Outcome::UserActionUsed));
        }
        outcomes
    }

    fn create(&mut self, caller: usize, name: usize, kind: UserKind, key: bool) -> Outcome {
        let org = self.users[caller].org;
        if self.live_name_taken(org, name) {
            return Outcome::UsernameTaken;
        }
        let user = self.users.len();
        let credentials =
            if key { vec![ModelCredential { passkey: None, sign_count: 0 }] } else { Vec::new() };
        self.users.push(ModelUser {
            org,
            name,
            kind,
            life: Life::Active,
            version: 0,
            has_key: key,
            credentials,
        });
        self.record(org, AuditKind::UserCreated, user, caller, None);
        Outcome::Done
    }

    fn set_active(&mut self, caller: usize, target: usize, active: bool) -> Outcome {
        let org = self.users[caller].org;
        if !self.visible_to(target, org) {
            return Outcome::UserNotFound;
        }
        if !active && target == caller {
            return Outcome::SelfDeactivate;
        }
        if self.is_active(target) == active {
            return Outcome::Unchanged;
        }
        let loses_assign = !active && self.holds(target, Operation::AssignPermission);
        if loses_assign && !self.another_assigner(org, target) {
            return Outcome::LastAssigner;
        }
        let (life, kind) = if active {
            (Life::Active, AuditKind::UserActivated)
        } else {
            (Life::Inactive, AuditKind::UserDeactivated)
        };
        self.users[target].life = life;
        self.users[target].version += 1;
        self.record(org, kind, target, caller, None);
        Outcome::Done
    }

    fn archive(&mut self, caller: usize, target: usize) -> Outcome {
        let org = self.users[caller].org;
        if !self.visible_to(target, org) {
            return Outcome::UserNotFound;
        }
        if target == caller {
            return Outcome::SelfArchive;
        }
        let loses_assign =
            self.is_active(target) && self.holds(target, Operation::AssignPermission);
        if loses_assign && !self.another_assigner(org, target) {
            return Outcome::LastAssigner;
        }
        for assignment in self.assignments.iter_mut().filter(|a| a.user == target) {
            assignment.live = false;
        }
        self.users[target].life = Life::Archived;
        self.users[target].version += 1;
        self.record(org, AuditKind::UserArchived, target, caller, None);
        Outcome::Done
    }

    fn get(&self, caller: usize, target: usize) -> Outcome {
        if !self.signs_in(caller) {
            return Outcome::Unauthenticated;
        }
        if !self.holds(caller, Operation::ReadUser) {
            return Outcome::NotAuthorized;
        }
        if !self.visible_to(target, self.users[caller].org) {
            return Outcome::UserNotFound;
        }
        Outcome::Unchanged
    }

    fn assign(&mut self, caller: usize, permission: usize, target: usize) -> Outcome {
        let org = self.users[caller].org;
        if permission_org(permission) != org {
            return Outcome::PermissionNotFound;
        }
        if !self.visible_to(target, org) {
            return Outcome::UserNotFound;
        }
        if self.permissions[permission].archived {
            return Outcome::PermissionArchived;
        }
        if self.assignments_of(target).any(|a| self.assignments[a].permission == permission) {
            return Outcome::AlreadyAssigned;
        }
        self.assignments.push(ModelAssignment { permission, user: target, live: true });
        self.users[target].version += 1;
        self.record(org, AuditKind::PermissionAssigned, target, caller, Some(permission));
        Outcome::Done
    }

    fn revoke(&mut self, caller: usize, permission: usize, assignment: usize) -> Outcome {
        let org = self.users[caller].org;
        if permission_org(permission) != org {
            return Outcome::PermissionNotFound;
        }
        let record = &self.assignments[assignment];
        if !record.live || record.permission != permission {
            return Outcome::AssignmentNotFound;
        }
        let holder = record.user;
        let assigns = |model: &Model| {
            model.is_active(holder) && model.holds(holder, Operation::AssignPermission)
        };
        let before = assigns(self);
        self.assignments[assignment].live = false;
        let loses_assign = before && !assigns(self);
        if loses_assign && !self.another_assigner(org, holder) {
            self.assignments[assignment].live = true;
            return Outcome::LastAssigner;
        }
        self.users[holder].version += 1;
        self.record(org, AuditKind::PermissionRevoked, holder, caller, Some(permission));
        Outcome::Done
    }

    /// Why `caller` may not change `permission` at all, if it may not: it
    /// is another org's, the immutable `OrgAdmin`, or archived.
    fn unchangeable(&self, caller: usize, permission: usize) -> Option<Outcome> {
        if permission_org(permission) != self.users[caller].org {
            return Some(Outcome::PermissionNotFound);
        }
        if permission_role(permission) == Role::OrgAdmin {
            return Some(Outcome::PermissionImmutable);
        }
        if self.permissions[permission].archived {
            return Some(Outcome::PermissionArchived);
        }
        None
    }

    /// Applies `change` to `permission` unless it leaves the org without an
    /// active user who can assign; answers whether it did.
    fn keeps_an_assigner(
        &mut self,
        permission: usize,
        change: impl FnOnce(&mut ModelPermission),
    ) -> bool {
        let before = self.permissions[permission].clone();
        change(&mut self.permissions[permission]);
        if self.assigners(permission_org(permission)).is_empty() {
            self.permissions[permission] = before;
            return false;
        }
        true
    }

    /// Moves the version of every holder of `permission`: what they may do
    /// changed.
    fn move_holders(&mut self, permission: usize) {
        for holder in self.holders(permission) {
            self.users[holder].version += 1;
        }
    }

    fn update_permission(
        &mut self,
        caller: usize,
        permission: usize,
        grants: Role,
        rename: Option<usize>,
    ) -> Outcome {
        if let Some(refused) = self.unchangeable(caller, permission) {
            return refused;
        }
        let before = self.permissions[permission].grants;
        if !self.keeps_an_assigner(permission, |p| p.grants = grants) {
            return Outcome::LastAssigner;
        }
        let org = self.users[caller].org;
        if let Some(name) = rename.map(|n| PERMISSION_NAMES[n]) {
            let clash = (0..self.permissions.len()).any(|other| {
                let p = &self.permissions[other];
                other != permission && permission_org(other) == org && !p.archived && p.name == name
            });
            if clash {
                self.permissions[permission].grants = before;
                return Outcome::PermissionNameTaken;
            }
            self.permissions[permission].name = name;
        }
        self.permissions[permission].version += 1;
        if before.operations() != grants.operations() {
            self.move_holders(permission);
        }
        self.record(org, AuditKind::PermissionUpdated, caller, caller, Some(permission));
        Outcome::Done
    }

    fn archive_permission(&mut self, caller: usize, permission: usize) -> Outcome {
        if let Some(refused) = self.unchangeable(caller, permission) {
            return refused;
        }
        if !self.keeps_an_assigner(permission, |p| p.archived = true) {
            return Outcome::LastAssigner;
        }
        self.permissions[permission].version += 1;
        self.move_holders(permission);
        for assignment in self.assignments.iter_mut().filter(|a| a.permission == permission) {
            assignment.live = false;
        }
        let org = self.users[caller].org;
        self.record(org, AuditKind::PermissionArchived, caller, caller, Some(permission));
        Outcome::Done
    }

    /// Who answers a challenge `user` asks for: for a login, the active
    /// user of its org that has its user name now (an archived user's name
    /// may have gone to someone else); for a user action, `user` itself if
    /// its login token still authenticates it.
    pub(crate) fn challenge_subject(&self, user: usize, kind: ChallengeKind) -> Option<usize> {
        let named = &self.users[user];
        match kind {
            ChallengeKind::Login => {
                let subject = (0..self.users.len()).find(|&u| {
                    let other = &self.users[u];
                    other.org == named.org
                        && other.life != Life::Archived
                        && NAMES[other.name].1 == NAMES[named.name].1
                })?;
                self.is_active(subject).then_some(subject)
            }
            ChallengeKind::UserAction => self.signs_in(user).then_some(user),
        }
    }

    /// Only a fresh nonce is recorded; a stale one is refused before the
    /// store is asked.
    fn nonce(&mut self, nonce: usize, stale: bool) -> Outcome {
        if stale {
            return Outcome::NonceInvalid;
        }
        if std::mem::replace(&mut self.nonces_used[nonce], true) {
            return Outcome::NonceUsed;
        }
        Outcome::Unchanged
    }

    /// Only an active user is a caller the domain lets register; a `credId`
    /// is taken only by a credential of the same user.
    fn register(&mut self, user: usize, passkey: usize, count: u32) -> Outcome {
        if !self.is_active(user) {
            return Outcome::Unauthenticated;
        }
        let owner = &mut self.users[user];
        if owner.credentials.iter().any(|c| c.passkey == Some(passkey)) {
            return Outcome::CredIdTaken;
        }
        owner.credentials.push(ModelCredential { passkey: Some(passkey), sign_count: count });
        owner.version += 1;
        let org = owner.org;
        self.record(org, AuditKind::CredentialCreated, user, user, None);
        Outcome::Done
    }

    /// A counter is raised only above the stored one, whoever owns it and
    /// whatever state the owner is in; no event, no new version.
    fn count(&mut self, user: usize, credential: usize, to: CountTo) -> Outcome {
        let stored = &mut self.users[user].credentials[credential].sign_count;
        let target = to.from(*stored);
        if target <= *stored {
            return Outcome::CountNotRaised;
        }
        *stored = target;
        Outcome::Done
    }

    fn challenge(&self, user: usize, kind: ChallengeKind, first: &FirstAnswer) -> Vec<Outcome> {
        let Some(subject) = self.challenge_subject(user, kind) else {
            return vec![match kind {
                ChallengeKind::Login => Outcome::UserNotFound,
                ChallengeKind::UserAction => Outcome::Unauthenticated,
            }];
        };
        if !self.users[subject].has_key {
            // Without a key of the subject's own, nothing the kit signs
            // answers the challenge.
            return vec![Outcome::InvalidSignature, Outcome::ChallengeNotValid];
        }
        let first = match first {
            FirstAnswer::Good => Outcome::Unchanged,
            FirstAnswer::OtherCredential(other) if *other == subject => Outcome::Unchanged,
            FirstAnswer::BadSignature | FirstAnswer::OtherCredential(_) => {
                Outcome::InvalidSignature
            }
        };
        // The first answer spends the challenge, whatever its fate.
        vec![first, Outcome::ChallengeNotValid]
    }
}

/// The reference state machine of the kit.
pub(crate) struct Lifecycle;

/// A pick among `options`, where `options` is never empty.
fn pick(options: Vec<usize>) -> BoxedStrategy<usize> {
    select(options).boxed()
}

fn token_use(users: usize) -> BoxedStrategy<TokenUse> {
    let misbind = prop_oneof![
        Just(Misbind::Payload),
        Just(Misbind::Path),
        Just(Misbind::Method),
        Just(Misbind::Missing),
        Just(Misbind::Unknown),
        (0..users).prop_map(Misbind::Presenter),
    ];
    prop_oneof![
        14 => Just(TokenUse::Once),
        3 => Just(TokenUse::Twice),
        3 => misbind.prop_map(TokenUse::MisboundFirst),
    ]
    .boxed()
}

impl ReferenceStateMachine for Lifecycle {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        (any::<u64>(), proptest::collection::vec(0..NAMES.len(), ORGS))
            .prop_map(|(seed, admin_names)| Model::new(seed, &admin_names))
            .boxed()
    }

    fn transitions(model: &Model) -> BoxedStrategy<Transition> {
        let n = model.users.len();
        let active: Vec<usize> = (0..n).filter(|&u| model.is_active(u)).collect();
        // The guard keeps an active assigner in every org, so there is
        // always someone to act.
        assert!(!active.is_empty(), "no active user is left");
        let org_of: Vec<usize> = model.users.iter().map(|u| u.org).collect();
        let others: Vec<Vec<usize>> = (0..n)
            .map(|caller| {
                let other_live = |&u: &usize| {
                    u != caller
                        && org_of[u] == org_of[caller]
                        && model.users[u].life != Life::Archived
                };
                (0..n).filter(other_live).collect()
            })
            .collect();

        // Mostly a caller who holds the operation, often any active user,
        // sometimes anyone (an inactive or archived caller's token must not
        // authenticate).
        let caller = |operation: Operation| {
            let holders: Vec<usize> =
                active.iter().copied().filter(|&u| model.holds(u, operation)).collect();
            let mut options = vec![(4, pick(active.clone())), (1, (0..n).boxed())];
            if !holders.is_empty() {
                options.push((5, pick(holders)));
            }
            Union::new_weighted(options).boxed()
        };
        // Mostly another live user of the caller's org, sometimes the
        // caller, sometimes anyone (archived, or of another org).
        let pair = |operation: Operation| {
            let others = others.clone();
            (caller(operation), 0..10u8, any::<prop::sample::Index>())
                .prop_map(move |(caller, roll, index)| {
                    let target = match roll {
                        0..7 if !others[caller].is_empty() => *index.get(&others[caller]),
                        7 => caller,
                        _ => index.index(n),
                    };
                    (caller, target)
                })
                .boxed()
        };
        let kinds = select(vec![UserKind::CustomerEmployee, UserKind::EndUser]);
        let tokens = token_use(n);

        // Mostly with a key; without one, the user must register a
        // credential before it is registered.
        let create = (
            caller(Operation::CreateUser),
            0..NAMES.len(),
            kinds,
            prop::bool::weighted(0.8),
            tokens.clone(),
        )
            .prop_map(|(caller, name, kind, key, token)| Transition::Create {
                caller,
                name,
                kind,
                key,
                token,
            });
        let activate = (pair(Operation::ActivateUser), tokens.clone()).prop_map(
            |((caller, target), token)| Transition::SetActive {
                caller,
                target,
                active: true,
                token,
            },
        );
        let deactivate = (pair(Operation::DeactivateUser), tokens.clone()).prop_map(
            |((caller, target), token)| Transition::SetActive {
                caller,
                target,
                active: false,
                token,
            },
        );
        let archive = (pair(Operation::DeleteUser), tokens.clone())
            .prop_map(|((caller, target), token)| Transition::Archive { caller, target, token });
        let get = pair(Operation::ReadUser)
            .prop_map(|(caller, target)| Transition::Get { caller, target });
        let permissions = ORGS * ROLES.len();
        let target_org = org_of.clone();
        let assign = (
            pair(Operation::AssignPermission),
            any::<prop::sample::Index>(),
            prop::bool::weighted(0.9),
            tokens.clone(),
        )
            .prop_map(move |((caller, target), role, own_org, token)| {
                // Mostly a permission of the target's org.
                let permission = if own_org {
                    target_org[target] * ROLES.len() + role.index(ROLES.len())
                } else {
                    role.index(permissions)
                };
                Transition::Assign { caller, permission, target, token }
            });
        let stale_write = prop_oneof![
            (1..3u64).prop_map(StaleWrite::UserVersion),
            Just(StaleWrite::GuardVersion),
            (1..3u64).prop_map(StaleWrite::Registration),
        ];
        let stale =
            (0..n, stale_write).prop_map(|(target, write)| Transition::Stale { target, write });
        let actor_write = prop_oneof![
            Just(ActorWrite::InsertUser),
            (0..n).prop_map(|target| ActorWrite::UpdateUser { target }),
            Just(ActorWrite::InsertPermission),
            (0..permissions).prop_map(|permission| ActorWrite::UpdatePermission { permission }),
        ];
        let stale_actor = (0..n, actor_write, any::<bool>())
            .prop_map(|(actor, write, ahead)| Transition::StaleActor { actor, write, ahead });

        // Mostly one of the caller's org's permissions but `OrgAdmin`,
        // sometimes any permission (another org's, or `OrgAdmin`).
        let changed_permission = |operation: Operation| {
            let org_of = org_of.clone();
            (caller(operation), any::<prop::sample::Index>(), prop::bool::weighted(0.85))
                .prop_flat_map(move |(caller, index, own)| {
                    let permission = if own {
                        Just(org_of[caller] * ROLES.len() + 1 + index.index(ROLES.len() - 1))
                            .boxed()
                    } else {
                        (0..permissions).boxed()
                    };
                    (Just(caller), permission)
                })
                .boxed()
        };
        // Another role's operations than the permission grants now, so
        // that the update changes what its holders may do; a rename now
        // and then, often to a name another permission has.
        let grants_now: Vec<Role> = model.permissions.iter().map(|p| p.grants).collect();
        let update_permission = (
            changed_permission(Operation::UpdatePermission),
            any::<prop::sample::Index>(),
            prop::option::weighted(0.3, 0..PERMISSION_NAMES.len()),
            tokens.clone(),
        )
            .prop_map(move |((caller, permission), role, rename, token)| {
                let others: Vec<Role> =
                    ROLES.into_iter().filter(|r| *r != grants_now[permission]).collect();
                let grants = *role.get(&others);
                Transition::UpdatePermission { caller, permission, grants, rename, token }
            });
        let archive_permission = (changed_permission(Operation::ArchivePermission), tokens.clone())
            .prop_map(|((caller, permission), token)| Transition::ArchivePermission {
                caller,
                permission,
                token,
            });
        let first = prop_oneof![
            2 => Just(FirstAnswer::Good),
            1 => Just(FirstAnswer::BadSignature),
            1 => (0..n).prop_map(FirstAnswer::OtherCredential),
        ];
        let challenge_kind = select(vec![ChallengeKind::Login, ChallengeKind::UserAction]);
        let challenge = (caller(Operation::ReadUser), challenge_kind, first)
            .prop_map(|(user, kind, first)| Transition::Challenge { user, kind, first });
        let nonce = (0..NONCES, prop::bool::weighted(0.2))
            .prop_map(|(nonce, stale)| Transition::Nonce { nonce, stale });

        // Mostly an active user, sometimes anyone; counters the authenticator
        // started at 0 most often, and at the largest one sometimes.
        let registrant = Union::new_weighted(vec![(4, pick(active.clone())), (1, (0..n).boxed())]);
        let counts = prop_oneof![4 => Just(0u32), 2 => Just(7u32), 1 => Just(u32::MAX)];
        let register = (registrant, 0..PASSKEYS, counts)
            .prop_map(|(user, passkey, count)| Transition::Register { user, passkey, count });
        // Any credential of anyone: every user but the admins may have
        // none, and the admins always have one.
        let holders: Vec<(usize, usize)> = (0..n)
            .map(|u| (u, model.users[u].credentials.len()))
            .filter(|(_, held)| *held > 0)
            .collect();
        let to = prop_oneof![
            2 => Just(CountTo::Lower),
            3 => Just(CountTo::Same),
            4 => (1..3u32).prop_map(CountTo::Higher),
            1 => Just(CountTo::Max),
        ];
        let count = (select(holders), any::<prop::sample::Index>(), to).prop_map(
            |((user, held), index, to)| Transition::Count {
                user,
                credential: index.index(held),
                to,
            },
        );

        // Mostly a live assignment in the caller's org other than the
        // admin's first, named under its own permission; sometimes any
        // assignment or any permission.
        let revoker = caller(Operation::RevokePermission);
        let assignments = model.assignments.clone();
        let revoke = (
            revoker,
            any::<prop::sample::Index>(),
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.9),
            0..permissions,
            tokens,
        )
            .prop_map(move |(caller, index, same_org, own_permission, other, token)| {
                let live: Vec<usize> = (ORGS..assignments.len())
                    .filter(|&a| {
                        let record = &assignments[a];
                        record.live && permission_org(record.permission) == org_of[caller]
                    })
                    .collect();
                let assignment = if same_org && !live.is_empty() {
                    *index.get(&live)
                } else {
                    index.index(assignments.len())
                };
                let permission =
                    if own_permission { assignments[assignment].permission } else { other };
                Transition::Revoke { caller, permission, assignment, token }
            });

        // Until the orgs have a few live users, most steps would find
        // nobody to act on: create more often.
        let live = model.users.iter().filter(|u| u.life != Life::Archived).count();
        let create_weight = if live < 3 * ORGS { 16 } else { 6 };
        Union::new_weighted(vec![
            (create_weight, create.boxed()),
            (3, activate.boxed()),
            (3, deactivate.boxed()),
            (4, archive.boxed()),
            (1, get.boxed()),
            (4, assign.boxed()),
            (3, revoke.boxed()),
            (1, stale.boxed()),
            (1, stale_actor.boxed()),
            (2, update_permission.boxed()),
            (1, archive_permission.boxed()),
            (1, challenge.boxed()),
            (1, nonce.boxed()),
            (3, register.boxed()),
            (3, count.boxed()),
        ])
        .boxed()
    }

    fn preconditions(model: &Model, transition: &Transition) -> bool {
        // Shrinking drops steps, so an index may point past what exists.
        let n = model.users.len();
        let user = |u: &usize| *u < n;
        let permission = |p: &usize| *p < ORGS * ROLES.len();
        let token = |caller: &usize, token: &TokenUse| match token {
            TokenUse::MisboundFirst(Misbind::Presenter(p)) => user(p) && p != caller,
            _ => true,
        };
        match transition {
            Transition::Create { caller, name, token: t, .. } => {
                user(caller) && *name < NAMES.len() && token(caller, t)
            }
            Transition::SetActive { caller, target, token: t, .. }
            | Transition::Archive { caller, target, token: t } => {
                user(caller) && user(target) && token(caller, t)
            }
            Transition::Get { caller, target } => user(caller) && user(target),
            Transition::Assign { caller, permission: p, target, token: t } => {
                user(caller) && permission(p) && user(target) && token(caller, t)
            }
            Transition::Revoke { caller, permission: p, assignment, token: t } => {
                user(caller)
                    && permission(p)
                    && *assignment < model.assignments.len()
                    && token(caller, t)
            }
            Transition::UpdatePermission { caller, permission: p, grants, rename, token: t } => {
                user(caller)
                    && permission(p)
                    && token(caller, t)
                    && model.permissions[*p].grants != *grants
                    && rename.is_none_or(|name| name < PERMISSION_NAMES.len())
            }
            Transition::ArchivePermission { caller, permission: p, token: t } => {
                user(caller) && permission(p) && token(caller, t)
            }
            Transition::Stale { target, .. } => user(target),
            Transition::StaleActor { actor, write, .. } => {
                user(actor)
                    && match write {
                        ActorWrite::UpdateUser { target } => user(target),
                        ActorWrite::UpdatePermission { permission: p } => permission(p),
                        ActorWrite::InsertUser | ActorWrite::InsertPermission => true,
                    }
            }
            Transition::Nonce { nonce, .. } => *nonce < NONCES,
            Transition::Challenge { user: u, first, .. } => {
                user(u)
                    && match first {
                        FirstAnswer::OtherCredential(other) => user(other) && other != u,
                        _ => true,
                    }
            }
            Transition::Register { user: u, passkey, .. } => user(u) && *passkey < PASSKEYS,
            Transition::Count { user: u, credential, .. } => {
                user(u) && *credential < model.users[*u].credentials.len()
            }
        }
    }

    fn apply(mut model: Model, transition: &Transition) -> Model {
        model.last = match transition {
            Transition::Create { caller, name, kind, key, token } => {
                model.signed(*caller, Operation::CreateUser, token, |m| {
                    m.create(*caller, *name, *kind, *key)
                })
            }
            Transition::SetActive { caller, target, active, token } => {
                let operation =
                    if *active { Operation::ActivateUser } else { Operation::DeactivateUser };
                model.signed(*caller, operation, token, |m| m.set_active(*caller, *target, *active))
            }
            Transition::Archive { caller, target, token } => {
                model.signed(*caller, Operation::DeleteUser, token, |m| m.archive(*caller, *target))
            }
            Transition::Get { caller, target } => vec![model.get(*caller, *target)],
            Transition::Assign { caller, permission, target, token } => {
                model.signed(*caller, Operation::AssignPermission, token, |m| {
                    m.assign(*caller, *permission, *target)
                })
            }
            Transition::Revoke { caller, permission, assignment, token } => {
                model.signed(*caller, Operation::RevokePermission, token, |m| {
                    m.revoke(*caller, *permission, *assignment)
                })
            }
            Transition::UpdatePermission { caller, permission, grants, rename, token } => model
                .signed(*caller, Operation::UpdatePermission, token, |m| {
                    m.update_permission(*caller, *permission, *grants, *rename)
                }),
            Transition::ArchivePermission { caller, permission, token } => {
                model.signed(*caller, Operation::ArchivePermission, token, |m| {
                    m.archive_permission(*caller, *permission)
                })
            }
            Transition::Stale { .. } | Transition::StaleActor { .. } => vec![Outcome::Conflict],
            Transition::Challenge { user, kind, first } => model.challenge(*user, *kind, first),
            Transition::Nonce { nonce, stale } => {
                vec![model.nonce(*nonce, *stale), model.nonce(*nonce, *stale)]
            }
            Transition::Register { user, passkey, count } => {
                vec![model.register(*user, *passkey, *count)]
            }
            Transition::Count { user, credential, to } => {
                vec![model.count(*user, *credential, *to)]
            }
        };
        model
    }
}
