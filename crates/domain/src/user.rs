//! The user, its lifecycle state and what it may do.

use std::fmt;
use std::str::FromStr;

use crate::{
    CredentialUuid, OrgId, Timestamp, UserId, Username, operation::Operation,
    permission::PermissionAssignment,
};

/// What kind of identity a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// A member of the org's staff.
    CustomerEmployee,
    /// A customer of the org.
    EndUser,
    /// Read only: staff of the upstream provider.
    DfnsStaff,
    /// Read only: a legacy account user.
    AccountUser,
}

/// Occurs when a user kind is not one this server knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown user kind {0:?}")]
pub struct UnknownUserKind(pub String);

impl UserKind {
    /// The kind's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserKind::CustomerEmployee => "CustomerEmployee",
            UserKind::EndUser => "EndUser",
            UserKind::DfnsStaff => "DfnsStaff",
            UserKind::AccountUser => "AccountUser",
        }
    }
}

impl FromStr for UserKind {
    type Err = UnknownUserKind;

    fn from_str(name: &str) -> Result<UserKind, UnknownUserKind> {
        match name {
            "CustomerEmployee" => Ok(UserKind::CustomerEmployee),
            "EndUser" => Ok(UserKind::EndUser),
            "DfnsStaff" => Ok(UserKind::DfnsStaff),
            "AccountUser" => Ok(UserKind::AccountUser),
            other => Err(UnknownUserKind(other.to_owned())),
        }
    }
}

impl fmt::Display for UserKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a user stands in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleState {
    /// The user can log in and act.
    Active,
    /// The user was deactivated; activation gives everything back.
    Inactive,
    /// The user was archived: terminal, kept only for audit.
    Archived {
        /// When it was archived.
        at: Timestamp,
        /// Who archived it.
        by: UserId,
    },
}

/// A user of an org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The org the user belongs to.
    pub org_id: OrgId,
    /// The kind of user.
    pub kind: UserKind,
    /// The user's login name.
    pub username: Username,
    /// The user's primary credential, if it has one.
    pub credential_uuid: Option<CredentialUuid>,
    /// Whether the user has at least one credential.
    pub is_registered: bool,
    /// Whether the user is a service account.
    pub is_service_account: bool,
    /// Whether the user must authenticate through SSO.
    pub is_sso_required: bool,
    /// An id that correlates the user with an outside system.
    pub external_id: Option<String>,
    /// Where the user stands in its lifecycle.
    pub state: LifecycleState,
    /// The permissions the user holds now.
    pub assignments: Vec<PermissionAssignment>,
    /// When the user was created.
    pub created_at: Timestamp,
    /// Bumped by every stored change; writes compare and set it.
    pub version: u64,
}

impl User {
    /// Whether the user was archived.
    pub fn is_archived(&self) -> bool {
        matches!(self.state, LifecycleState::Archived { .. })
    }

    /// Whether the user may log in and act: active and not archived.
    pub fn is_active(&self) -> bool {
        self.state == LifecycleState::Active
    }

    /// Whether any of the user's assignments grants `operation`.
    pub fn holds(&self, operation: Operation) -> bool {
        self.assignments.iter().any(|a| a.operations.contains(&operation))
    }

    /// Whether `org` may see this user at all: it belongs to `org` and is
    /// not archived. Everything else is answered as "user not found".
    pub fn is_visible_to(&self, org: &OrgId) -> bool {
        &self.org_id == org && !self.is_archived()
    }
}

/// Occurs when a caller lacks the operation a request needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {user_id} is not authorized to perform operation ({operation})")]
pub struct NotAuthorized {
    /// The caller's kind.
    pub kind: UserKind,
    /// The caller's id.
    pub user_id: UserId,
    /// The operation the request needs.
    pub operation: Operation,
}

/// An authenticated caller: a live, active user, loaded for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    user: User,
}

impl Caller {
    /// The caller behind a verified login token, if that user may still act.
    ///
    /// Tokens are checked against the stored user on every request, so a
    /// deactivated or archived user's tokens stop working at once.
    pub fn from_token_subject(user: User, token_org: &OrgId) -> Option<Caller> {
        (user.is_active() && &user.org_id == token_org).then_some(Caller { user })
    }

    /// The caller's user record.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The caller's id.
    pub fn id(&self) -> &UserId {
        &self.user.id
    }

    /// The caller's org.
    pub fn org_id(&self) -> &OrgId {
        &self.user.org_id
    }

    /// Succeeds when the caller holds `operation`.
    pub fn require(&self, operation: Operation) -> Result<(), NotAuthorized> {
        if self.user.holds(operation) {
            Ok(())
        } else {
            Err(NotAuthorized { kind: self.user.kind, user_id: self.user.id.clone(), operation })
        }
    }
}
