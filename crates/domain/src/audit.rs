//! Audit events: what changed, to whom, by whom and when.

use crate::{OrgId, PermissionId, Timestamp, UserId};

/// What kind of change an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A user was created.
    UserCreated,
    /// A user was activated.
    UserActivated,
    /// A user was deactivated.
    UserDeactivated,
    /// A user was archived.
    UserArchived,
    /// A permission was created.
    PermissionCreated,
    /// A permission's name or operations changed.
    PermissionUpdated,
    /// A permission was archived, ending its assignments.
    PermissionArchived,
    /// A permission was assigned to a user.
    PermissionAssigned,
    /// A permission assignment was revoked.
    PermissionRevoked,
    /// A user registered a credential.
    CredentialCreated,
}

impl AuditKind {
    /// The event's name as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::UserCreated => "UserCreated",
            AuditKind::UserActivated => "UserActivated",
            AuditKind::UserDeactivated => "UserDeactivated",
            AuditKind::UserArchived => "UserArchived",
            AuditKind::PermissionCreated => "PermissionCreated",
            AuditKind::PermissionUpdated => "PermissionUpdated",
            AuditKind::PermissionArchived => "PermissionArchived",
            AuditKind::PermissionAssigned => "PermissionAssigned",
            AuditKind::PermissionRevoked => "PermissionRevoked",
            AuditKind::CredentialCreated => "CredentialCreated",
        }
    }

    /// Every kind, in a fixed order.
    pub const ALL: &[AuditKind] = &[
        AuditKind::UserCreated,
        AuditKind::UserActivated,
        AuditKind::UserDeactivated,
        AuditKind::UserArchived,
        AuditKind::PermissionCreated,
        AuditKind::PermissionUpdated,
        AuditKind::PermissionArchived,
        AuditKind::PermissionAssigned,
        AuditKind::PermissionRevoked,
        AuditKind::CredentialCreated,
    ];

    /// The kind stored under `name`, if any.
    pub fn from_name(name: &str) -> Option<AuditKind> {
        AuditKind::ALL.iter().copied().find(|kind| kind.as_str() == name)
    }
}

/// One change, recorded in the same transaction as the change itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What changed.
    pub kind: AuditKind,
    /// The org the change happened in.
    pub org_id: OrgId,
    /// The user that changed, or the user an assignment is about; for
    /// changes to a permission itself, the actor.
    pub user_id: UserId,
    /// The permission that changed or was assigned, if any.
    pub permission_id: Option<PermissionId>,
    /// The user who made the change.
    pub actor: UserId,
    /// When the change was made.
    pub at: Timestamp,
}
