//! The user lifecycle: create, read, list, activate, deactivate, archive.

use domain::{
    AuditEvent, Caller, Credential, CredentialKind, CredentialUuid, LastAssigner, NewUser,
    Operation, User, UserId, UserKind, Username, UsernameError,
};
use ports::{
    Basis, Clock, InsertUserError, PublicKeyError, SignatureVerifier, StoreError, UpdateUserError,
    UserRepository,
};

use crate::access::basis;
use crate::{AccessError, Attempt, Contended, Ports, Service, SignedRequest, retry_on_conflict};

/// The largest page `list_users` answers.
pub const MAX_PAGE_SIZE: usize = 200;

/// What a client asks for when it creates a user, parsed from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUserRequest {
    /// The new user's email, its user name.
    pub email: String,
    /// The new user's kind.
    pub kind: UserKind,
    /// A PEM public key to register as the user's `Key` credential.
    pub public_key: Option<String>,
    /// An id that correlates the user with an outside system.
    pub external_id: Option<String>,
    /// Whether the user must authenticate through SSO.
    pub is_sso_required: bool,
}

/// Occurs when a user cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// Occurs when the caller may not make this request.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the email is not a valid user name.
    #[error(transparent)]
    Email(#[from] UsernameError),
    /// Occurs when the public key cannot be used.
    #[error(transparent)]
    PublicKey(#[from] PublicKeyError),
    /// Occurs when the kind or the user name is refused by the lifecycle.
    #[error(transparent)]
    Refused(#[from] domain::CreateUserError),
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a user cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GetUserError {
    /// Occurs when the caller may not read users.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the id is malformed, unknown, archived or of another org.
    #[error("user not found")]
    NotFound,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when users cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListUsersError {
    /// Occurs when the caller may not read users.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a user cannot be archived.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveUserError {
    /// Occurs when the caller may not make this request.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the target is missing or the archive is refused.
    #[error(transparent)]
    Refused(#[from] domain::ArchiveUserError),
    /// Occurs when the user is the org's last who can assign permissions.
    #[error(transparent)]
    LastAssigner(#[from] LastAssigner),
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a user cannot be activated or deactivated.
#[derive(Debug, thiserror::Error)]
pub enum ChangeActiveError {
    /// Occurs when the caller may not make this request.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the target is missing or the change is refused.
    #[error(transparent)]
    Refused(#[from] domain::ChangeActiveError),
    /// Occurs when the user is the org's last who can assign permissions.
    #[error(transparent)]
    LastAssigner(#[from] LastAssigner),
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a user listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersPage {
    /// The users on this page.
    pub users: Vec<User>,
    /// The id to continue after, when more users follow.
    pub next_after: Option<UserId>,
}

impl<P: Ports> Service<P> {
    /// Creates a user in the caller's org, with a `Key` credential when a
    /// public key is given.
    #[tracing::instrument(name = "create_user", skip_all, fields(caller = %caller.id()))]
    pub async fn create_user(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        request: CreateUserRequest,
    ) -> Result<User, CreateUserError> {
        self.authorize(caller, Operation::CreateUser, signed).await?;

        let username = Username::parse(&request.email)?;
        let now = self.clock.now();
        let id = UserId::from_random(&ports::random_array(&self.random));
        let credential = match request.public_key {
            Some(pem) => Some(self.new_key_credential(caller, &id, pem).await?),
            None => None,
        };
        let new = NewUser {
            id,
            username,
            kind: request.kind,
            external_id: request.external_id,
            is_sso_required: request.is_sso_required,
            credential,
        };
        let credentials: Vec<Credential> = new.credential.iter().cloned().collect();

        let user = retry_on_conflict::<_, _, _, CreateUserError>(|earlier| {
            let new = new.clone();
            let credentials = &credentials;
            async move {
                let caller =
                    self.caller_for_attempt(caller, earlier, Some(Operation::CreateUser)).await?;
                let (user, event) = domain::create_user(&caller, new, now)?;
                match self
                    .users
                    .insert_user(&user, credentials, &event, &basis(&caller, None))
                    .await
                {
                    Ok(()) => Ok(Attempt::Done(user)),
                    Err(InsertUserError::Conflict) => Ok(Attempt::Conflict),
                    Err(InsertUserError::UsernameTaken) => {
                        Err(domain::CreateUserError::UsernameTaken.into())
                    }
                    Err(InsertUserError::Store(e)) => Err(e.into()),
                }
            }
        })
        .await?;
        tracing::info!(user_id = %user.id, "user created");
        Ok(user)
    }

    /// Reads a user of the caller's org.
    #[tracing::instrument(name = "get_user", skip_all, fields(caller = %caller.id()))]
    pub async fn get_user(&self, caller: &Caller, user_id: &str) -> Result<User, GetUserError> {
        caller.require(Operation::ReadUser).map_err(AccessError::from)?;
        let Ok(id) = UserId::parse(user_id) else {
            return Err(GetUserError::NotFound);
        };
        let user = self.users.find_user(&id).await?;
        user.filter(|u| u.is_visible_to(caller.org_id())).ok_or(GetUserError::NotFound)
    }

    /// Lists the users of the caller's org, `limit` at a time, after the
    /// user id a previous page ended with.
    #[tracing::instrument(name = "list_users", skip_all, fields(caller = %caller.id()))]
    pub async fn list_users(
        &self,
        caller: &Caller,
        kind: Option<UserKind>,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UsersPage, ListUsersError> {
        caller.require(Operation::ReadUser).map_err(AccessError::from)?;
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let page = self.users.list_users(caller.org_id(), kind, after, limit).await?;
        let next_after = match (page.has_more, page.users.last()) {
            (true, Some(last)) => Some(last.id.clone()),
            _ => None,
        };
        Ok(UsersPage { users: page.users, next_after })
    }

    /// Archives a user of the caller's org: terminal, and it ends every
    /// permission, token, credential and challenge the user held.
    #[tracing::instrument(
        name = "archive_user",
        skip_all,
        fields(caller = %caller.id(), org_id = %caller.org_id(), user_id = %user_id)
    )]
    pub async fn archive_user(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        user_id: &str,
    ) -> Result<User, ArchiveUserError> {
        self.authorize(caller, Operation::DeleteUser, signed).await?;
        let Ok(id) = UserId::parse(user_id) else {
            return Err(domain::ArchiveUserError::NotFound.into());
        };
        let id = &id;

        let archived = retry_on_conflict(|earlier| async move {
            let caller =
                self.caller_for_attempt(caller, earlier, Some(Operation::DeleteUser)).await?;
            let target = self.load(id).await?.ok_or(domain::ArchiveUserError::NotFound)?;
            let (archived, event) = domain::archive_user(&caller, &target, self.clock.now())?;
            let guard = self.guard::<ArchiveUserError>(&target, &archived).await?;
            self.store_change::<ArchiveUserError>(archived, &event, basis(&caller, guard)).await
        })
        .await?;
        tracing::info!("user archived");
        Ok(archived)
    }

    /// Activates (`active` is true) or deactivates a user of the caller's
    /// org. Asking for the state the user is in changes nothing.
    #[tracing::instrument(
        name = "set_user_active",
        skip_all,
        fields(caller = %caller.id(), user_id = %user_id, active)
    )]
    pub async fn set_user_active(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        user_id: &str,
        active: bool,
    ) -> Result<User, ChangeActiveError> {
        let operation = if active { Operation::ActivateUser } else { Operation::DeactivateUser };
        self.authorize(caller, operation, signed).await?;
        let Ok(id) = UserId::parse(user_id) else {
            return Err(domain::ChangeActiveError::NotFound.into());
        };
        let id = &id;

        retry_on_conflict(|earlier| async move {
            let caller = self.caller_for_attempt(caller, earlier, Some(operation)).await?;
            let target = self.load(id).await?.ok_or(domain::ChangeActiveError::NotFound)?;
            match domain::set_active(&caller, &target, active, self.clock.now())? {
                Some((changed, event)) => {
                    let guard = self.guard::<ChangeActiveError>(&target, &changed).await?;
                    let basis = basis(&caller, guard);
                    self.store_change::<ChangeActiveError>(changed, &event, basis).await
                }
                None => Ok(Attempt::Done(target)),
            }
        })
        .await
    }

    async fn load(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.users.find_user(id).await
    }

    /// Stores a decided change; a lost compare-and-set race asks the caller
    /// to decide again on fresh data.
    pub(crate) async fn store_change<E>(
        &self,
        user: User,
        event: &AuditEvent,
        basis: Basis,
    ) -> Result<Attempt<User>, E>
    where
        E: From<StoreError>,
    {
        match self.users.update_user(&user, event, &basis).await {
            Ok(()) => Ok(Attempt::Done(User { version: user.version + 1, ..user })),
            Err(UpdateUserError::Conflict) => Ok(Attempt::Conflict),
            Err(UpdateUserError::Store(e)) => Err(e.into()),
        }
    }

    async fn new_key_credential(
        &self,
        caller: &Caller,
        user_id: &UserId,
        pem: String,
    ) -> Result<Credential, PublicKeyError> {
        self.verifier.check_public_key(&pem).await?;
        Ok(Credential {
            uuid: CredentialUuid::from_random(&ports::random_array(&self.random)),
            cred_id: self.new_cred_id(),
            user_id: user_id.clone(),
            org_id: caller.org_id().clone(),
            kind: CredentialKind::Key,
            name: String::new(),
            sign_count: 0,
            relying_party_id: None,
            origin: None,
            public_key_pem: pem,
            is_active: true,
            created_at: self.clock.now(),
        })
    }
}
