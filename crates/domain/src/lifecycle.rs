//! The lifecycle decisions: create, activate, deactivate and archive.
//!
//! Each decision takes the caller, the target as last read and `now`, and
//! either refuses with the operation's error or returns the user as it must
//! be stored together with the audit event that records the change. Nothing
//! is stored here; a refused decision changes nothing by construction.

use crate::{
    AuditEvent, AuditKind, Caller, Credential, LifecycleState, Timestamp, User, UserId, UserKind,
    Username,
};

/// What a new user is made of, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The new user's id.
    pub id: UserId,
    /// Its login name.
    pub username: Username,
    /// Its kind.
    pub kind: UserKind,
    /// An id that correlates it with an outside system.
    pub external_id: Option<String>,
    /// Whether it must authenticate through SSO.
    pub is_sso_required: bool,
    /// The `Key` credential registered with it, if a public key was given.
    pub credential: Option<Credential>,
}

/// Occurs when a user cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateUserError {
    /// Occurs when the kind is one this server only reads.
    #[error("kind {0} cannot be created")]
    KindNotCreatable(UserKind),
    /// Occurs when a live user of the org already has this user name.
    #[error("a user with this email already exists")]
    UsernameTaken,
}

/// Occurs when a user cannot be archived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveUserError {
    /// Occurs when the target is unknown, archived, or in another org.
    #[error("user not found")]
    NotFound,
    /// Occurs when callers try to archive themselves.
    #[error("a user cannot archive itself")]
    SelfArchive,
}

/// Occurs when a user cannot be activated or deactivated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeActiveError {
    /// Occurs when the target is unknown, archived, or in another org.
    #[error("user not found")]
    NotFound,
    /// Occurs when callers try to deactivate themselves.
    #[error("a user cannot deactivate itself")]
    SelfDeactivate,
}

/// Decides the creation of a user in the caller's org.
///
/// Whether the user name is free is decided by the store, atomically with
/// the insert; it answers [`CreateUserError::UsernameTaken`].
pub fn create_user(
    caller: &Caller,
    new: NewUser,
    now: Timestamp,
) -> Result<(User, AuditEvent), CreateUserError> {
    if !matches!(new.kind, UserKind::CustomerEmployee | UserKind::EndUser) {
        return Err(CreateUserError::KindNotCreatable(new.kind));
    }
    let user = User {
        org_id: caller.org_id().clone(),
        kind: new.kind,
        username: new.username,
        credential_uuid: new.credential.as_ref().map(|c| c.uuid.clone()),
        is_registered: new.credential.is_some(),
        is_service_account: false,
        is_sso_required: new.is_sso_required,
        external_id: new.external_id,
        state: LifecycleState::Active,
        assignments: Vec::new(),
        created_at: now,
        version: 0,
        id: new.id,
    };
    let event = event(AuditKind::UserCreated, caller, &user, now);
    Ok((user, event))
}

/// Decides the archive of `target` by `caller`.
///
/// Archive is terminal. It deactivates the user and ends every permission
/// assignment; the record stays for audit, but no request finds it again.
pub fn archive_user(
    caller: &Caller,
    target: &User,
    now: Timestamp,
) -> Result<(User, AuditEvent), ArchiveUserError> {
    if !target.is_visible_to(caller.org_id()) {
        return Err(ArchiveUserError::NotFound);
    }
    if target.id == *caller.id() {
        return Err(ArchiveUserError::SelfArchive);
    }
    let archived = User {
        state: LifecycleState::Archived { at: now, by: caller.id().clone() },
        assignments: Vec::new(),
        ..target.clone()
    };
    let event = event(AuditKind::UserArchived, caller, target, now);
    Ok((archived, event))
}

/// Decides the activation (`active` is true) or deactivation of `target`.
///
/// Answers `Ok(None)` when the user is already in the asked state: the
/// request succeeds and nothing is written.
pub fn set_active(
    caller: &Caller,
    target: &User,
    active: bool,
    now: Timestamp,
) -> Result<Option<(User, AuditEvent)>, ChangeActiveError> {
    if !target.is_visible_to(caller.org_id()) {
        return Err(ChangeActiveError::NotFound);
    }
    if !active && target.id == *caller.id() {
        return Err(ChangeActiveError::SelfDeactivate);
    }
    if target.is_active() == active {
        return Ok(None);
    }
    let (state, kind) = if active {
        (LifecycleState::Active, AuditKind::UserActivated)
    } else {
        (LifecycleState::Inactive, AuditKind::UserDeactivated)
    };
    let changed = User { state, ..target.clone() };
    let event = event(kind, caller, target, now);
    Ok(Some((changed, event)))
}

fn event(kind: AuditKind, caller: &Caller, target: &User, at: Timestamp) -> AuditEvent {
    AuditEvent {
        kind,
        org_id: target.org_id.clone(),
        user_id: target.id.clone(),
        permission_id: None,
        actor: caller.id().clone(),
        at,
    }
}
