//! The use cases of orgusers: login, user-action signing and the user
//! lifecycle, generic over the ports.
//!
//! [`Service`] holds one adapter per port and offers one method per use
//! case. Each method loads what the decision needs, asks `domain` to decide,
//! and stores the outcome; it never names a database, a signature library
//! or HTTP. Every use case has its own error enum, which the HTTP adapter
//! maps to statuses.
//!
//! The order of checks on a protected request is part of the contract:
//! authentication, then the request nonce, then permission, then the user
//! action, then the target, then the lifecycle rule, then the change.

mod access;
mod assertion;
mod credentials;
mod orgs;
mod permissions;
mod users;

use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Challenge, CredId, Duration, RelyingParty};
use ports::{
    AuthTokens, Clock, OneTimeStore, PermissionRepository, Randomness, SignatureVerifier,
    UserRepository,
};

pub use access::{AccessError, AuthenticateError, NonceError, SignedRequest};
pub use assertion::{
    ActionError, ActionInitError, AllowedCredential, Assertion, IssuedChallenge, LoginError,
    LoginInitError,
};
pub use credentials::{
    CreateCredentialError, CreateCredentialRequest, CredentialInitError, IssuedRegistration,
    ListCredentialsError,
};
pub use orgs::{CreateOrgError, CreatedOrg};
pub use permissions::{
    ArchivePermissionError, AssignPermissionError, CreatePermissionError, GetPermissionError,
    ListAssignmentsError, ListPermissionsError, PermissionsPage, RevokeAssignmentError,
    UpdatePermissionError,
};
pub use users::{
    ArchiveUserError, ChangeActiveError, CreateUserError, CreateUserRequest, GetUserError,
    ListUsersError, MAX_PAGE_SIZE, UsersPage,
};

/// How long a login token is accepted after it was issued. Tokens are also
/// checked against the stored user on every request, so deactivating or
/// archiving a user ends its tokens at once, whatever this says.
pub const LOGIN_TOKEN_LIFETIME: Duration = Duration::from_seconds(60 * 60);

/// How often a change that lost a compare-and-set race is decided again
/// before the use case gives up. Every lost race is another change that
/// landed, so only that many changes to the same records at once, or a
/// caller that keeps changing, exhaust it.
const MAX_ATTEMPTS: usize = 256;

/// Occurs when a change lost its compare-and-set race [`MAX_ATTEMPTS`]
/// times: other changes to the same records kept landing first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the records this request changes changed too often meanwhile; nothing was changed, sign \
     the request again and retry"
)]
pub struct Contended;

/// The adapters a [`Service`] runs on: one type for each port.
pub trait Ports: Send + Sync + 'static {
    /// Users, credentials and orgs.
    type Users: UserRepository;
    /// Permissions and their assignments.
    type Permissions: PermissionRepository;
    /// Challenges and user-action grants.
    type OneTime: OneTimeStore;
    /// Signature verification.
    type Verifier: SignatureVerifier;
    /// Login tokens.
    type Tokens: AuthTokens;
    /// The clock.
    type Clock: Clock;
    /// The random number generator.
    type Random: Randomness;
}

/// The use cases, over one adapter for each port.
pub struct Service<P: Ports> {
    users: P::Users,
    permissions: P::Permissions,
    one_time: P::OneTime,
    verifier: P::Verifier,
    tokens: P::Tokens,
    clock: P::Clock,
    random: P::Random,
    relying_party: RelyingParty,
}

/// The relying party id a service accepts `Fido2` credentials for unless
/// told otherwise: pages served from `localhost`, as in development.
pub const DEFAULT_RELYING_PARTY_ID: &str = "localhost";

/// The relying party's name authenticators show unless told otherwise.
pub const DEFAULT_RELYING_PARTY_NAME: &str = "orgusers";

impl<P: Ports> Service<P> {
    /// Wires the use cases to their adapters, accepting `Fido2` credentials
    /// of the relying party [`DEFAULT_RELYING_PARTY_ID`] until
    /// [`Service::with_relying_party`] names another.
    pub fn new(
        users: P::Users,
        permissions: P::Permissions,
        one_time: P::OneTime,
        verifier: P::Verifier,
        tokens: P::Tokens,
        clock: P::Clock,
        random: P::Random,
    ) -> Self {
        let relying_party = RelyingParty::new(DEFAULT_RELYING_PARTY_ID, DEFAULT_RELYING_PARTY_NAME)
            .expect("the default relying party id is a domain name");
        Service { users, permissions, one_time, verifier, tokens, clock, random, relying_party }
    }

    /// The same service, accepting `Fido2` credentials of `relying_party`.
    pub fn with_relying_party(self, relying_party: RelyingParty) -> Self {
        Service { relying_party, ..self }
    }

    /// The relying party whose `Fido2` credentials this service accepts.
    pub fn relying_party(&self) -> &RelyingParty {
        &self.relying_party
    }

    /// The user repository, for adapters that need to read it directly.
    pub fn users(&self) -> &P::Users {
        &self.users
    }

    fn random_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(ports::random_array::<32>(&self.random))
    }

    fn new_cred_id(&self) -> CredId {
        CredId::parse(&self.random_token()).expect("base64url is a valid credential id")
    }

    fn issue_challenge(&self, purpose: domain::ChallengePurpose) -> Challenge {
        let challenge_random = ports::random_array(&self.random);
        let id_random = ports::random_array(&self.random);
        Challenge::issue(purpose, &challenge_random, &id_random, self.clock.now())
    }
}

/// Runs `attempt` until it does not lose a compare-and-set race, at most
/// [`MAX_ATTEMPTS`] times, telling it how many attempts came before. Each
/// attempt reloads and decides again, so the outcome equals some serial
/// order of the competing changes.
async fn retry_on_conflict<F, Fut, O, E>(mut attempt: F) -> Result<O, E>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<Attempt<O>, E>>,
    E: From<Contended>,
{
    for earlier in 0..MAX_ATTEMPTS {
        if let Attempt::Done(outcome) = attempt(earlier).await? {
            return Ok(outcome);
        }
        tracing::debug!("lost a compare-and-set race, deciding again");
    }
    tracing::warn!(attempts = MAX_ATTEMPTS, "gave up after losing every compare-and-set race");
    Err(Contended.into())
}

/// The outcome of one attempt at a compare-and-set change.
enum Attempt<O> {
    Done(O),
    Conflict,
}
