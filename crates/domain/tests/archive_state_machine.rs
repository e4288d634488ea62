//! A state-machine property test of creating and archiving users.
//!
//! A reference model (plain maps of who exists, in which org, under which
//! user name, archived or not, and what it may do) predicts the outcome of
//! random sequences of creates and archives. The system under test runs the
//! real domain decisions (`create_user`, `archive_user`, `Caller::require`,
//! `Username::parse`) against a small table of users that plays the store:
//! it refuses a create whose user name key a live user of the org holds.
//!
//! After every step the table must agree with the model and keep the rules:
//! archive is terminal, archived users are visible to no org and hold no
//! assignment, live user names are unique per org, and a refused operation
//! changes nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{NAMES, stored_user};
use domain::{
    ArchiveUserError, AssignmentId, Caller, CreateUserError, NewUser, Operation, OrgId,
    PermissionAssignment, PermissionId, Timestamp, User, UserId, UserKind, Username, archive_user,
    create_user,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::Config as ProptestConfig;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

/// How many orgs a run starts with, each with one admin.
const ORGS: usize = 3;

/// The rights a created user is given right after its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Nothing,
    Create,
    Archive,
    Both,
}

impl Grant {
    fn may_create(self) -> bool {
        matches!(self, Grant::Create | Grant::Both)
    }

    fn may_archive(self) -> bool {
        matches!(self, Grant::Archive | Grant::Both)
    }
}

/// What an operation ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    NotFound,
    SelfArchive,
    NotAuthorized,
    UsernameTaken,
    KindNotCreatable,
}

/// One step of a run.
#[derive(Debug, Clone)]
enum Transition {
    /// `caller` creates a user with this id and name, then grants it.
    Create { caller: UserId, id: UserId, name: usize, kind: UserKind, grant: Grant },
    /// `caller` archives `target`.
    Archive { caller: UserId, target: UserId },
}

/// What the model knows of a user.
#[derive(Debug, Clone)]
struct ModelUser {
    org: OrgId,
    name_class: usize,
    archived: bool,
    may_create: bool,
    may_archive: bool,
}

/// The reference model.
#[derive(Debug, Clone)]
struct Model {
    orgs: Vec<OrgId>,
    admins: Vec<(UserId, usize)>,
    users: BTreeMap<UserId, ModelUser>,
    last: Option<Outcome>,
}

impl Model {
    fn live(&self, id: &UserId) -> Option<&ModelUser> {
        self.users.get(id).filter(|u| !u.archived)
    }

    fn predict_create(&self, caller: &UserId, name: usize) -> Outcome {
        let Some(caller) = self.live(caller) else {
            return Outcome::NotAuthorized;
        };
        if !caller.may_create {
            return Outcome::NotAuthorized;
        }
        let class = NAMES[name].1;
        let taken = self
            .users
            .values()
            .any(|u| !u.archived && u.org == caller.org && u.name_class == class);
        if taken { Outcome::UsernameTaken } else { Outcome::Done }
    }

    fn predict_archive(&self, caller_id: &UserId, target_id: &UserId) -> Outcome {
        let Some(caller) = self.live(caller_id) else {
            return Outcome::NotAuthorized;
        };
        // The permission is checked before the target is looked up.
        if !caller.may_archive {
            return Outcome::NotAuthorized;
        }
        match self.live(target_id) {
            Some(target) if target.org == caller.org => {
                if target_id == caller_id {
                    Outcome::SelfArchive
                } else {
                    Outcome::Done
                }
            }
            _ => Outcome::NotFound,
        }
    }
}

struct ArchiveMachine;

fn random_bytes() -> impl Strategy<Value = [u8; 26]> {
    any::<[u8; 26]>()
}

impl ReferenceStateMachine for ArchiveMachine {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        let org = (random_bytes(), random_bytes(), 0..NAMES.len());
        proptest::collection::vec(org, ORGS)
            .prop_map(|orgs| {
                let mut model = Model {
                    orgs: Vec::new(),
                    admins: Vec::new(),
                    users: BTreeMap::new(),
                    last: None,
                };
                for (org_bytes, admin_bytes, name) in orgs {
                    let org = OrgId::from_random(&org_bytes);
                    let admin = UserId::from_random(&admin_bytes);
                    let record = ModelUser {
                        org: org.clone(),
                        name_class: NAMES[name].1,
                        archived: false,
                        may_create: true,
                        may_archive: true,
                    };
                    model.users.insert(admin.clone(), record);
                    model.admins.push((admin, name));
                    model.orgs.push(org);
                }
                model
            })
            // Equal random bytes would make two orgs or admins one.
            .prop_filter("orgs and admins must be distinct", |model| {
                model.orgs.iter().collect::<BTreeSet<_>>().len() == ORGS
                    && model.users.len() == ORGS
            })
            .boxed()
    }

    fn transitions(model: &Model) -> BoxedStrategy<Transition> {
        let live: Vec<(&UserId, &ModelUser)> =
            model.users.iter().filter(|(_, u)| !u.archived).collect();
        let all: Vec<(&UserId, &ModelUser)> = model.users.iter().collect();
        let pairs = |keep: &dyn Fn(&UserId, &ModelUser, &UserId, &ModelUser) -> bool| {
            let mut pairs = Vec::new();
            for (caller_id, caller) in &live {
                for (target_id, target) in &all {
                    if keep(caller_id, caller, target_id, target) {
                        pairs.push(((*caller_id).clone(), (*target_id).clone()));
                    }
                }
            }
            pairs
        };
        // An admin archives another live user of its org.
        let by_admin =
            pairs(&|c, cu, t, tu| cu.may_archive && c != t && !tu.archived && cu.org == tu.org);
        // A user archives itself.
        let by_itself = pairs(&|c, _, t, _| c == t);
        // A user archives a user of another org.
        let across_orgs = pairs(&|_, cu, _, tu| cu.org != tu.org);
        // A user without the permission archives one of its org.
        let unpermitted = pairs(&|c, cu, t, tu| !cu.may_archive && c != t && cu.org == tu.org);
        // An archived user of the caller's org is archived again.
        let again = pairs(&|_, cu, _, tu| tu.archived && cu.org == tu.org);
        let cases = [(4, by_admin), (1, by_itself), (2, across_orgs), (2, unpermitted), (2, again)];

        let callers: Vec<UserId> = live.iter().map(|(id, _)| (*id).clone()).collect();
        // The last user of an org who may archive can never archive itself,
        // so every org keeps a live user and there is always a caller.
        assert!(!callers.is_empty(), "every org lost all its users");
        let grants = select(vec![Grant::Nothing, Grant::Create, Grant::Archive, Grant::Both]);
        let kinds = select(vec![UserKind::CustomerEmployee, UserKind::EndUser]);
        let create = (select(callers), random_bytes(), 0..NAMES.len(), kinds, grants)
            .prop_map(|(caller, bytes, name, kind, grant)| Transition::Create {
                caller,
                id: UserId::from_random(&bytes),
                name,
                kind,
                grant,
            })
            .boxed();
        let mut options = vec![(6, create)];
        for (weight, pairs) in cases {
            if pairs.is_empty() {
                continue;
            }
            let archive = select(pairs)
                .prop_map(|(caller, target)| Transition::Archive { caller, target })
                .boxed();
            options.push((weight, archive));
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(model: &Model, transition: &Transition) -> bool {
        // Shrinking drops steps, so a caller may no longer exist or live,
        // and a removed create may free an id a later create reuses.
        match transition {
            Transition::Create { caller, id, .. } => {
                model.live(caller).is_some() && !model.users.contains_key(id)
            }
            Transition::Archive { caller, .. } => model.live(caller).is_some(),
        }
    }

    fn apply(mut model: Model, transition: &Transition) -> Model {
        match transition {
            Transition::Create { caller, id, name, grant, .. } => {
                let outcome = model.predict_create(caller, *name);
                if outcome == Outcome::Done {
                    let org = model.users[caller].org.clone();
                    let record = ModelUser {
                        org,
                        name_class: NAMES[*name].1,
                        archived: false,
                        may_create: grant.may_create(),
                        may_archive: grant.may_archive(),
                    };
                    model.users.insert(id.clone(), record);
                }
                model.last = Some(outcome);
            }
            Transition::Archive { caller, target } => {
                let outcome = model.predict_archive(caller, target);
                if outcome == Outcome::Done {
                    let record = model.users.get_mut(target).expect("a live target");
                    record.archived = true;
                    record.may_create = false;
                    record.may_archive = false;
                }
                model.last = Some(outcome);
            }
        }
        model
    }
}

/// The system under test: the domain's decisions on a table of users.
#[derive(Debug)]
struct Table {
    users: BTreeMap<UserId, User>,
    /// The table before the last step.
    previous: BTreeMap<UserId, User>,
    last: Option<Outcome>,
    clock: i64,
}

impl Table {
    fn now(&mut self) -> Timestamp {
        self.clock += 1;
        Timestamp::from_unix_millis(self.clock)
    }

    /// The caller behind a login token of `id`, as a request would load it.
    fn caller(&self, id: &UserId) -> Caller {
        let user = self.users.get(id).expect("the model only picks stored callers").clone();
        let org = user.org_id.clone();
        Caller::from_token_subject(user, &org).expect("the model only picks live callers")
    }

    /// The user `org` may see under `id`, as the store and domain answer it.
    fn visible(&self, org: &OrgId, id: &UserId) -> Option<&User> {
        self.users.get(id).filter(|user| user.is_visible_to(org))
    }

    fn create(
        &mut self,
        caller: &UserId,
        id: &UserId,
        name: usize,
        kind: UserKind,
        grant: Grant,
    ) -> Outcome {
        let caller = self.caller(caller);
        if caller.require(Operation::CreateUser).is_err() {
            return Outcome::NotAuthorized;
        }
        let username = Username::parse(NAMES[name].0).expect("the names are valid");
        let new = NewUser {
            id: id.clone(),
            username,
            kind,
            external_id: None,
            is_sso_required: false,
            credential: None,
        };
        let now = self.now();
        let (mut user, _event) = match create_user(&caller, new, now) {
            Ok(created) => created,
            Err(CreateUserError::UsernameTaken) => return Outcome::UsernameTaken,
            Err(CreateUserError::KindNotCreatable(_)) => return Outcome::KindNotCreatable,
        };
        let taken = self.users.values().any(|other| {
            other.is_visible_to(&user.org_id) && other.username.same_as(&user.username)
        });
        if taken {
            return Outcome::UsernameTaken;
        }
        user.assignments = assignments(id, grant);
        self.users.insert(id.clone(), user);
        Outcome::Done
    }

    fn archive(&mut self, caller: &UserId, target: &UserId) -> Outcome {
        let caller = self.caller(caller);
        if caller.require(Operation::DeleteUser).is_err() {
            return Outcome::NotAuthorized;
        }
        let Some(stored) = self.users.get(target) else {
            return Outcome::NotFound;
        };
        let stored = stored.clone();
        let now = self.now();
        match archive_user(&caller, &stored, now) {
            Ok((archived, _event)) => {
                self.users.insert(target.clone(), archived);
                Outcome::Done
            }
            Err(ArchiveUserError::NotFound) => Outcome::NotFound,
            Err(ArchiveUserError::SelfArchive) => Outcome::SelfArchive,
        }
    }
}

/// The assignments that give a user of this id the rights of `grant`.
fn assignments(id: &UserId, grant: Grant) -> Vec<PermissionAssignment> {
    let mut operations = Vec::new();
    if grant.may_create() {
        operations.push(Operation::CreateUser);
    }
    if grant.may_archive() {
        operations.push(Operation::DeleteUser);
    }
    if operations.is_empty() {
        return Vec::new();
    }
    // Reuse the user's id characters, so each assignment id is unique.
    let random: [u8; 26] = core::array::from_fn(|i| id.as_str().as_bytes()[i + 3]);
    vec![PermissionAssignment {
        assignment_id: AssignmentId::from_random(&random),
        permission_id: PermissionId::from_random(&random),
        permission_name: "Granted".to_owned(),
        operations,
    }]
}

impl StateMachineTest for ArchiveMachine {
    type SystemUnderTest = Table;
    type Reference = ArchiveMachine;

    fn init_test(model: &Model) -> Table {
        let mut users = BTreeMap::new();
        for ((admin, name), org) in model.admins.iter().zip(&model.orgs) {
            let user = stored_user(admin, org, *name, assignments(admin, Grant::Both));
            users.insert(admin.clone(), user);
        }
        Table { previous: users.clone(), users, last: None, clock: 0 }
    }

    fn apply(mut table: Table, _model: &Model, transition: Transition) -> Table {
        table.previous = table.users.clone();
        let outcome = match transition {
            Transition::Create { caller, id, name, kind, grant } => {
                table.create(&caller, &id, name, kind, grant)
            }
            Transition::Archive { caller, target } => table.archive(&caller, &target),
        };
        table.last = Some(outcome);
        table
    }

    fn check_invariants(table: &Table, model: &Model) {
        assert_eq!(table.last, model.last, "the outcome differs from the model's");

        if table.last.is_some_and(|outcome| outcome != Outcome::Done) {
            assert_eq!(table.users, table.previous, "a refused operation changed the table");
        }

        for (id, before) in &table.previous {
            if before.is_archived() {
                let now = &table.users[id];
                assert!(now.is_archived(), "{id} came back from the archive");
                assert_eq!(now, before, "{id} changed after it was archived");
            }
        }

        let stranger = OrgId::from_random(&[35; 26]);
        let mut live_names = BTreeSet::new();
        for (id, user) in &table.users {
            if user.is_archived() {
                assert!(user.assignments.is_empty(), "archived {id} holds assignments");
                for org in model.orgs.iter().chain([&stranger]) {
                    assert!(table.visible(org, id).is_none(), "archived {id} is visible");
                }
            } else {
                let fresh = live_names.insert((&user.org_id, user.username.key()));
                assert!(fresh, "two live users of {} are named {}", user.org_id, user.username);
            }
        }

        let ids: Vec<&UserId> = table.users.keys().collect();
        let model_ids: Vec<&UserId> = model.users.keys().collect();
        assert_eq!(ids, model_ids, "the table and the model hold different users");
        for (id, expected) in &model.users {
            let user = &table.users[id];
            assert_eq!(user.org_id, expected.org, "{id} moved org");
            assert_eq!(user.is_archived(), expected.archived, "{id} archived state");
            assert_eq!(user.holds(Operation::CreateUser), expected.may_create, "{id} rights");
            assert_eq!(user.holds(Operation::DeleteUser), expected.may_archive, "{id} rights");
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    })]

    #[test]
    fn creating_and_archiving_users_keeps_the_lifecycle_rules(
        sequential 1..40 => ArchiveMachine
    );
}
