//! The system under test: the real `app::Service` over the store under
//! test, with the kit's fakes for every other port, driven one transition
//! at a time and read back in full after each.
//!
//! Every step goes through the use cases exactly as a request would:
//! authenticate the caller's login token, earn a user action by signing a
//! challenge, then make the request. The exceptions write to the store
//! directly: [`Transition::Stale`] and [`Transition::StaleActor`], because
//! no use case ever sends a stale version on purpose; [`Transition::Register`], decided by the domain's
//! `register_credential` as the registration use case decides it, because
//! its ceremony needs an attestation the kit's fakes cannot make and a user
//! created without a key has nothing to sign it with; and
//! [`Transition::Count`], because the use cases only raise a counter the
//! domain already found higher, so only a direct call can ask the store to
//! refuse an equal or lower one.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use app::{Assertion, CreateUserRequest, Service, SignedRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{
    Assignment, AssignmentId, AuditEvent, AuditKind, Caller, Challenge, CredId, Credential,
    CredentialKind, CredentialUuid, Duration, HttpMethod, LifecycleState, Operation, OrgId,
    OrgName, Permission, PermissionId, PermissionName, Timestamp, User, UserActionRequest,
    UserActionToken, UserId, UserKind, Username,
};
use ports::{
    AddCredentialError, AssignersSnapshot, Basis, InsertPermissionError, InsertUserError, OrgGuard,
    UpdatePermissionError, UpdateUserError,
};
use proptest::prop_assert_eq;
use proptest::test_runner::TestCaseError;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::runtime::Runtime;

use crate::Store;
use crate::fakes::{
    ManualClock, MarkerVerifier, PlainTokens, SeededRandom, VALID_SIGNATURE, cose_marker_pem,
};
use crate::model::{
    ActorWrite, ChallengeKind, CountTo, FirstAnswer, Life, Misbind, Model, NAME_CLASSES, NAMES,
    ORGS, Outcome, PASSKEYS, PERMISSION_NAMES, ROLES, Role, StaleWrite, TokenUse, Transition,
    passkey_cred_id, permission_org, permission_role,
};

/// The public key every user registers; [`MarkerVerifier`] takes any.
const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\ntestkit\n-----END PUBLIC KEY-----\n";

/// When every sequence starts: 2023-11-14T22:13:20Z.
const START: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// The `credId` the kit signs with for a user that has no key: no user
/// ever has it.
const NO_KEY: &str = "testkit-no-key";

/// The relying party of every `Fido2` credential the kit registers.
const RELYING_PARTY: &str = "localhost";

/// The page every `Fido2` credential the kit registers came from.
const ORIGIN: &str = "http://localhost:3000";

/// Counts sequences, so that no two draw the same ids even when the
/// model's seed repeats (shrinking replays a sequence): a factory may then
/// hand out one store for many sequences without ids clashing.
static SEQUENCES: AtomicU64 = AtomicU64::new(0);

/// The adapters of the service under test.
pub(crate) struct KitPorts<S>(PhantomData<fn() -> S>);

impl<S: Store> app::Ports for KitPorts<S> {
    type Users = S;
    type Permissions = S;
    type OneTime = S;
    type Verifier = MarkerVerifier;
    type Tokens = PlainTokens;
    type Clock = ManualClock;
    type Random = SeededRandom;
}

fn fail(message: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(message.to_string())
}

/// The system under test, with the runtime that drives it.
pub(crate) struct Sut<S: Store> {
    /// Taken in `drop`, so that the store closes inside the runtime.
    system: Option<System<S>>,
    runtime: Runtime,
}

impl<S: Store> Sut<S> {
    /// A fresh store from `factory`, with the orgs, admins and roles of
    /// `model` set up through the use cases.
    pub(crate) fn start<F, Fut>(factory: &F, model: &Model) -> Result<Sut<S>, TestCaseError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = S>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start a runtime: {e}")))?;
        let mut sut = Sut { system: None, runtime };
        let system = sut.runtime.block_on(async {
            let store = factory().await;
            System::start(store, model).await
        })?;
        sut.system = Some(system);
        Ok(sut)
    }

    /// Applies `transition`; `model` is the model after it.
    pub(crate) fn apply(
        &mut self,
        model: &Model,
        transition: &Transition,
    ) -> Result<(), TestCaseError> {
        let system = self.system.as_mut().expect("the system lives until the sut drops");
        self.runtime.block_on(system.apply(model, transition))
    }

    /// Reads the store in full and checks it against `model` and the rules.
    pub(crate) fn check(&mut self, model: &Model) -> Result<(), TestCaseError> {
        let system = self.system.as_mut().expect("the system lives until the sut drops");
        self.runtime.block_on(system.check(model))
    }
}

impl<S: Store> Drop for Sut<S> {
    fn drop(&mut self) {
        // Pools may spawn a task when they close; give them the runtime.
        let _inside = self.runtime.enter();
        drop(self.system.take());
    }
}

/// A full read of the orgs, as the ports answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    /// `find_user` of every known user, by index.
    users: Vec<User>,
    /// Per org, the ids a walk through `list_users` pages saw.
    listed: Vec<Vec<UserId>>,
    /// Per org, the audit log.
    events: Vec<Vec<AuditEvent>>,
    /// Per org, who can assign and the guard version.
    assigners: Vec<AssignersSnapshot>,
    /// `find_permission` of every permission, by index.
    permissions: Vec<Permission>,
    /// `list_assignments` of every permission, by index.
    assignments: Vec<Vec<Assignment>>,
    /// `list_credentials` of every known user, by index.
    credentials: Vec<Vec<Credential>>,
}

/// What a state-changing use case is asked to do, by index.
#[derive(Debug, Clone)]
enum Call {
    Create { name: usize, kind: UserKind, key: bool },
    SetActive { target: usize, active: bool },
    Archive { target: usize },
    Assign { permission: usize, target: usize },
    Revoke { permission: usize, assignment: usize },
    UpdatePermission { permission: usize, grants: Role, rename: Option<usize> },
    ArchivePermission { permission: usize },
}

/// What a successful call made that the system must remember.
#[derive(Debug)]
enum Effect {
    Created {
        user: User,
        key: bool,
    },
    Changed(User),
    Assigned(Assignment),
    /// A permission as the use case answered it after changing it.
    PermissionChanged(Permission),
    /// `user` (an index) registered `credential` and is now stored as
    /// `registered`.
    Registered {
        user: usize,
        registered: User,
        credential: Box<Credential>,
    },
}

struct System<S: Store> {
    store: S,
    service: Service<KitPorts<S>>,
    clock: ManualClock,
    orgs: Vec<OrgId>,
    users: Vec<UserId>,
    /// The `credId` of each user's key, for users created with one.
    creds: Vec<Option<CredId>>,
    /// The login token of each user created with a key.
    tokens: Vec<Option<String>>,
    /// Every credential of each user as it was stored, oldest first; the
    /// store must show them with the model's counters.
    credentials: Vec<Vec<Credential>>,
    /// Draws the uuids of the credentials the kit registers itself.
    random: SeededRandom,
    permissions: Vec<PermissionId>,
    assignments: Vec<AssignmentId>,
    /// The outcomes of the last step.
    last: Vec<Outcome>,
    /// The full read after the last step.
    current: Option<Snapshot>,
    steps: usize,
    /// Makes this sequence's nonces unlike any other sequence's.
    nonce_prefix: String,
}

impl<S: Store> System<S> {
    async fn start(store: S, model: &Model) -> Result<System<S>, TestCaseError> {
        let sequence = SEQUENCES.fetch_add(1, Ordering::Relaxed);
        let seed = model.seed ^ sequence.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let clock = ManualClock::new(START);
        let service = Service::new(
            store.clone(),
            store.clone(),
            store.clone(),
            MarkerVerifier,
            PlainTokens,
            clock.clone(),
            SeededRandom::new(seed),
        );
        let mut system = System {
            store,
            service,
            clock,
            orgs: Vec::new(),
            users: Vec::new(),
            creds: Vec::new(),
            tokens: Vec::new(),
            credentials: Vec::new(),
            random: SeededRandom::new(!seed),
            permissions: Vec::new(),
            assignments: Vec::new(),
            last: Vec::new(),
            current: None,
            steps: 0,
            nonce_prefix: format!("testkit-{seed:016x}"),
        };
        for org in 0..ORGS {
            system.create_org(org, model.users[org].name).await?;
        }
        Ok(system)
    }

    /// Creates org `org` with its admin (user `org`), then has the admin
    /// create the org's other roles.
    async fn create_org(&mut self, org: usize, name: usize) -> Result<(), TestCaseError> {
        let org_name = OrgName::parse(&format!("Org {org}")).expect("a valid org name");
        let username = Username::parse(NAMES[name].0).expect("the names are valid");
        let created = self
            .service
            .create_org(org_name, username, PUBLIC_KEY.to_owned())
            .await
            .map_err(|e| fail(format!("creating org {org} failed: {e:?}")))?;
        let [admin_assignment] = &created.admin.assignments[..] else {
            return Err(fail("a new org's admin must hold exactly OrgAdmin"));
        };
        self.orgs.push(created.org.id.clone());
        self.users.push(created.admin.id.clone());
        self.creds.push(Some(created.cred_id.clone()));
        self.permissions.push(admin_assignment.permission_id.clone());
        self.assignments.push(admin_assignment.assignment_id.clone());
        let key = self.only_credential(org, &created.admin).await?;
        self.credentials.push(vec![key]);
        let token = self.login(org, &created.org.id, NAMES[name].0).await?;
        self.tokens.push(Some(token));

        let admin = self
            .authenticate(org)
            .await?
            .ok_or_else(|| fail(format!("the admin of org {org} cannot authenticate")))?;
        for role in &ROLES[1..] {
            let operations: Vec<String> =
                role.operations().iter().map(|op| op.as_str().to_owned()).collect();
            let request = UserActionRequest {
                method: HttpMethod::Post,
                path: "/permissions".to_owned(),
                payload: format!(r#"{{"name":"{}"}}"#, role.name()),
            };
            let token = self.earn(org, &admin, &request).await?;
            let signed = SignedRequest { user_action: Some(token), request };
            let permission = self
                .service
                .create_permission(&admin, &signed, role.name(), &operations)
                .await
                .map_err(|e| {
                    fail(format!("creating {} in org {org} failed: {e:?}", role.name()))
                })?;
            self.permissions.push(permission.id);
        }
        Ok(())
    }

    /// Logs in user `user` of `org` under `name` and answers its login
    /// token.
    async fn login(&self, user: usize, org: &OrgId, name: &str) -> Result<String, TestCaseError> {
        let issued = self
            .service
            .login_init(name, org.as_str())
            .await
            .map_err(|e| fail(format!("user {user} cannot start a login: {e:?}")))?;
        let allowed: Vec<&CredId> = issued.allowed_credentials.iter().map(|c| &c.cred_id).collect();
        if allowed != [self.creds[user].as_ref().expect("a user who logs in has a key")] {
            return Err(fail(format!(
                "user {user} may log in with {allowed:?}, not with its one credential {:?}",
                self.creds[user]
            )));
        }
        let assertion = self.assertion(user, &issued.challenge, VALID_SIGNATURE);
        self.service
            .login(issued.challenge.id.as_str(), &assertion)
            .await
            .map_err(|e| fail(format!("user {user} cannot log in: {e:?}")))
    }

    /// The caller behind user `user`'s login token, if it still
    /// authenticates.
    async fn authenticate(&self, user: usize) -> Result<Option<Caller>, TestCaseError> {
        let Some(token) = &self.tokens[user] else {
            return Ok(None);
        };
        match self.service.authenticate(token).await {
            Ok(caller) => Ok(Some(caller)),
            Err(app::AuthenticateError::Unauthenticated) => Ok(None),
            Err(app::AuthenticateError::Store(e)) => Err(fail(format!("authenticate: {e}"))),
        }
    }

    /// An answer to `challenge` with user `user`'s key, or with a
    /// credential nobody has when it has none.
    fn assertion(&self, user: usize, challenge: &Challenge, signature: &[u8]) -> Assertion {
        let client_data = format!(r#"{{"type":"key.get","challenge":"{}"}}"#, challenge.challenge);
        Assertion {
            cred_id: self.creds[user].as_ref().map_or(NO_KEY, CredId::as_str).to_owned(),
            client_data: client_data.into_bytes(),
            signature: signature.to_vec(),
            authenticator_data: None,
        }
    }

    /// Signs `request` as user `user` and answers the user-action token.
    async fn earn(
        &self,
        user: usize,
        caller: &Caller,
        request: &UserActionRequest,
    ) -> Result<UserActionToken, TestCaseError> {
        let issued = self
            .service
            .action_init(caller, request.clone())
            .await
            .map_err(|e| fail(format!("user {user} cannot start a user action: {e:?}")))?;
        let assertion = self.assertion(user, &issued.challenge, VALID_SIGNATURE);
        self.service
            .action(caller, issued.challenge.id.as_str(), &assertion)
            .await
            .map_err(|e| fail(format!("user {user} cannot sign a user action: {e:?}")))
    }

    async fn apply(&mut self, model: &Model, transition: &Transition) -> Result<(), TestCaseError> {
        // Time passes between requests, as it would.
        self.clock.advance(Duration::from_seconds(1));
        self.steps += 1;

        let mut effects = Vec::new();
        let outcomes = match transition {
            Transition::Create { caller, name, kind, key, token } => {
                let call = Call::Create { name: *name, kind: *kind, key: *key };
                self.signed(*caller, call, token, &mut effects).await?
            }
            Transition::SetActive { caller, target, active, token } => {
                let call = Call::SetActive { target: *target, active: *active };
                self.signed(*caller, call, token, &mut effects).await?
            }
            Transition::Archive { caller, target, token } => {
                let call = Call::Archive { target: *target };
                self.signed(*caller, call, token, &mut effects).await?
            }
            Transition::Assign { caller, permission, target, token } => {
                let call = Call::Assign { permission: *permission, target: *target };
                self.signed(*caller, call, token, &mut effects).await?
            }
            Transition::Revoke { caller, permission, assignment, token } => {
                let call = Call::Revoke { permission: *permission, assignment: *assignment };
                self.signed(*caller, call, token, &mut effects).await?
            }
            Transition::UpdatePermission { caller, permission, grants, rename, token } => {
                let call = Call::UpdatePermission {
                    permission: *permission,
                    grants: *grants,
                    rename: *rename,
                };
                self.signed(*caller, call, token, &mut effects).await?
            }
            Transition::ArchivePermission { caller, permission, token } => {
                let call = Call::ArchivePermission { permission: *permission };
                self.signed(*caller, call, token, &mut effects).await?
            }
            Transition::Get { caller, target } => vec![self.get(model, *caller, *target).await?],
            Transition::Stale { target, write } => vec![self.stale(*target, write).await?],
            Transition::StaleActor { actor, write, ahead } => {
                vec![self.stale_actor(model, *actor, write, *ahead).await?]
            }
            Transition::Challenge { user, kind, first } => {
                self.challenge(model, *user, *kind, first).await?
            }
            Transition::Nonce { nonce, stale } => {
                vec![self.nonce(*nonce, *stale).await, self.nonce(*nonce, *stale).await]
            }
            Transition::Register { user, passkey, count } => {
                vec![self.register(*user, *passkey, *count, &mut effects).await?]
            }
            Transition::Count { user, credential, to } => {
                vec![self.count(*user, *credential, *to).await?]
            }
        };
        self.last = outcomes;
        prop_assert_eq!(&self.last, &model.last, "the outcomes differ from the model's");

        for effect in effects {
            self.remember(effect).await?;
        }
        Ok(())
    }

    /// Makes a state-changing request as user `caller`, using its user
    /// action as `token` says, and answers the outcome of each attempt.
    async fn signed(
        &self,
        caller: usize,
        call: Call,
        token: &TokenUse,
        effects: &mut Vec<Effect>,
    ) -> Result<Vec<Outcome>, TestCaseError> {
        let Some(signer) = self.authenticate(caller).await? else {
            return Ok(vec![Outcome::Unauthenticated]);
        };
        let request = self.request(&call);
        let user_action = self.earn(caller, &signer, &request).await?;
        let rightful = SignedRequest { user_action: Some(user_action), request };

        let mut outcomes = Vec::new();
        if let TokenUse::MisboundFirst(misbind) = token {
            let mut misbound = rightful.clone();
            let mut presenter = Some(signer.clone());
            match misbind {
                Misbind::Payload => {
                    let payload = &mut misbound.request.payload;
                    *payload =
                        if payload.is_empty() { "{}".to_owned() } else { format!("{payload} ") };
                }
                Misbind::Path => misbound.request.path.push('/'),
                Misbind::Method => {
                    misbound.request.method = match misbound.request.method {
                        HttpMethod::Post => HttpMethod::Put,
                        _ => HttpMethod::Post,
                    };
                }
                Misbind::Missing => misbound.user_action = None,
                Misbind::Unknown => {
                    misbound.user_action = Some(UserActionToken::from_wire("bm90LWlzc3VlZA"));
                }
                Misbind::Presenter(other) => presenter = self.authenticate(*other).await?,
            }
            outcomes.push(match presenter {
                Some(presenter) => self.call(&presenter, &call, &misbound, effects).await,
                None => Outcome::Unauthenticated,
            });
        }
        outcomes.push(self.call(&signer, &call, &rightful, effects).await);
        if *token == TokenUse::Twice {
            outcomes.push(self.call(&signer, &call, &rightful, effects).await);
        }
        Ok(outcomes)
    }

    /// The request a client would sign for `call`.
    fn request(&self, call: &Call) -> UserActionRequest {
        let (method, path, payload) = match call {
            Call::Create { name, kind, .. } => (
                HttpMethod::Post,
                "/auth/users".to_owned(),
                format!(r#"{{"email":"{}","kind":"{kind}"}}"#, NAMES[*name].0),
            ),
            Call::SetActive { target, active } => {
                let verb = if *active { "activate" } else { "deactivate" };
                (
                    HttpMethod::Put,
                    format!("/auth/users/{}/{verb}", self.users[*target]),
                    "{}".into(),
                )
            }
            Call::Archive { target } => {
                (HttpMethod::Delete, format!("/auth/users/{}", self.users[*target]), String::new())
            }
            Call::Assign { permission, target } => (
                HttpMethod::Post,
                format!("/permissions/{}/assignments", self.permissions[*permission]),
                format!(r#"{{"identityId":"{}"}}"#, self.users[*target]),
            ),
            Call::Revoke { permission, assignment } => (
                HttpMethod::Delete,
                format!(
                    "/permissions/{}/assignments/{}",
                    self.permissions[*permission], self.assignments[*assignment]
                ),
                String::new(),
            ),
            Call::UpdatePermission { permission, grants, rename } => {
                let operations: Vec<String> =
                    grants.operations().iter().map(|op| format!(r#""{}""#, op.as_str())).collect();
                let name = rename.map(|n| format!(r#""name":"{}","#, PERMISSION_NAMES[n]));
                (
                    HttpMethod::Put,
                    format!("/permissions/{}", self.permissions[*permission]),
                    format!(
                        r#"{{{}"operations":[{}]}}"#,
                        name.unwrap_or_default(),
                        operations.join(",")
                    ),
                )
            }
            Call::ArchivePermission { permission } => (
                HttpMethod::Put,
                format!("/permissions/{}/archive", self.permissions[*permission]),
                r#"{"isArchived":true}"#.to_owned(),
            ),
        };
        UserActionRequest { method, path, payload }
    }

    /// One attempt at `call` by `caller` with `signed`.
    async fn call(
        &self,
        caller: &Caller,
        call: &Call,
        signed: &SignedRequest,
        effects: &mut Vec<Effect>,
    ) -> Outcome {
        use app::{
            ArchiveUserError as Archive, AssignPermissionError as Assign,
            ChangeActiveError as Change, CreateUserError as Create,
            RevokeAssignmentError as Revoke,
        };
        let service = &self.service;
        match call {
            Call::Create { name, kind, key } => {
                let request = CreateUserRequest {
                    email: NAMES[*name].0.to_owned(),
                    kind: *kind,
                    public_key: key.then(|| PUBLIC_KEY.to_owned()),
                    external_id: None,
                    is_sso_required: false,
                };
                match service.create_user(caller, signed, request).await {
                    Ok(user) => {
                        effects.push(Effect::Created { user, key: *key });
                        Outcome::Done
                    }
                    Err(Create::Access(e)) => access(e),
                    Err(Create::Refused(domain::CreateUserError::UsernameTaken)) => {
                        Outcome::UsernameTaken
                    }
                    Err(Create::Contended(_)) => Outcome::Contended,
                    Err(Create::Store(e)) => Outcome::StoreFailed(e.to_string()),
                    Err(e) => Outcome::Unexpected(format!("{e:?}")),
                }
            }
            Call::SetActive { target, active } => {
                let id = self.users[*target].as_str();
                match service.set_user_active(caller, signed, id, *active).await {
                    Ok(user) if Some(user.version) == self.version_before(*target) => {
                        Outcome::Unchanged
                    }
                    Ok(user) => {
                        effects.push(Effect::Changed(user));
                        Outcome::Done
                    }
                    Err(Change::Access(e)) => access(e),
                    Err(Change::Refused(domain::ChangeActiveError::NotFound)) => {
                        Outcome::UserNotFound
                    }
                    Err(Change::Refused(domain::ChangeActiveError::SelfDeactivate)) => {
                        Outcome::SelfDeactivate
                    }
                    Err(Change::LastAssigner(_)) => Outcome::LastAssigner,
                    Err(Change::Contended(_)) => Outcome::Contended,
                    Err(Change::Store(e)) => Outcome::StoreFailed(e.to_string()),
                }
            }
            Call::Archive { target } => {
                match service.archive_user(caller, signed, self.users[*target].as_str()).await {
                    Ok(user) => {
                        effects.push(Effect::Changed(user));
                        Outcome::Done
                    }
                    Err(Archive::Access(e)) => access(e),
                    Err(Archive::Refused(domain::ArchiveUserError::NotFound)) => {
                        Outcome::UserNotFound
                    }
                    Err(Archive::Refused(domain::ArchiveUserError::SelfArchive)) => {
                        Outcome::SelfArchive
                    }
                    Err(Archive::LastAssigner(_)) => Outcome::LastAssigner,
                    Err(Archive::Contended(_)) => Outcome::Contended,
                    Err(Archive::Store(e)) => Outcome::StoreFailed(e.to_string()),
                }
            }
            Call::Assign { permission, target } => {
                let permission_id = self.permissions[*permission].as_str();
                let user_id = self.users[*target].as_str();
                match service.assign_permission(caller, signed, permission_id, user_id).await {
                    Ok(assignment) => {
                        effects.push(Effect::Assigned(assignment));
                        Outcome::Done
                    }
                    Err(Assign::Access(e)) => access(e),
                    Err(Assign::Refused(refused)) => match refused {
                        domain::AssignPermissionError::PermissionNotFound => {
                            Outcome::PermissionNotFound
                        }
                        domain::AssignPermissionError::UserNotFound => Outcome::UserNotFound,
                        domain::AssignPermissionError::AlreadyAssigned => Outcome::AlreadyAssigned,
                        domain::AssignPermissionError::PermissionArchived => {
                            Outcome::PermissionArchived
                        }
                    },
                    Err(Assign::Contended(_)) => Outcome::Contended,
                    Err(Assign::Store(e)) => Outcome::StoreFailed(e.to_string()),
                }
            }
            Call::Revoke { permission, assignment } => {
                let permission_id = self.permissions[*permission].as_str();
                let assignment_id = self.assignments[*assignment].as_str();
                match service.revoke_assignment(caller, signed, permission_id, assignment_id).await
                {
                    Ok(_) => Outcome::Done,
                    Err(Revoke::Access(e)) => access(e),
                    Err(Revoke::Refused(domain::RevokeAssignmentError::PermissionNotFound)) => {
                        Outcome::PermissionNotFound
                    }
                    Err(Revoke::Refused(domain::RevokeAssignmentError::AssignmentNotFound)) => {
                        Outcome::AssignmentNotFound
                    }
                    Err(Revoke::LastAssigner(_)) => Outcome::LastAssigner,
                    Err(Revoke::Contended(_)) => Outcome::Contended,
                    Err(Revoke::Store(e)) => Outcome::StoreFailed(e.to_string()),
                }
            }
            Call::UpdatePermission { permission, grants, rename } => {
                let id = self.permissions[*permission].as_str();
                let operations: Vec<String> =
                    grants.operations().iter().map(|op| op.as_str().to_owned()).collect();
                let name = rename.map(|n| PERMISSION_NAMES[n]);
                let updated =
                    service.update_permission(caller, signed, id, name, Some(&operations)).await;
                match updated {
                    Ok(permission) => {
                        effects.push(Effect::PermissionChanged(permission));
                        Outcome::Done
                    }
                    Err(app::UpdatePermissionError::Access(e)) => access(e),
                    Err(app::UpdatePermissionError::Refused(refused)) => permission_change(refused),
                    Err(app::UpdatePermissionError::NameTaken) => Outcome::PermissionNameTaken,
                    Err(app::UpdatePermissionError::LastAssigner(_)) => Outcome::LastAssigner,
                    Err(app::UpdatePermissionError::Contended(_)) => Outcome::Contended,
                    Err(app::UpdatePermissionError::Store(e)) => {
                        Outcome::StoreFailed(e.to_string())
                    }
                    Err(e) => Outcome::Unexpected(format!("{e:?}")),
                }
            }
            Call::ArchivePermission { permission } => {
                let id = self.permissions[*permission].as_str();
                match service.archive_permission(caller, signed, id).await {
                    Ok(permission) => {
                        effects.push(Effect::PermissionChanged(permission));
                        Outcome::Done
                    }
                    Err(app::ArchivePermissionError::Access(e)) => access(e),
                    Err(app::ArchivePermissionError::Refused(refused)) => {
                        permission_change(refused)
                    }
                    Err(app::ArchivePermissionError::LastAssigner(_)) => Outcome::LastAssigner,
                    Err(app::ArchivePermissionError::Contended(_)) => Outcome::Contended,
                    Err(app::ArchivePermissionError::Store(e)) => {
                        Outcome::StoreFailed(e.to_string())
                    }
                }
            }
        }
    }

    /// The stored version of user `user` before this step.
    fn version_before(&self, user: usize) -> Option<u64> {
        self.current.as_ref().and_then(|s| s.users.get(user)).map(|u| u.version)
    }

    /// Remembers what a successful call made, and checks that the store
    /// answers exactly what the use case stored.
    async fn remember(&mut self, effect: Effect) -> Result<(), TestCaseError> {
        match effect {
            Effect::Created { user, key: false } => {
                let index = self.users.len();
                self.users.push(user.id.clone());
                self.read_back(index, &user).await?;
                let credentials = self.list_credentials(&user.id).await?;
                if !credentials.is_empty() {
                    return Err(fail(format!(
                        "new user {index}, created without a key, has credentials {credentials:?}"
                    )));
                }
                self.creds.push(None);
                self.tokens.push(None);
                self.credentials.push(Vec::new());
            }
            Effect::Created { user, key: true } => {
                let index = self.users.len();
                self.users.push(user.id.clone());
                self.read_back(index, &user).await?;
                let credential = self.only_credential(index, &user).await?;
                self.creds.push(Some(credential.cred_id.clone()));
                self.credentials.push(vec![credential]);
                let token = self.login(index, &user.org_id, user.username.as_str()).await?;
                self.tokens.push(Some(token));
            }
            Effect::Registered { user, registered, credential } => {
                self.read_back(user, &registered).await?;
                self.credentials[user].push(*credential);
            }
            Effect::Changed(user) => {
                let index = self.index_of(&user.id)?;
                self.read_back(index, &user).await?;
            }
            Effect::Assigned(assignment) => self.assignments.push(assignment.id),
            Effect::PermissionChanged(permission) => {
                let found = self.store.find_permission(&permission.id).await;
                match found {
                    Ok(Some(found)) => prop_assert_eq!(
                        sorted(found),
                        sorted(permission),
                        "a permission reads back unlike the use case stored it"
                    ),
                    other => return Err(fail(format!("a changed permission is gone: {other:?}"))),
                }
            }
        }
        Ok(())
    }

    /// The credentials of `user` the store lists.
    async fn list_credentials(&self, user: &UserId) -> Result<Vec<Credential>, TestCaseError> {
        self.store.list_credentials(user).await.map_err(|e| fail(format!("list_credentials: {e}")))
    }

    /// The one credential new user `index`, `user` as stored, was created
    /// with, which must be its primary credential.
    async fn only_credential(
        &self,
        index: usize,
        user: &User,
    ) -> Result<Credential, TestCaseError> {
        let credentials = self.list_credentials(&user.id).await?;
        let [credential] = &credentials[..] else {
            return Err(fail(format!(
                "new user {index} has credentials {credentials:?}, not the one it was created with"
            )));
        };
        if Some(&credential.uuid) != user.credential_uuid.as_ref() {
            return Err(fail(format!("new user {index} has a foreign credential")));
        }
        Ok(credential.clone())
    }

    fn index_of(&self, id: &UserId) -> Result<usize, TestCaseError> {
        self.users
            .iter()
            .position(|known| known == id)
            .ok_or_else(|| fail(format!("a use case answered unknown user {id}")))
    }

    /// Checks that `find_user` answers what the use case stored as `user`.
    async fn read_back(&self, index: usize, user: &User) -> Result<(), TestCaseError> {
        let found = self.store.find_user(&user.id).await;
        match found {
            Ok(Some(found)) => {
                prop_assert_eq!(
                    normalized(found),
                    normalized(user.clone()),
                    "user {} reads back unlike the use case stored it",
                    index
                );
                Ok(())
            }
            other => Err(fail(format!("user {index} just stored is not found: {other:?}"))),
        }
    }

    async fn get(
        &self,
        model: &Model,
        caller: usize,
        target: usize,
    ) -> Result<Outcome, TestCaseError> {
        let Some(caller) = self.authenticate(caller).await? else {
            return Ok(Outcome::Unauthenticated);
        };
        Ok(match self.service.get_user(&caller, self.users[target].as_str()).await {
            Ok(user) => match self.agrees(model, target, &user) {
                Ok(()) => Outcome::Unchanged,
                Err(difference) => Outcome::Unexpected(format!("get answered {difference}")),
            },
            Err(app::GetUserError::Access(e)) => access(e),
            Err(app::GetUserError::NotFound) => Outcome::UserNotFound,
            Err(app::GetUserError::Store(e)) => Outcome::StoreFailed(e.to_string()),
        })
    }

    /// Writes user `target` straight to the store with a stale version or
    /// guard: the write must lose.
    async fn stale(&self, target: usize, write: &StaleWrite) -> Result<Outcome, TestCaseError> {
        let stored = match self.store.find_user(&self.users[target]).await {
            Ok(Some(stored)) => stored,
            other => return Err(fail(format!("user {target} is not found: {other:?}"))),
        };
        // The change would matter: it revives an archived user, or flips
        // whether the user is active.
        let (state, kind) = match stored.state {
            LifecycleState::Active => (LifecycleState::Inactive, AuditKind::UserDeactivated),
            _ => (LifecycleState::Active, AuditKind::UserActivated),
        };
        if let StaleWrite::Registration(off) = write {
            return Ok(self.stale_registration(&stored, *off).await);
        }
        let mut changed = User { state, ..stored.clone() };
        let mut guard = None;
        match write {
            // No use case decides a change of an archived user on its
            // current version, so only a stale version is a write that
            // could happen; a stale guard alone would leave the store to
            // choose between a conflict and a taken user name.
            StaleWrite::GuardVersion if stored.is_archived() => changed.version += 1,
            StaleWrite::UserVersion(off) => {
                changed.version = stored.version.checked_sub(*off).unwrap_or(stored.version + off);
            }
            StaleWrite::Registration(_) => unreachable!("registrations returned above"),
            StaleWrite::GuardVersion => {
                let current = match self.store.assigners(&stored.org_id).await {
                    Ok(snapshot) => snapshot.guard,
                    Err(e) => return Ok(Outcome::StoreFailed(e.to_string())),
                };
                let version = current.version.checked_sub(1).unwrap_or(current.version + 1);
                guard = Some(OrgGuard { version, ..current });
            }
        }
        let event = AuditEvent {
            kind,
            org_id: stored.org_id.clone(),
            user_id: stored.id.clone(),
            permission_id: None,
            actor: stored.id.clone(),
            at: self.clock_now(),
        };
        // The user acts on itself, as read: only the version or the guard
        // under test can refuse the write.
        let basis = Basis { actor: stored.id.clone(), actor_version: stored.version, guard };
        Ok(match self.store.update_user(&changed, &event, &basis).await {
            Err(UpdateUserError::Conflict) => Outcome::Conflict,
            Err(UpdateUserError::Store(e)) => Outcome::StoreFailed(e.to_string()),
            Ok(()) => Outcome::Unexpected("the stale write was stored".to_owned()),
        })
    }

    /// Registers a new credential of `stored` straight to the store, decided
    /// on a version `off` from the stored one: the write must lose.
    async fn stale_registration(&self, stored: &User, off: u64) -> Outcome {
        // A `credId` no user has, so that only the version can refuse it.
        let cred_id = format!("stale-{}", self.steps);
        let credential = self.new_passkey(stored, &cred_id, 0);
        let changed = User {
            is_registered: true,
            credential_uuid: stored.credential_uuid.clone().or(Some(credential.uuid.clone())),
            version: stored.version.checked_sub(off).unwrap_or(stored.version + off),
            ..stored.clone()
        };
        let event = AuditEvent {
            kind: AuditKind::CredentialCreated,
            org_id: stored.org_id.clone(),
            user_id: stored.id.clone(),
            permission_id: None,
            actor: stored.id.clone(),
            at: self.clock_now(),
        };
        match self.store.add_credential(&changed, &credential, &event).await {
            Err(AddCredentialError::Conflict) => Outcome::Conflict,
            Err(AddCredentialError::CredIdTaken) => Outcome::CredIdTaken,
            Err(AddCredentialError::Store(e)) => Outcome::StoreFailed(e.to_string()),
            Ok(()) => Outcome::Unexpected("the stale registration was stored".to_owned()),
        }
    }

    /// Writes `write` straight to the store, decided for user `actor` on a
    /// version of it that the store does not hold: the write must conflict
    /// and change nothing, whatever else it would do.
    async fn stale_actor(
        &self,
        model: &Model,
        actor: usize,
        write: &ActorWrite,
        ahead: bool,
    ) -> Result<Outcome, TestCaseError> {
        let known = model.users[actor].version;
        let actor_version = if ahead || known == 0 { known + 1 } else { known - 1 };
        let basis = Basis { actor: self.users[actor].clone(), actor_version, guard: None };
        let org = &self.orgs[model.users[actor].org];
        let at = self.clock_now();
        let event = |kind, org_id: &OrgId, user_id: &UserId, permission_id| AuditEvent {
            kind,
            org_id: org_id.clone(),
            user_id: user_id.clone(),
            permission_id,
            actor: basis.actor.clone(),
            at,
        };
        let stored = || Outcome::Unexpected("a write decided for a stale caller was stored".into());
        // Names no step uses, so that only the caller's version can refuse
        // the new records.
        let fresh = format!("stale{}", self.steps);
        Ok(match write {
            ActorWrite::InsertUser => {
                let user = User {
                    id: UserId::from_random(&ports::random_array(&self.random)),
                    org_id: org.clone(),
                    kind: UserKind::EndUser,
                    username: Username::parse(&format!("{fresh}@x.io")).expect("a valid name"),
                    credential_uuid: None,
                    is_registered: false,
                    is_service_account: false,
                    is_sso_required: false,
                    external_id: None,
                    state: LifecycleState::Active,
                    assignments: Vec::new(),
                    created_at: at,
                    version: 0,
                };
                let event = event(AuditKind::UserCreated, org, &user.id, None);
                match self.store.insert_user(&user, &[], &event, &basis).await {
                    Err(InsertUserError::Conflict) => Outcome::Conflict,
                    Err(InsertUserError::UsernameTaken) => Outcome::UsernameTaken,
                    Err(InsertUserError::Store(e)) => Outcome::StoreFailed(e.to_string()),
                    Ok(()) => stored(),
                }
            }
            ActorWrite::UpdateUser { target } => {
                let current = match self.store.find_user(&self.users[*target]).await {
                    Ok(Some(current)) => current,
                    other => return Err(fail(format!("user {target} is not found: {other:?}"))),
                };
                // A change that matters, at the target's current version;
                // an archived user is written as it is, so that no name
                // can clash.
                let (state, kind) = match &current.state {
                    LifecycleState::Active => {
                        (LifecycleState::Inactive, AuditKind::UserDeactivated)
                    }
                    LifecycleState::Inactive => (LifecycleState::Active, AuditKind::UserActivated),
                    archived => (archived.clone(), AuditKind::UserArchived),
                };
                let event = event(kind, &current.org_id, &current.id, None);
                let changed = User { state, ..current };
                match self.store.update_user(&changed, &event, &basis).await {
                    Err(UpdateUserError::Conflict) => Outcome::Conflict,
                    Err(UpdateUserError::Store(e)) => Outcome::StoreFailed(e.to_string()),
                    Ok(()) => stored(),
                }
            }
            ActorWrite::InsertPermission => {
                let id = PermissionId::from_random(&ports::random_array(&self.random));
                let event =
                    event(AuditKind::PermissionCreated, org, &basis.actor, Some(id.clone()));
                let permission = Permission {
                    id,
                    org_id: org.clone(),
                    name: PermissionName::parse(&fresh).expect("a valid permission name"),
                    operations: vec![Operation::ReadUser],
                    is_immutable: false,
                    is_archived: false,
                    created_at: at,
                    updated_at: at,
                    version: 0,
                };
                match self.store.insert_permission(&permission, &event, &basis).await {
                    Err(InsertPermissionError::Conflict) => Outcome::Conflict,
                    Err(InsertPermissionError::NameTaken) => Outcome::PermissionNameTaken,
                    Err(InsertPermissionError::Store(e)) => Outcome::StoreFailed(e.to_string()),
                    Ok(()) => stored(),
                }
            }
            ActorWrite::UpdatePermission { permission } => {
                let id = &self.permissions[*permission];
                let current = match self.store.find_permission(id).await {
                    Ok(Some(current)) => current,
                    other => {
                        return Err(fail(format!("permission {permission} is gone: {other:?}")));
                    }
                };
                let kind = AuditKind::PermissionUpdated;
                let event = event(kind, &current.org_id, &basis.actor, Some(id.clone()));
                // Operations no role has, so that the holders' rights change.
                let operations = vec![Operation::ReadUser, Operation::CreatePermission];
                let changed = Permission { operations, updated_at: at, ..current };
                match self.store.update_permission(&changed, &event, &basis).await {
                    Err(UpdatePermissionError::Conflict) => Outcome::Conflict,
                    Err(UpdatePermissionError::NameTaken) => Outcome::PermissionNameTaken,
                    Err(UpdatePermissionError::Store(e)) => Outcome::StoreFailed(e.to_string()),
                    Ok(()) => stored(),
                }
            }
        })
    }

    /// A new `Fido2` credential of `user` with this `credId`, made now.
    fn new_passkey(&self, user: &User, cred_id: &str, count: u32) -> Credential {
        let uuid = CredentialUuid::from_random(&ports::random_array(&self.random));
        Credential {
            cred_id: CredId::parse(cred_id).expect("the kit's credential ids are valid"),
            user_id: user.id.clone(),
            org_id: user.org_id.clone(),
            kind: CredentialKind::Fido2,
            name: format!("{cred_id} of {}", user.username),
            // A COSE key of the uuid's bytes: each credential has its own.
            public_key_pem: cose_marker_pem(uuid.as_str().as_bytes()),
            sign_count: count,
            relying_party_id: Some(RELYING_PARTY.to_owned()),
            origin: Some(ORIGIN.to_owned()),
            is_active: true,
            created_at: self.clock_now(),
            uuid,
        }
    }

    /// Registers passkey `passkey` to user `user`, as the registration use
    /// case would once the ceremony checked out: the domain decides for the
    /// user as the caller, then the store adds the credential.
    async fn register(
        &self,
        user: usize,
        passkey: usize,
        count: u32,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, TestCaseError> {
        let stored = match self.store.find_user(&self.users[user]).await {
            Ok(Some(stored)) => stored,
            other => return Err(fail(format!("user {user} is not found: {other:?}"))),
        };
        let Some(caller) = Caller::from_token_subject(stored.clone(), &stored.org_id) else {
            return Ok(Outcome::Unauthenticated);
        };
        let credential = self.new_passkey(&stored, &passkey_cred_id(passkey), count);
        let (registered, event) =
            domain::register_credential(&caller, &credential, self.clock_now())
                .map_err(|e| fail(format!("the kit's registration is refused: {e}")))?;
        Ok(match self.store.add_credential(&registered, &credential, &event).await {
            Ok(()) => {
                let registered = User { version: registered.version + 1, ..registered };
                let credential = Box::new(credential);
                effects.push(Effect::Registered { user, registered, credential });
                Outcome::Done
            }
            Err(AddCredentialError::CredIdTaken) => Outcome::CredIdTaken,
            Err(AddCredentialError::Conflict) => Outcome::Conflict,
            Err(AddCredentialError::Store(e)) => Outcome::StoreFailed(e.to_string()),
        })
    }

    /// Raises the counter of user `user`'s credential `credential` as `to`
    /// says, from the counter the last full read showed.
    async fn count(
        &self,
        user: usize,
        credential: usize,
        to: CountTo,
    ) -> Result<Outcome, TestCaseError> {
        let shown = self
            .current
            .as_ref()
            .and_then(|read| read.credentials.get(user)?.get(credential))
            .ok_or_else(|| fail(format!("user {user} has no credential {credential}")))?;
        Ok(match self.store.advance_sign_count(&shown.uuid, to.from(shown.sign_count)).await {
            Ok(true) => Outcome::Done,
            Ok(false) => Outcome::CountNotRaised,
            Err(e) => Outcome::StoreFailed(e.to_string()),
        })
    }

    fn clock_now(&self) -> Timestamp {
        use ports::Clock;
        self.clock.now()
    }

    /// Presents nonce `nonce` as a request's `X-DFNS-NONCE` header.
    async fn nonce(&self, nonce: usize, stale: bool) -> Outcome {
        let now = self.clock_now();
        let date = if stale { now.plus(Duration::from_seconds(-10 * 60)) } else { now };
        let nanos = i128::from(date.unix_millis()) * 1_000_000;
        let date = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok();
        let Some(date) = date.and_then(|date| date.format(&Rfc3339).ok()) else {
            return Outcome::Unexpected(format!("cannot write {date:?} in RFC 3339"));
        };
        let json = format!(r#"{{"uuid":"{}-{nonce}","date":"{date}"}}"#, self.nonce_prefix);
        let header = URL_SAFE_NO_PAD.encode(json);
        match self.service.check_nonce(Some(&header), false).await {
            Ok(()) => Outcome::Unchanged,
            Err(app::NonceError::Refused(domain::NonceError::MissingOrInvalid)) => {
                Outcome::NonceInvalid
            }
            Err(app::NonceError::Refused(domain::NonceError::AlreadyUsed)) => Outcome::NonceUsed,
            Err(app::NonceError::Store(e)) => Outcome::StoreFailed(e.to_string()),
        }
    }

    /// Issues a challenge to user `user` and answers it twice: first as
    /// `first` says, then well.
    async fn challenge(
        &self,
        model: &Model,
        user: usize,
        kind: ChallengeKind,
        first: &FirstAnswer,
    ) -> Result<Vec<Outcome>, TestCaseError> {
        // Whoever the model expects to answer signs the good answers.
        let subject = model.challenge_subject(user, kind).unwrap_or(user);
        let (issued, caller) = match kind {
            ChallengeKind::Login => {
                let name = variant(model.users[user].name, self.steps);
                let org = &self.orgs[model.users[user].org];
                match self.service.login_init(name, org.as_str()).await {
                    Ok(issued) => (issued, None),
                    Err(app::LoginInitError::UserNotFound) => {
                        return Ok(vec![Outcome::UserNotFound]);
                    }
                    Err(app::LoginInitError::Store(e)) => {
                        return Ok(vec![Outcome::StoreFailed(e.to_string())]);
                    }
                }
            }
            ChallengeKind::UserAction => {
                let Some(caller) = self.authenticate(user).await? else {
                    return Ok(vec![Outcome::Unauthenticated]);
                };
                let request = UserActionRequest {
                    method: HttpMethod::Delete,
                    path: format!("/auth/users/{}", self.users[user]),
                    payload: String::new(),
                };
                match self.service.action_init(&caller, request).await {
                    Ok(issued) => (issued, Some(caller)),
                    Err(app::ActionInitError::Store(e)) => {
                        return Ok(vec![Outcome::StoreFailed(e.to_string())]);
                    }
                }
            }
        };
        let allowed: Vec<&CredId> = issued.allowed_credentials.iter().map(|c| &c.cred_id).collect();
        let held: Vec<&CredId> = self.credentials[subject].iter().map(|c| &c.cred_id).collect();
        if allowed != held {
            return Err(fail(format!(
                "the challenge of user {subject} allows {allowed:?}, not its credentials {held:?}"
            )));
        }

        let challenge = &issued.challenge;
        let good = self.assertion(subject, challenge, VALID_SIGNATURE);
        let first = match first {
            FirstAnswer::Good => good.clone(),
            FirstAnswer::BadSignature => self.assertion(subject, challenge, b"forged"),
            FirstAnswer::OtherCredential(other) => {
                self.assertion(*other, challenge, VALID_SIGNATURE)
            }
        };
        let mut outcomes = Vec::new();
        for assertion in [first, good] {
            outcomes.push(match &caller {
                None => match self.service.login(challenge.id.as_str(), &assertion).await {
                    Ok(_) => Outcome::Unchanged,
                    Err(app::LoginError::Challenge(_)) => Outcome::ChallengeNotValid,
                    Err(app::LoginError::InvalidSignature) => Outcome::InvalidSignature,
                    Err(app::LoginError::UserNotFound) => Outcome::UserNotFound,
                    Err(app::LoginError::Store(e)) => Outcome::StoreFailed(e.to_string()),
                    Err(e) => Outcome::Unexpected(format!("{e:?}")),
                },
                Some(caller) => {
                    match self.service.action(caller, challenge.id.as_str(), &assertion).await {
                        Ok(_) => Outcome::Unchanged,
                        Err(app::ActionError::Challenge(_)) => Outcome::ChallengeNotValid,
                        Err(app::ActionError::InvalidSignature) => Outcome::InvalidSignature,
                        Err(app::ActionError::Store(e)) => Outcome::StoreFailed(e.to_string()),
                        Err(e) => Outcome::Unexpected(format!("{e:?}")),
                    }
                }
            });
        }
        Ok(outcomes)
    }

    /// Reads the orgs in full through the ports.
    async fn read(&self) -> Result<Snapshot, TestCaseError> {
        let store = &self.store;
        let mut users = Vec::new();
        for (index, id) in self.users.iter().enumerate() {
            match store.find_user(id).await {
                Ok(Some(user)) => users.push(normalized(user)),
                other => return Err(fail(format!("user {index} ({id}) is not found: {other:?}"))),
            }
        }
        let by_id: BTreeMap<&UserId, &User> = users.iter().map(|u| (&u.id, u)).collect();

        let mut snapshot = Snapshot {
            users: Vec::new(),
            listed: Vec::new(),
            events: Vec::new(),
            assigners: Vec::new(),
            permissions: Vec::new(),
            assignments: Vec::new(),
            credentials: Vec::new(),
        };
        for id in &self.users {
            snapshot.credentials.push(self.list_credentials(id).await?);
        }
        for org in &self.orgs {
            snapshot.listed.push(self.walk(org, &by_id).await?);
            let events = store.events(org).await.map_err(|e| fail(format!("events: {e}")))?;
            snapshot.events.push(events);
            let mut assigners =
                store.assigners(org).await.map_err(|e| fail(format!("assigners: {e}")))?;
            assigners.assigners.sort();
            snapshot.assigners.push(assigners);
        }
        for (index, id) in self.permissions.iter().enumerate() {
            match store.find_permission(id).await {
                Ok(Some(permission)) => snapshot.permissions.push(sorted(permission)),
                other => {
                    return Err(fail(format!("permission {index} is not found: {other:?}")));
                }
            }
            let mut assignments = store
                .list_assignments(id)
                .await
                .map_err(|e| fail(format!("list_assignments: {e}")))?;
            assignments.sort_by(|a, b| a.id.cmp(&b.id));
            snapshot.assignments.push(assignments);
        }
        snapshot.users = users;
        Ok(snapshot)
    }

    /// Walks `org`'s users page by page, checking the paging rules, and
    /// answers the ids seen.
    async fn walk(
        &self,
        org: &OrgId,
        found: &BTreeMap<&UserId, &User>,
    ) -> Result<Vec<UserId>, TestCaseError> {
        // Small pages of changing sizes, so that walks cross page ends.
        let limit = 1 + self.steps % 3;
        let mut seen: Vec<UserId> = Vec::new();
        let mut after = None;
        for _ in 0..=self.users.len() + 1 {
            let page = self
                .store
                .list_users(org, None, after.clone(), limit)
                .await
                .map_err(|e| fail(format!("list_users: {e}")))?;
            if page.users.len() > limit {
                return Err(fail(format!("a page of {limit} has {} users", page.users.len())));
            }
            if after.is_some() && page.users.is_empty() {
                return Err(fail("a page said more users follow, and none did"));
            }
            for user in page.users {
                if seen.last().is_some_and(|last| *last >= user.id) {
                    return Err(fail(format!(
                        "list_users is not in ascending id order at {}",
                        user.id
                    )));
                }
                let Some(known) = found.get(&user.id) else {
                    return Err(fail(format!("list_users answers unknown user {}", user.id)));
                };
                if &user.org_id != org || user.is_archived() {
                    return Err(fail(format!("list_users of {org} answers {:?}", user)));
                }
                prop_assert_eq!(
                    &normalized(user.clone()),
                    *known,
                    "a listed user differs from its read"
                );
                seen.push(user.id);
            }
            if !page.has_more {
                return Ok(seen);
            }
            after = seen.last().cloned();
        }
        Err(fail("list_users pages never end"))
    }

    async fn check(&mut self, model: &Model) -> Result<(), TestCaseError> {
        prop_assert_eq!(&self.last, &model.last, "the outcomes differ from the model's");
        let now = self.read().await?;

        if let Some(before) = &self.current {
            if !model.changed() {
                unchanged(before, &now)?;
            }
            for (index, old) in before.users.iter().enumerate() {
                let new = &now.users[index];
                if old.is_archived() {
                    prop_assert_eq!(new, old, "archived user {} changed", index);
                }
                if new.version < old.version {
                    return Err(fail(format!("user {index}'s version went back")));
                }
            }
            for org in 0..ORGS {
                let (old, new) = (&before.events[org], &now.events[org]);
                if new.len() < old.len() || new[..old.len()] != old[..] {
                    return Err(fail(format!("the audit log of org {org} was rewritten")));
                }
            }
        }

        for (index, user) in now.users.iter().enumerate() {
            self.agrees(model, index, user).map_err(fail)?;
            if user.is_archived() && !user.assignments.is_empty() {
                return Err(fail(format!("archived user {index} holds assignments")));
            }
        }
        self.check_orgs(model, &now).await?;
        self.check_permissions(model, &now)?;
        self.check_credentials(model, &now).await?;
        self.current = Some(now);
        Ok(())
    }

    async fn check_orgs(&self, model: &Model, now: &Snapshot) -> Result<(), TestCaseError> {
        for (org, org_id) in self.orgs.iter().enumerate() {
            let live: Vec<usize> = (0..model.users.len())
                .filter(|&u| model.users[u].org == org && model.users[u].life != Life::Archived)
                .collect();
            let mut expected: Vec<UserId> = live.iter().map(|&u| self.users[u].clone()).collect();
            expected.sort();
            prop_assert_eq!(&now.listed[org], &expected, "list_users of org {} differs", org);

            let mut names = BTreeSet::new();
            for &u in &live {
                if !names.insert(now.users[u].username.key()) {
                    return Err(fail(format!("two live users of org {org} share a user name")));
                }
            }

            // Listing by kind, one kind a step.
            let kind =
                if self.steps % 2 == 0 { UserKind::CustomerEmployee } else { UserKind::EndUser };
            let page = self
                .store
                .list_users(org_id, Some(kind), None, app::MAX_PAGE_SIZE)
                .await
                .map_err(|e| fail(format!("list_users by kind: {e}")))?;
            let listed: Vec<UserId> = page.users.into_iter().map(|u| u.id).collect();
            let mut expected: Vec<UserId> = live
                .iter()
                .filter(|&&u| model.users[u].kind == kind)
                .map(|&u| self.users[u].clone())
                .collect();
            expected.sort();
            prop_assert_eq!(listed, expected, "list_users of org {} by kind {} differs", org, kind);

            // Two name classes a step, each spelled one way, so that a few
            // steps try every spelling: only a live user holds a name, and
            // every spelling finds it.
            for class in [2 * self.steps, 2 * self.steps + 1].map(|c| c % NAME_CLASSES) {
                let name = variant(first_of_class(class), self.steps);
                let username = Username::parse(name).expect("the names are valid");
                let found = self
                    .store
                    .find_user_by_username(org_id, &username)
                    .await
                    .map_err(|e| fail(format!("find_user_by_username: {e}")))?
                    .map(|u| u.id);
                let holder = live
                    .iter()
                    .find(|&&u| NAMES[model.users[u].name].1 == class)
                    .map(|&u| self.users[u].clone());
                prop_assert_eq!(found, holder, "org {} finds {:?} as someone else", org, name);
            }

            let expected: Vec<ModelEventView> = model.events[org]
                .iter()
                .map(|e| ModelEventView {
                    kind: e.kind,
                    user: self.users[e.user].clone(),
                    actor: self.users[e.actor].clone(),
                    permission: e.permission.map(|p| self.permissions[p].clone()),
                })
                .collect();
            let logged: Vec<ModelEventView> = now.events[org]
                .iter()
                .map(|e| ModelEventView {
                    kind: e.kind,
                    user: e.user_id.clone(),
                    actor: e.actor.clone(),
                    permission: e.permission_id.clone(),
                })
                .collect();
            prop_assert_eq!(logged, expected, "the audit log of org {} differs", org);
            if now.events[org].iter().any(|e| &e.org_id != org_id) {
                return Err(fail(format!("the audit log of org {org} holds another org's event")));
            }

            let mut assigners: Vec<UserId> =
                model.assigners(org).into_iter().map(|u| self.users[u].clone()).collect();
            assigners.sort();
            prop_assert_eq!(&now.assigners[org].assigners, &assigners, "assigners of org {}", org);
            prop_assert_eq!(&now.assigners[org].guard.org_id, org_id, "the guard of org {}", org);
            if assigners.is_empty() {
                return Err(fail(format!("org {org} lost its last user who can assign")));
            }
        }
        Ok(())
    }

    /// Every user's credentials are those it was created with or
    /// registered, oldest first, each with the model's counter, and a
    /// `credId` finds the user's own credential only.
    async fn check_credentials(&self, model: &Model, now: &Snapshot) -> Result<(), TestCaseError> {
        // One passkey a step, so that a few steps look up every one.
        let passkey = self.steps % PASSKEYS;
        for (index, listed) in now.credentials.iter().enumerate() {
            let known = &model.users[index].credentials;
            if known.len() != self.credentials[index].len() {
                return Err(fail(format!("the kit lost track of user {index}'s credentials")));
            }
            let expected: Vec<Credential> = self.credentials[index]
                .iter()
                .zip(known)
                .map(|(stored, model)| Credential {
                    sign_count: model.sign_count,
                    ..stored.clone()
                })
                .collect();
            prop_assert_eq!(listed, &expected, "the credentials of user {} differ", index);

            let cred_id = CredId::parse(&passkey_cred_id(passkey)).expect("a valid credential id");
            let found = self
                .store
                .find_credential(&self.users[index], &cred_id)
                .await
                .map_err(|e| fail(format!("find_credential: {e}")))?;
            let held = known.iter().position(|c| c.passkey == Some(passkey));
            prop_assert_eq!(
                found.as_ref(),
                held.map(|i| &expected[i]),
                "user {} finds {} as another credential",
                index,
                cred_id
            );
        }
        Ok(())
    }

    fn check_permissions(&self, model: &Model, now: &Snapshot) -> Result<(), TestCaseError> {
        for (index, permission) in now.permissions.iter().enumerate() {
            let known = &model.permissions[index];
            let mut operations = known.grants.operations().to_vec();
            operations.sort();
            let org = &self.orgs[permission_org(index)];
            let as_expected = permission.id == self.permissions[index]
                && &permission.org_id == org
                && permission.name.as_str() == known.name
                && permission.operations == operations
                && permission.is_archived == known.archived
                && permission.is_immutable == (permission_role(index) == Role::OrgAdmin)
                && permission.version == known.version;
            if !as_expected {
                return Err(fail(format!(
                    "permission {index} reads {permission:?}, model {known:?}"
                )));
            }

            let mut expected: Vec<(AssignmentId, UserId)> = (0..model.assignments.len())
                .filter(|&a| model.assignments[a].live && model.assignments[a].permission == index)
                .map(|a| {
                    (self.assignments[a].clone(), self.users[model.assignments[a].user].clone())
                })
                .collect();
            expected.sort();
            let listed: Vec<(AssignmentId, UserId)> =
                now.assignments[index].iter().map(|a| (a.id.clone(), a.user_id.clone())).collect();
            prop_assert_eq!(listed, expected, "the assignments of permission {} differ", index);
            for assignment in &now.assignments[index] {
                let live = assignment.ended_at.is_none()
                    && assignment.permission_id == self.permissions[index]
                    && &assignment.org_id == org;
                if !live {
                    return Err(fail(format!("a live assignment reads {assignment:?}")));
                }
            }
        }
        Ok(())
    }

    /// Whether `user`, as read, is user `index` as the model knows it.
    fn agrees(&self, model: &Model, index: usize, user: &User) -> Result<(), String> {
        let expected = &model.users[index];
        let name = Username::parse(NAMES[expected.name].0).expect("the names are valid");
        let life = match user.state {
            LifecycleState::Active => Life::Active,
            LifecycleState::Inactive => Life::Inactive,
            LifecycleState::Archived { .. } => Life::Archived,
        };
        let mut held: Vec<(AssignmentId, PermissionId, String, Vec<domain::Operation>)> = user
            .assignments
            .iter()
            .map(|a| {
                let mut operations = a.operations.clone();
                operations.sort();
                (
                    a.assignment_id.clone(),
                    a.permission_id.clone(),
                    a.permission_name.clone(),
                    operations,
                )
            })
            .collect();
        held.sort();
        let mut should_hold: Vec<(AssignmentId, PermissionId, String, Vec<domain::Operation>)> =
            model
                .assignments_of(index)
                .map(|a| {
                    let permission = model.assignments[a].permission;
                    let known = &model.permissions[permission];
                    let mut operations = known.grants.operations().to_vec();
                    operations.sort();
                    (
                        self.assignments[a].clone(),
                        self.permissions[permission].clone(),
                        known.name.to_owned(),
                        operations,
                    )
                })
                .collect();
        should_hold.sort();

        let differences = [
            (user.id != self.users[index], "id"),
            (user.org_id != self.orgs[expected.org], "org"),
            (user.username != name, "user name"),
            (user.kind != expected.kind, "kind"),
            (life != expected.life, "lifecycle state"),
            (user.version != expected.version, "version"),
            (user.is_registered == expected.credentials.is_empty(), "registration"),
            (
                user.credential_uuid.as_ref() != self.credentials[index].first().map(|c| &c.uuid),
                "primary credential",
            ),
            (held != should_hold, "assignments"),
        ];
        let wrong: Vec<&str> =
            differences.iter().filter(|(differs, _)| *differs).map(|(_, what)| *what).collect();
        if wrong.is_empty() {
            return Ok(());
        }
        Err(format!(
            "user {index} differs from the model in {}: read {user:?}, model {expected:?}, \
             assignments {should_hold:?}",
            wrong.join(", ")
        ))
    }
}

/// An audit event as the model can tell it.
#[derive(Debug, PartialEq, Eq)]
struct ModelEventView {
    kind: AuditKind,
    user: UserId,
    actor: UserId,
    permission: Option<PermissionId>,
}

/// Fails unless nothing changed between two reads, naming what did.
fn unchanged(before: &Snapshot, now: &Snapshot) -> Result<(), TestCaseError> {
    let parts = [
        (before.users != now.users, "users"),
        (before.listed != now.listed, "listed users"),
        (before.events != now.events, "audit log"),
        (before.assigners != now.assigners, "assigners or guard version"),
        (before.permissions != now.permissions, "permissions"),
        (before.assignments != now.assignments, "assignments"),
        (before.credentials != now.credentials, "credentials"),
    ];
    let changed: Vec<&str> = parts.iter().filter(|(c, _)| *c).map(|(_, what)| *what).collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(fail(format!(
        "a step that changed nothing changed the store's {}: before {before:?}, after {now:?}",
        changed.join(", ")
    )))
}

/// `user` with its assignments and their operations in a fixed order,
/// which the ports leave open.
fn normalized(mut user: User) -> User {
    user.assignments.sort_by(|a, b| a.assignment_id.cmp(&b.assignment_id));
    for assignment in &mut user.assignments {
        assignment.operations.sort();
    }
    user
}

/// The first name of `class` in [`NAMES`].
fn first_of_class(class: usize) -> usize {
    NAMES.iter().position(|(_, c)| *c == class).expect("every class has a name")
}

/// A spelling of `NAMES[name]`'s class, chosen by `turn`: every spelling
/// must find the same user.
fn variant(name: usize, turn: usize) -> &'static str {
    let class = NAMES[name].1;
    let spellings: Vec<&str> = NAMES.iter().filter(|(_, c)| *c == class).map(|(n, _)| *n).collect();
    spellings[turn % spellings.len()]
}

/// A permission with its operations in a fixed order, which the ports
/// leave open.
fn sorted(mut permission: Permission) -> Permission {
    permission.operations.sort();
    permission
}

fn permission_change(refused: domain::PermissionChangeError) -> Outcome {
    match refused {
        domain::PermissionChangeError::NotFound => Outcome::PermissionNotFound,
        domain::PermissionChangeError::Immutable => Outcome::PermissionImmutable,
        domain::PermissionChangeError::Archived => Outcome::PermissionArchived,
    }
}

fn access(error: app::AccessError) -> Outcome {
    match error {
        app::AccessError::Unauthenticated => Outcome::Unauthenticated,
        app::AccessError::NotAuthorized(_) => Outcome::NotAuthorized,
        app::AccessError::UserAction(domain::UserActionError::MissingOrInvalid) => {
            Outcome::UserActionInvalid
        }
        app::AccessError::UserAction(domain::UserActionError::AlreadyUsed) => {
            Outcome::UserActionUsed
        }
        app::AccessError::Store(e) => Outcome::StoreFailed(e.to_string()),
    }
}
