//! Audit events: what changed, to whom, by whom and when.

use crate::{OrgId, Timestamp, UserId};

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
}

impl AuditKind {
    /// The event's name as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::UserCreated => "UserCreated",
            AuditKind::UserActivated => "UserActivated",
            AuditKind::UserDeactivated => "UserDeactivated",
            AuditKind::UserArchived => "UserArchived",
        }
    }

    /// The kind stored under `name`, if any.
    pub fn from_name(name: &str) -> Option<AuditKind> {
        [
            AuditKind::UserCreated,
            AuditKind::UserActivated,
            AuditKind::UserDeactivated,
            AuditKind::UserArchived,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// One change, recorded in the same transaction as the change itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What changed.
    pub kind: AuditKind,
    /// The org the change happened in.
    pub org_id: OrgId,
    /// The user that changed.
    pub user_id: UserId,
    /// The user who made the change.
    pub actor: UserId,
    /// When the change was made.
    pub at: Timestamp,
}
