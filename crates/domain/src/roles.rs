//! Decisions about permissions (roles) and their assignments, and the
//! guard that keeps every org manageable.
//!
//! The guard (our rule): an org always keeps at least one active user who
//! holds `Permissions:Assign`, since such a user can restore any other
//! right. Every change that can take that power from someone (a revoke, a
//! permission update or archive, a deactivation, an archive) asks
//! [`keep_an_assigner`] first.

use crate::{
    AssignmentId, AuditEvent, AuditKind, Caller, Operation, Permission, PermissionAssignment,
    PermissionId, PermissionName, Timestamp, User, UserId,
};

/// Occurs when a change would leave the org without an active user who can
/// assign permissions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the org would lose its last user who can assign permissions")]
pub struct LastAssigner;

/// Succeeds when someone in `assigners` (the org's active users holding
/// `Permissions:Assign` now) keeps that power after `losing` lose it.
pub fn keep_an_assigner(assigners: &[UserId], losing: &[UserId]) -> Result<(), LastAssigner> {
    if assigners.iter().any(|a| !losing.contains(a)) { Ok(()) } else { Err(LastAssigner) }
}

/// Occurs when a permission cannot be changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionChangeError {
    /// Occurs when the permission is unknown or of another org.
    #[error("permission not found")]
    NotFound,
    /// Occurs when the permission is the immutable `OrgAdmin`.
    #[error("permission is immutable")]
    Immutable,
    /// Occurs when the permission was archived already.
    #[error("permission is archived")]
    Archived,
}

/// Occurs when a permission cannot be assigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignPermissionError {
    /// Occurs when the permission is unknown or of another org.
    #[error("permission not found")]
    PermissionNotFound,
    /// Occurs when the permission was archived.
    #[error("permission is archived")]
    PermissionArchived,
    /// Occurs when the user is unknown, archived or of another org.
    #[error("user not found")]
    UserNotFound,
    /// Occurs when the user holds this permission already.
    #[error("permission already assigned")]
    AlreadyAssigned,
}

/// Occurs when an assignment cannot be revoked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevokeAssignmentError {
    /// Occurs when the permission is unknown or of another org.
    #[error("permission not found")]
    PermissionNotFound,
    /// Occurs when the assignment is unknown, ended, or of another
    /// permission.
    #[error("assignment not found")]
    AssignmentNotFound,
}

/// Whether `caller` may see `permission` at all.
pub fn permission_visible_to(caller: &Caller, permission: &Permission) -> bool {
    &permission.org_id == caller.org_id()
}

/// Decides a new permission in the caller's org. Operations are kept once
/// each, in the order given.
pub fn create_permission(
    caller: &Caller,
    id: PermissionId,
    name: PermissionName,
    operations: Vec<Operation>,
    now: Timestamp,
) -> (Permission, AuditEvent) {
    let permission = Permission {
        id,
        org_id: caller.org_id().clone(),
        name,
        operations: deduplicated(operations),
        is_immutable: false,
        is_archived: false,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let event = permission_event(AuditKind::PermissionCreated, caller, &permission, now);
    (permission, event)
}

/// Decides an update of a permission's name or operations.
pub fn update_permission(
    caller: &Caller,
    current: &Permission,
    name: Option<PermissionName>,
    operations: Option<Vec<Operation>>,
    now: Timestamp,
) -> Result<(Permission, AuditEvent), PermissionChangeError> {
    check_mutable(caller, current)?;
    let updated = Permission {
        name: name.unwrap_or_else(|| current.name.clone()),
        operations: operations.map(deduplicated).unwrap_or_else(|| current.operations.clone()),
        updated_at: now,
        ..current.clone()
    };
    let event = permission_event(AuditKind::PermissionUpdated, caller, &updated, now);
    Ok((updated, event))
}

/// Decides the archive of a permission, which ends all its assignments.
pub fn archive_permission(
    caller: &Caller,
    current: &Permission,
    now: Timestamp,
) -> Result<(Permission, AuditEvent), PermissionChangeError> {
    check_mutable(caller, current)?;
    let archived = Permission { is_archived: true, updated_at: now, ..current.clone() };
    let event = permission_event(AuditKind::PermissionArchived, caller, &archived, now);
    Ok((archived, event))
}

fn check_mutable(caller: &Caller, permission: &Permission) -> Result<(), PermissionChangeError> {
    if !permission_visible_to(caller, permission) {
        return Err(PermissionChangeError::NotFound);
    }
    if permission.is_immutable {
        return Err(PermissionChangeError::Immutable);
    }
    if permission.is_archived {
        return Err(PermissionChangeError::Archived);
    }
    Ok(())
}

/// Decides the assignment of `permission` to `target`: the user as it must
/// be stored, holding one more assignment.
pub fn assign_permission(
    caller: &Caller,
    permission: &Permission,
    target: &User,
    assignment_id: AssignmentId,
    now: Timestamp,
) -> Result<(User, AuditEvent), AssignPermissionError> {
    if !permission_visible_to(caller, permission) {
        return Err(AssignPermissionError::PermissionNotFound);
    }
    if !target.is_visible_to(caller.org_id()) {
        return Err(AssignPermissionError::UserNotFound);
    }
    if permission.is_archived {
        return Err(AssignPermissionError::PermissionArchived);
    }
    if target.assignments.iter().any(|a| a.permission_id == permission.id) {
        return Err(AssignPermissionError::AlreadyAssigned);
    }
    let mut assignments = target.assignments.clone();
    assignments.push(PermissionAssignment {
        assignment_id,
        permission_id: permission.id.clone(),
        permission_name: permission.name.as_str().to_owned(),
        operations: permission.operations.clone(),
    });
    let assigned = User { assignments, ..target.clone() };
    let event = AuditEvent {
        kind: AuditKind::PermissionAssigned,
        org_id: target.org_id.clone(),
        user_id: target.id.clone(),
        permission_id: Some(permission.id.clone()),
        actor: caller.id().clone(),
        at: now,
    };
    Ok((assigned, event))
}

/// Decides the revoke of one assignment of `permission` held by `holder`:
/// the user as it must be stored, without it.
pub fn revoke_assignment(
    caller: &Caller,
    permission: &Permission,
    holder: &User,
    assignment_id: &AssignmentId,
    now: Timestamp,
) -> Result<(User, AuditEvent), RevokeAssignmentError> {
    if !permission_visible_to(caller, permission) {
        return Err(RevokeAssignmentError::PermissionNotFound);
    }
    let held = holder.is_visible_to(caller.org_id())
        && holder
            .assignments
            .iter()
            .any(|a| &a.assignment_id == assignment_id && a.permission_id == permission.id);
    if !held {
        return Err(RevokeAssignmentError::AssignmentNotFound);
    }
    let assignments =
        holder.assignments.iter().filter(|a| &a.assignment_id != assignment_id).cloned().collect();
    let revoked = User { assignments, ..holder.clone() };
    let event = AuditEvent {
        kind: AuditKind::PermissionRevoked,
        org_id: holder.org_id.clone(),
        user_id: holder.id.clone(),
        permission_id: Some(permission.id.clone()),
        actor: caller.id().clone(),
        at: now,
    };
    Ok((revoked, event))
}

/// Whether `before` could assign permissions and `after` cannot.
pub fn loses_assign(before: &User, after: &User) -> bool {
    let can_assign = |u: &User| u.is_active() && u.holds(Operation::AssignPermission);
    can_assign(before) && !can_assign(after)
}

/// Whether the change from `before` to `after` takes away any of the
/// user's grounds to assign permissions: an assignment that grants it, or
/// being active while holding one.
///
/// Such a change must take the org's guard even when the user keeps the
/// power through another assignment, because a concurrent change may be
/// taking that other ground away, each deciding on the picture where the
/// other ground still stands.
pub fn drops_an_assign_grant(before: &User, after: &User) -> bool {
    let kept = assign_grants(after);
    assign_grants(before).iter().any(|grant| !kept.contains(grant))
}

/// The assignments that let `user` assign permissions: none while it is
/// not active.
fn assign_grants(user: &User) -> Vec<&AssignmentId> {
    if !user.is_active() {
        return Vec::new();
    }
    user.assignments
        .iter()
        .filter(|a| a.operations.contains(&Operation::AssignPermission))
        .map(|a| &a.assignment_id)
        .collect()
}

fn deduplicated(operations: Vec<Operation>) -> Vec<Operation> {
    let mut kept = Vec::with_capacity(operations.len());
    for operation in operations {
        if !kept.contains(&operation) {
            kept.push(operation);
        }
    }
    kept
}

fn permission_event(
    kind: AuditKind,
    caller: &Caller,
    permission: &Permission,
    at: Timestamp,
) -> AuditEvent {
    AuditEvent {
        kind,
        org_id: permission.org_id.clone(),
        user_id: caller.id().clone(),
        permission_id: Some(permission.id.clone()),
        actor: caller.id().clone(),
        at,
    }
}

#[cfg(test)]
mod grant_tests {
    use super::*;
    use crate::{
        AssignmentId, LifecycleState, OrgId, PermissionAssignment, PermissionId, Timestamp, UserId,
        UserKind, Username,
    };

    fn holder(grants: &[u8]) -> User {
        User {
            id: UserId::from_random(&[1; 26]),
            org_id: OrgId::from_random(&[2; 26]),
            kind: UserKind::CustomerEmployee,
            username: Username::parse("h@x.io").unwrap(),
            credential_uuid: None,
            is_registered: true,
            is_service_account: false,
            is_sso_required: false,
            external_id: None,
            state: LifecycleState::Active,
            assignments: grants
                .iter()
                .map(|&seed| PermissionAssignment {
                    assignment_id: AssignmentId::from_random(&[seed; 26]),
                    permission_id: PermissionId::from_random(&[seed; 26]),
                    permission_name: format!("P{seed}"),
                    operations: vec![Operation::AssignPermission],
                })
                .collect(),
            created_at: Timestamp::from_unix_millis(0),
            version: 0,
        }
    }

    #[test]
    fn losing_one_of_two_grants_drops_a_grant_but_not_the_power() {
        let before = holder(&[1, 2]);
        let after = holder(&[2]);
        assert!(drops_an_assign_grant(&before, &after));
        assert!(!loses_assign(&before, &after));
    }

    #[test]
    fn deactivating_a_holder_drops_its_grants_and_gaining_one_drops_none() {
        let before = holder(&[1]);
        let inactive = User { state: LifecycleState::Inactive, ..before.clone() };
        assert!(drops_an_assign_grant(&before, &inactive));
        assert!(!drops_an_assign_grant(&inactive, &before));
        assert!(!drops_an_assign_grant(&before, &holder(&[1, 3])));
        assert!(!drops_an_assign_grant(&holder(&[]), &holder(&[])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seed: u8) -> UserId {
        UserId::from_random(&[seed; 26])
    }

    #[test]
    fn the_guard_holds_while_one_assigner_remains() {
        assert_eq!(keep_an_assigner(&[id(1), id(2)], &[id(1)]), Ok(()));
        assert_eq!(keep_an_assigner(&[id(1)], &[id(2)]), Ok(()));
        assert_eq!(keep_an_assigner(&[id(1)], &[id(1)]), Err(LastAssigner));
        assert_eq!(keep_an_assigner(&[id(1), id(2)], &[id(2), id(1)]), Err(LastAssigner));
        assert_eq!(keep_an_assigner(&[], &[]), Err(LastAssigner));
    }
}
