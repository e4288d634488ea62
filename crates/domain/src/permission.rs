//! Permissions (roles) and their assignments to users.

use crate::{AssignmentId, OrgId, PermissionId, Timestamp, UserId, operation::Operation};

/// The longest permission name accepted, in characters.
pub const MAX_PERMISSION_NAME_CHARS: usize = 128;

/// A permission's name, unique among an org's live permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionName(String);

/// Occurs when a string cannot be a permission name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionNameError {
    /// Occurs when the name is empty or only white space.
    #[error("name is empty")]
    Empty,
    /// Occurs when the name is longer than [`MAX_PERMISSION_NAME_CHARS`].
    #[error("name is longer than {MAX_PERMISSION_NAME_CHARS} characters")]
    TooLong,
    /// Occurs when the name has control characters.
    #[error("name must not contain control characters")]
    ForbiddenCharacter,
}

impl PermissionName {
    /// The name of the permission every org's first admin holds.
    pub const ORG_ADMIN: &str = "OrgAdmin";

    /// Parses a permission name.
    pub fn parse(candidate: &str) -> Result<PermissionName, PermissionNameError> {
        if candidate.trim().is_empty() {
            return Err(PermissionNameError::Empty);
        }
        if candidate.chars().count() > MAX_PERMISSION_NAME_CHARS {
            return Err(PermissionNameError::TooLong);
        }
        if candidate.chars().any(char::is_control) {
            return Err(PermissionNameError::ForbiddenCharacter);
        }
        Ok(PermissionName(candidate.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A named set of operations that can be assigned to users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The permission's id.
    pub id: PermissionId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Its name.
    pub name: PermissionName,
    /// The operations it grants, without duplicates.
    pub operations: Vec<Operation>,
    /// Whether it can never be updated or archived (the org admin's role).
    pub is_immutable: bool,
    /// Whether it was archived.
    pub is_archived: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Bumped by every stored change; writes compare and set it.
    pub version: u64,
}

impl Permission {
    /// The immutable permission that grants every known operation, held by
    /// each org's first admin.
    pub fn org_admin(id: PermissionId, org_id: OrgId, now: Timestamp) -> Permission {
        Permission {
            id,
            org_id,
            name: PermissionName(PermissionName::ORG_ADMIN.to_owned()),
            operations: Operation::ALL.to_vec(),
            is_immutable: true,
            is_archived: false,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Whether the permission grants `operation`.
    pub fn grants(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }
}

/// The record of a permission given to a user, as the assignments
/// endpoints show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The assignment's id.
    pub id: AssignmentId,
    /// The assigned permission.
    pub permission_id: PermissionId,
    /// The user it is assigned to (`identityId`).
    pub user_id: UserId,
    /// The org of both.
    pub org_id: OrgId,
    /// Whether it can never be revoked; no assignment is, today.
    pub is_immutable: bool,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was revoked or ended by an archive, if it was.
    pub ended_at: Option<Timestamp>,
}

/// A permission as a user holds it: what `permissionAssignments` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionAssignment {
    /// The assignment's id.
    pub assignment_id: AssignmentId,
    /// The assigned permission's id.
    pub permission_id: PermissionId,
    /// The assigned permission's name.
    pub permission_name: String,
    /// The operations the permission grants today.
    pub operations: Vec<Operation>,
}
