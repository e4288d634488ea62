//! Who is calling, and whether it may do what it asks.

use domain::{
    Caller, Nonce, NotAuthorized, Operation, UserActionError, UserActionRequest, UserActionToken,
};
use ports::{AuthTokens, Basis, Clock, OneTimeStore, OrgGuard, StoreError, UserRepository};

use crate::{Ports, Service};

/// Occurs when a bearer token does not authenticate anyone.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Occurs when the token is missing, malformed, forged or expired, or its
    /// user is now inactive, archived or unknown.
    #[error("authentication token is missing or invalid")]
    Unauthenticated,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when an authenticated caller may not make a request.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Occurs when the caller was deactivated or archived while its
    /// request was being decided.
    #[error("authentication token is missing or invalid")]
    Unauthenticated,
    /// Occurs when the caller holds no permission with the operation.
    #[error(transparent)]
    NotAuthorized(#[from] NotAuthorized),
    /// Occurs when the request's user action does not authorise it.
    #[error(transparent)]
    UserAction(#[from] UserActionError),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a request's nonce (`X-DFNS-NONCE`) is refused.
#[derive(Debug, thiserror::Error)]
pub enum NonceError {
    /// Occurs when the nonce is missing but required, malformed, stale, or
    /// was presented before.
    #[error(transparent)]
    Refused(#[from] domain::NonceError),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A state-changing request as it arrived: what was sent, and the user
/// action token that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The `X-DFNS-USERACTION` header, if any.
    pub user_action: Option<UserActionToken>,
    /// The method, the path as sent on the wire, and the body.
    pub request: UserActionRequest,
}

impl<P: Ports> Service<P> {
    /// The caller behind a bearer token.
    ///
    /// The token's user is loaded on every request: a user deactivated or
    /// archived after login is refused from its very next request.
    #[tracing::instrument(name = "authenticate", skip_all)]
    pub async fn authenticate(&self, bearer: &str) -> Result<Caller, AuthenticateError> {
        let claims = self
            .tokens
            .verify(bearer, self.clock.now())
            .await
            .map_err(|_| AuthenticateError::Unauthenticated)?;
        let user = self.users.find_user(&claims.user_id).await?;
        user.and_then(|user| Caller::from_token_subject(user, &claims.org_id))
            .ok_or(AuthenticateError::Unauthenticated)
    }

    /// Checks a request's nonce, the `X-DFNS-NONCE` header: absent is fine
    /// unless `required`; present, it must parse, be fresh, and never have
    /// been presented before. It is then used up, whatever the request
    /// goes on to do.
    #[tracing::instrument(name = "check_nonce", skip_all)]
    pub async fn check_nonce(
        &self,
        header: Option<&str>,
        required: bool,
    ) -> Result<(), NonceError> {
        let Some(header) = header else {
            return if required {
                Err(domain::NonceError::MissingOrInvalid.into())
            } else {
                Ok(())
            };
        };
        let nonce = Nonce::parse(header)?;
        nonce.check_fresh(self.clock.now())?;

        // Only a fresh nonce is recorded: presented again after
        // `expires_at`, it is refused above as stale, which is what lets
        // the store forget it then.
        if !self.one_time.use_nonce(nonce.uuid(), nonce.expires_at()).await? {
            return Err(domain::NonceError::AlreadyUsed.into());
        }
        Ok(())
    }

    /// The caller an attempt at a change decides for: as authenticated on
    /// the first attempt; read again after a lost race, which may have been
    /// lost to a change of the caller itself, and then still active and
    /// holding `operation`, if one is needed.
    pub(crate) async fn caller_for_attempt(
        &self,
        caller: &Caller,
        earlier_attempts: usize,
        operation: Option<Operation>,
    ) -> Result<Caller, AccessError> {
        if earlier_attempts == 0 {
            return Ok(caller.clone());
        }
        let user = self.users.find_user(caller.id()).await?;
        let fresh = user
            .and_then(|user| Caller::from_token_subject(user, caller.org_id()))
            .ok_or(AccessError::Unauthenticated)?;
        if let Some(operation) = operation {
            fresh.require(operation)?;
        }
        Ok(fresh)
    }

    /// Checks that `caller` holds `operation` and that `signed` carries an
    /// unspent user action bound to exactly this request, then spends it.
    ///
    /// A token is only spent by the request it was signed for: a misbound
    /// attempt leaves it for the rightful one.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        operation: Operation,
        signed: &SignedRequest,
    ) -> Result<(), AccessError> {
        caller.require(operation)?;
        self.spend_user_action(caller, signed).await
    }

    /// Checks that `signed` carries an unspent user action of `caller`
    /// bound to exactly this request, then spends it: the check of a
    /// request every authenticated user may make for itself.
    pub(crate) async fn spend_user_action(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
    ) -> Result<(), AccessError> {
        let token = signed.user_action.as_ref().ok_or(UserActionError::MissingOrInvalid)?;
        let grant = self
            .one_time
            .find_user_action(token)
            .await?
            .ok_or(UserActionError::MissingOrInvalid)?;
        let now = self.clock.now();
        grant.authorizes(now, caller.id(), caller.org_id(), &signed.request)?;
        if !self.one_time.spend_user_action(token, now).await? {
            return Err(UserActionError::AlreadyUsed.into());
        }
        Ok(())
    }
}

/// What a change by `caller` is decided on: its record as read, and the
/// org's guard when the change takes it.
pub(crate) fn basis(caller: &Caller, guard: Option<OrgGuard>) -> Basis {
    Basis { actor: caller.id().clone(), actor_version: caller.user().version, guard }
}
