//! Challenges and their answers: login, and user-action signing.
//!
//! Both flows issue a challenge, then take a signed answer. The answer's
//! challenge is spent by the attempt, whether it succeeds or not; then the
//! credential, the client data and the signature are checked, in that
//! order, before anything is written. A `Fido2` answer also carries
//! authenticator data, checked against the relying party before the
//! signature, and its counter is raised after it.

use domain::{
    AuthenticatorData, Caller, Challenge, ChallengeError, ChallengeId, ChallengePurpose,
    ClientData, ClientDataError, ClientDataKind, CredId, Credential, CredentialKind, OrgId,
    UserActionGrant, UserActionRequest, UserActionToken, UserId, Username, WebAuthnError,
};
use ports::{
    AuthClaims, AuthTokens, Clock, OneTimeStore, SignatureVerifier, StoreError, UserRepository,
};

use crate::{LOGIN_TOKEN_LIFETIME, Ports, Service};

/// A challenge as handed to the client, with the credentials that may
/// answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedChallenge {
    /// The challenge.
    pub challenge: Challenge,
    /// The user's active credentials.
    pub allowed_credentials: Vec<AllowedCredential>,
}

/// A credential that may answer a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedCredential {
    /// Its kind, which tells the client how to sign.
    pub kind: CredentialKind,
    /// The id the client names it by.
    pub cred_id: CredId,
}

/// A credential's answer to a challenge, decoded from base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The credential's public id, as sent.
    pub cred_id: String,
    /// The client data bytes that were signed.
    pub client_data: Vec<u8>,
    /// The signature: over `client_data` for a `Key` credential, over the
    /// authenticator data and the hash of `client_data` for `Fido2`.
    pub signature: Vec<u8>,
    /// The authenticator data of a `Fido2` assertion; `None` for `Key`.
    pub authenticator_data: Option<Vec<u8>>,
}

/// Occurs when a login cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LoginInitError {
    /// Occurs when the user is unknown, inactive or archived, or the org id
    /// or user name is malformed: one answer for all, so that nobody can
    /// probe which users exist.
    #[error("user not found")]
    UserNotFound,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a signed login is refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Occurs when the challenge is unknown, expired, reused or foreign.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// Occurs when the user became inactive or was archived meanwhile.
    #[error("user not found")]
    UserNotFound,
    /// Occurs when the client data is not JSON with `type` and `challenge`.
    #[error(transparent)]
    MalformedClientData(ClientDataError),
    /// Occurs when a `Fido2` assertion's authenticator data does not
    /// parse, or breaks a rule of the relying party.
    #[error(transparent)]
    WebAuthn(WebAuthnError),
    /// Occurs when the credential, the client data or the signature does
    /// not prove the user answered this challenge.
    #[error("invalid signature")]
    InvalidSignature,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a user-action challenge cannot be issued.
#[derive(Debug, thiserror::Error)]
pub enum ActionInitError {
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a signed user action is refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Occurs when the challenge is unknown, expired, reused, or was issued
    /// to another caller or for a login.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// Occurs when the client data is not JSON with `type` and `challenge`.
    #[error(transparent)]
    MalformedClientData(ClientDataError),
    /// Occurs when a `Fido2` assertion's authenticator data does not
    /// parse, or breaks a rule of the relying party.
    #[error(transparent)]
    WebAuthn(WebAuthnError),
    /// Occurs when the credential, the client data or the signature does
    /// not prove the caller answered this challenge.
    #[error("invalid signature")]
    InvalidSignature,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an assertion failed, before it is told as a login or action error.
enum AssertionFailure {
    Malformed(ClientDataError),
    WebAuthn(WebAuthnError),
    Invalid,
    Store(StoreError),
}

impl From<StoreError> for AssertionFailure {
    fn from(error: StoreError) -> AssertionFailure {
        AssertionFailure::Store(error)
    }
}

impl From<WebAuthnError> for AssertionFailure {
    fn from(error: WebAuthnError) -> AssertionFailure {
        AssertionFailure::WebAuthn(error)
    }
}

impl From<AssertionFailure> for LoginError {
    fn from(failure: AssertionFailure) -> LoginError {
        match failure {
            AssertionFailure::Malformed(e) => LoginError::MalformedClientData(e),
            AssertionFailure::WebAuthn(e) => LoginError::WebAuthn(e),
            AssertionFailure::Invalid => LoginError::InvalidSignature,
            AssertionFailure::Store(e) => LoginError::Store(e),
        }
    }
}

impl From<AssertionFailure> for ActionError {
    fn from(failure: AssertionFailure) -> ActionError {
        match failure {
            AssertionFailure::Malformed(e) => ActionError::MalformedClientData(e),
            AssertionFailure::WebAuthn(e) => ActionError::WebAuthn(e),
            AssertionFailure::Invalid => ActionError::InvalidSignature,
            AssertionFailure::Store(e) => ActionError::Store(e),
        }
    }
}

impl<P: Ports> Service<P> {
    /// Issues a login challenge for the user `username` of `org_id`.
    #[tracing::instrument(name = "login_init", skip_all, fields(org_id = %org_id))]
    pub async fn login_init(
        &self,
        username: &str,
        org_id: &str,
    ) -> Result<IssuedChallenge, LoginInitError> {
        // A lookup, not a new name: a user stored under older rules for
        // names can still log in.
        let (Ok(org_id), Ok(username)) = (OrgId::parse(org_id), Username::existing(username))
        else {
            return Err(LoginInitError::UserNotFound);
        };
        let user = self.users.find_user_by_username(&org_id, &username).await?;
        let Some(user) = user.filter(|u| u.is_active()) else {
            return Err(LoginInitError::UserNotFound);
        };
        let purpose = ChallengePurpose::Login { org_id, user_id: user.id.clone() };
        self.store_challenge(purpose, &user.id).await.map_err(Into::into)
    }

    /// Checks a signed login challenge and issues a login token.
    #[tracing::instrument(name = "login", skip_all)]
    pub async fn login(
        &self,
        challenge_id: &str,
        assertion: &Assertion,
    ) -> Result<String, LoginError> {
        let challenge = self.take_challenge::<LoginError>(challenge_id, None).await?;
        let user = self.users.find_user(challenge.purpose.user_id()).await?;
        let Some(user) = user.filter(|u| u.is_active() && &u.org_id == challenge.purpose.org_id())
        else {
            return Err(LoginError::UserNotFound);
        };
        self.verify_assertion(&challenge, &user.id, assertion).await?;

        let now = self.clock.now();
        let claims = AuthClaims {
            user_id: user.id.clone(),
            org_id: user.org_id.clone(),
            token_id: self.random_token(),
            issued_at: now,
            expires_at: now.plus(LOGIN_TOKEN_LIFETIME),
        };
        tracing::info!(user_id = %user.id, "user logged in");
        Ok(self.tokens.issue(&claims).await?)
    }

    /// Issues a challenge that signs `request` on behalf of `caller`.
    #[tracing::instrument(name = "action_init", skip_all, fields(caller = %caller.id()))]
    pub async fn action_init(
        &self,
        caller: &Caller,
        request: UserActionRequest,
    ) -> Result<IssuedChallenge, ActionInitError> {
        let purpose = ChallengePurpose::UserAction {
            org_id: caller.org_id().clone(),
            user_id: caller.id().clone(),
            request,
        };
        Ok(self.store_challenge(purpose, caller.id()).await?)
    }

    /// Checks a signed user-action challenge and issues the one-time token
    /// that authorises the request it was issued for.
    #[tracing::instrument(name = "action", skip_all, fields(caller = %caller.id()))]
    pub async fn action(
        &self,
        caller: &Caller,
        challenge_id: &str,
        assertion: &Assertion,
    ) -> Result<UserActionToken, ActionError> {
        let challenge = self.take_challenge::<ActionError>(challenge_id, Some(caller.id())).await?;
        let credential = self.verify_assertion(&challenge, caller.id(), assertion).await?;
        let ChallengePurpose::UserAction { request, .. } = challenge.purpose else {
            return Err(ChallengeError::NotValid.into());
        };

        let grant = UserActionGrant {
            token: UserActionToken::from_random(&ports::random_array(&self.random)),
            org_id: caller.org_id().clone(),
            user_id: caller.id().clone(),
            credential_uuid: credential.uuid,
            request,
            issued_at: self.clock.now(),
            used_at: None,
        };
        self.one_time.insert_user_action(&grant).await?;
        Ok(grant.token)
    }

    async fn store_challenge(
        &self,
        purpose: ChallengePurpose,
        user: &UserId,
    ) -> Result<IssuedChallenge, StoreError> {
        let credentials = self.users.list_credentials(user).await?;
        let challenge = self.issue_challenge(purpose);
        self.one_time.insert_challenge(&challenge).await?;
        let allowed_credentials = credentials
            .into_iter()
            .map(|c| AllowedCredential { kind: c.kind, cred_id: c.cred_id })
            .collect();
        Ok(IssuedChallenge { challenge, allowed_credentials })
    }

    /// Takes the challenge out of the store, so that this attempt is its
    /// only one, then checks it may be answered now by `presenter`. An
    /// identifier no challenge could have is not looked up at all.
    pub(crate) async fn take_challenge<E>(
        &self,
        challenge_id: &str,
        presenter: Option<&UserId>,
    ) -> Result<Challenge, E>
    where
        E: From<ChallengeError> + From<StoreError>,
    {
        let challenge = self
            .one_time
            .take_challenge(&ChallengeId::parse(challenge_id)?)
            .await?
            .ok_or(ChallengeError::NotValid)?;
        challenge.check(self.clock.now(), presenter)?;
        Ok(challenge)
    }

    /// Checks that `assertion` answers `challenge` with an active credential
    /// of `user`, and returns that credential.
    async fn verify_assertion(
        &self,
        challenge: &Challenge,
        user: &UserId,
        assertion: &Assertion,
    ) -> Result<Credential, AssertionFailure> {
        let cred_id = CredId::parse(&assertion.cred_id).ok_or(AssertionFailure::Invalid)?;
        let credential = self
            .users
            .find_credential(user, &cred_id)
            .await?
            .filter(|c| c.is_active)
            .ok_or(AssertionFailure::Invalid)?;
        let client_data =
            ClientData::parse(&assertion.client_data).map_err(AssertionFailure::Malformed)?;

        match (credential.kind, &assertion.authenticator_data) {
            (CredentialKind::Key, None) => {
                client_data
                    .answers(ClientDataKind::Key, challenge)
                    .map_err(|_| AssertionFailure::Invalid)?;
                self.verify_signature(&credential, &assertion.client_data, &assertion.signature)
                    .await?;
            }
            (CredentialKind::Fido2, Some(authenticator_data)) => {
                client_data
                    .answers(ClientDataKind::WebAuthn, challenge)
                    .map_err(|_| AssertionFailure::Invalid)?;
                client_data.check_origin(&self.relying_party)?;
                let data = AuthenticatorData::parse(authenticator_data)?;
                data.check_assertion(&self.relying_party)?;
                let message = domain::signed_message(authenticator_data, &assertion.client_data);
                self.verify_signature(&credential, &message, &assertion.signature).await?;
                // The counter is judged only once the signature held, so
                // that a forged assertion learns nothing of the stored
                // count and cannot push it up; it is raised atomically, so
                // that of two assertions with one count, in any processes,
                // one wins.
                let next_count = domain::next_sign_count(credential.sign_count, data.sign_count)?;
                if let Some(count) = next_count {
                    if !self.users.advance_sign_count(&credential.uuid, count).await? {
                        return Err(WebAuthnError::CounterNotIncreased.into());
                    }
                }
            }
            // An answer of the other kind than the credential's.
            _ => return Err(AssertionFailure::Invalid),
        }
        Ok(credential)
    }

    async fn verify_signature(
        &self,
        credential: &Credential,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AssertionFailure> {
        self.verifier
            .verify(&credential.public_key_pem, message, signature)
            .await
            .map_err(|_| AssertionFailure::Invalid)
    }
}
