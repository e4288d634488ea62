//! Permissions (roles) and their assignments, and the guard that keeps
//! every org manageable.

use std::str::FromStr;

use domain::{
    Assignment, AssignmentId, Caller, LastAssigner, Operation, OrgId, Permission, PermissionId,
    PermissionName, PermissionNameError, UnknownOperation, User, UserId,
};
use ports::{
    Clock, InsertPermissionError, OrgGuard, PermissionRepository, StoreError,
    UpdatePermissionError as StoreUpdateError, UserRepository,
};

use crate::access::basis;
use crate::{AccessError, Attempt, Contended, Ports, Service, SignedRequest, retry_on_conflict};

/// Occurs when a permission cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum CreatePermissionError {
    /// Occurs when the caller may not make this request.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the name is not valid.
    #[error(transparent)]
    Name(#[from] PermissionNameError),
    /// Occurs when an operation is not one this server knows.
    #[error(transparent)]
    Operation(#[from] UnknownOperation),
    /// Occurs when a live permission of the org has the same name.
    #[error("a permission with this name already exists")]
    NameTaken,
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a permission cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GetPermissionError {
    /// Occurs when the caller may not read permissions.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the id is malformed, unknown or of another org.
    #[error("permission not found")]
    NotFound,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when permissions cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListPermissionsError {
    /// Occurs when the caller may not read permissions.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a permission cannot be updated.
#[derive(Debug, thiserror::Error)]
pub enum UpdatePermissionError {
    /// Occurs when the caller may not make this request.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the new name is not valid.
    #[error(transparent)]
    Name(#[from] PermissionNameError),
    /// Occurs when an operation is not one this server knows.
    #[error(transparent)]
    Operation(#[from] UnknownOperation),
    /// Occurs when the permission is missing, immutable or archived.
    #[error(transparent)]
    Refused(#[from] domain::PermissionChangeError),
    /// Occurs when another live permission of the org has the new name.
    #[error("a permission with this name already exists")]
    NameTaken,
    /// Occurs when the change would leave no user who can assign.
    #[error(transparent)]
    LastAssigner(#[from] LastAssigner),
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a permission cannot be archived.
#[derive(Debug, thiserror::Error)]
pub enum ArchivePermissionError {
    /// Occurs when the caller may not make this request.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the permission is missing, immutable or archived.
    #[error(transparent)]
    Refused(#[from] domain::PermissionChangeError),
    /// Occurs when the archive would leave no user who can assign.
    #[error(transparent)]
    LastAssigner(#[from] LastAssigner),
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a permission cannot be assigned.
#[derive(Debug, thiserror::Error)]
pub enum AssignPermissionError {
    /// Occurs when the caller may not make this request.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the permission or the user is missing, or the
    /// permission is archived or assigned already.
    #[error(transparent)]
    Refused(#[from] domain::AssignPermissionError),
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when an assignment cannot be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeAssignmentError {
    /// Occurs when the caller may not make this request.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the permission or the assignment is missing.
    #[error(transparent)]
    Refused(#[from] domain::RevokeAssignmentError),
    /// Occurs when the revoke would leave no user who can assign.
    #[error(transparent)]
    LastAssigner(#[from] LastAssigner),
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when the assignments of a permission cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListAssignmentsError {
    /// Occurs when the caller may not read assignments.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the permission is missing.
    #[error("permission not found")]
    NotFound,
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a permission listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionsPage {
    /// The permissions on this page.
    pub permissions: Vec<Permission>,
    /// The id to continue after, when more permissions follow.
    pub next_after: Option<PermissionId>,
}

fn parse_operations(names: &[String]) -> Result<Vec<Operation>, UnknownOperation> {
    names.iter().map(|name| Operation::from_str(name)).collect()
}

impl<P: Ports> Service<P> {
    /// Creates a permission in the caller's org.
    #[tracing::instrument(name = "create_permission", skip_all, fields(caller = %caller.id()))]
    pub async fn create_permission(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        name: &str,
        operations: &[String],
    ) -> Result<Permission, CreatePermissionError> {
        self.authorize(caller, Operation::CreatePermission, signed).await?;
        let name = PermissionName::parse(name)?;
        let operations = parse_operations(operations)?;
        let id = PermissionId::from_random(&ports::random_array(&self.random));

        let now = self.clock.now();
        retry_on_conflict(|earlier| {
            let (id, name, operations) = (id.clone(), name.clone(), operations.clone());
            async move {
                let caller = self
                    .caller_for_attempt(caller, earlier, Some(Operation::CreatePermission))
                    .await?;
                let (permission, event) =
                    domain::create_permission(&caller, id, name, operations, now);
                let basis = basis(&caller, None);
                match self.permissions.insert_permission(&permission, &event, &basis).await {
                    Ok(()) => Ok(Attempt::Done(permission)),
                    Err(InsertPermissionError::Conflict) => Ok(Attempt::Conflict),
                    Err(InsertPermissionError::NameTaken) => Err(CreatePermissionError::NameTaken),
                    Err(InsertPermissionError::Store(e)) => Err(e.into()),
                }
            }
        })
        .await
    }

    /// Reads a permission of the caller's org.
    #[tracing::instrument(name = "get_permission", skip_all, fields(caller = %caller.id()))]
    pub async fn get_permission(
        &self,
        caller: &Caller,
        permission_id: &str,
    ) -> Result<Permission, GetPermissionError> {
        caller.require(Operation::ReadPermission).map_err(AccessError::from)?;
        self.load_permission(caller, permission_id).await?.ok_or(GetPermissionError::NotFound)
    }

    /// Lists the permissions of the caller's org, `limit` at a time.
    #[tracing::instrument(name = "list_permissions", skip_all, fields(caller = %caller.id()))]
    pub async fn list_permissions(
        &self,
        caller: &Caller,
        after: Option<PermissionId>,
        limit: usize,
    ) -> Result<PermissionsPage, ListPermissionsError> {
        caller.require(Operation::ReadPermission).map_err(AccessError::from)?;
        let limit = limit.clamp(1, crate::MAX_PAGE_SIZE);
        let page = self.permissions.list_permissions(caller.org_id(), after, limit).await?;
        let next_after = match (page.has_more, page.permissions.last()) {
            (true, Some(last)) => Some(last.id.clone()),
            _ => None,
        };
        Ok(PermissionsPage { permissions: page.permissions, next_after })
    }

    /// Changes a permission's name or operations. Its holders see the new
    /// operations on their very next request.
    #[tracing::instrument(name = "update_permission", skip_all, fields(caller = %caller.id()))]
    pub async fn update_permission(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        permission_id: &str,
        name: Option<&str>,
        operations: Option<&[String]>,
    ) -> Result<Permission, UpdatePermissionError> {
        self.authorize(caller, Operation::UpdatePermission, signed).await?;
        let name = name.map(PermissionName::parse).transpose()?;
        let operations = operations.map(parse_operations).transpose()?;

        retry_on_conflict(|earlier| {
            let (name, operations) = (name.clone(), operations.clone());
            async move {
                let caller = self
                    .caller_for_attempt(caller, earlier, Some(Operation::UpdatePermission))
                    .await?;
                let current = self
                    .load_permission(&caller, permission_id)
                    .await?
                    .ok_or(domain::PermissionChangeError::NotFound)?;
                let (updated, event) = domain::update_permission(
                    &caller,
                    &current,
                    name,
                    operations,
                    self.clock.now(),
                )?;
                let guard =
                    self.permission_guard::<UpdatePermissionError>(&current, &updated).await?;
                let basis = basis(&caller, guard);
                match self.permissions.update_permission(&updated, &event, &basis).await {
                    Ok(()) => {
                        Ok(Attempt::Done(Permission { version: updated.version + 1, ..updated }))
                    }
                    Err(StoreUpdateError::Conflict) => Ok(Attempt::Conflict),
                    Err(StoreUpdateError::NameTaken) => Err(UpdatePermissionError::NameTaken),
                    Err(StoreUpdateError::Store(e)) => Err(e.into()),
                }
            }
        })
        .await
    }

    /// Archives a permission, ending all its assignments.
    #[tracing::instrument(name = "archive_permission", skip_all, fields(caller = %caller.id()))]
    pub async fn archive_permission(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        permission_id: &str,
    ) -> Result<Permission, ArchivePermissionError> {
        self.authorize(caller, Operation::ArchivePermission, signed).await?;

        retry_on_conflict(|earlier| async move {
            let caller = self
                .caller_for_attempt(caller, earlier, Some(Operation::ArchivePermission))
                .await?;
            let current = self
                .load_permission(&caller, permission_id)
                .await?
                .ok_or(domain::PermissionChangeError::NotFound)?;
            let (archived, event) =
                domain::archive_permission(&caller, &current, self.clock.now())?;
            let guard =
                self.permission_guard::<ArchivePermissionError>(&current, &archived).await?;
            let basis = basis(&caller, guard);
            match self.permissions.update_permission(&archived, &event, &basis).await {
                Ok(()) => {
                    Ok(Attempt::Done(Permission { version: archived.version + 1, ..archived }))
                }
                Err(StoreUpdateError::Conflict) => Ok(Attempt::Conflict),
                Err(StoreUpdateError::NameTaken) => {
                    Err(StoreError::new("archiving a permission cannot clash a name").into())
                }
                Err(StoreUpdateError::Store(e)) => Err(e.into()),
            }
        })
        .await
    }

    /// Assigns a permission to a user of the caller's org.
    #[tracing::instrument(name = "assign_permission", skip_all, fields(caller = %caller.id()))]
    pub async fn assign_permission(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        permission_id: &str,
        identity_id: &str,
    ) -> Result<Assignment, AssignPermissionError> {
        self.authorize(caller, Operation::AssignPermission, signed).await?;
        let Ok(user_id) = UserId::parse(identity_id) else {
            return Err(domain::AssignPermissionError::UserNotFound.into());
        };
        let assignment_id = AssignmentId::from_random(&ports::random_array(&self.random));
        let (user_id, assignment_id) = (&user_id, &assignment_id);

        // The permission is read again on every attempt: a store refuses an
        // assignment of a permission archived meanwhile as a conflict.
        retry_on_conflict(|earlier| async move {
            let caller =
                self.caller_for_attempt(caller, earlier, Some(Operation::AssignPermission)).await?;
            let permission = self
                .load_permission(&caller, permission_id)
                .await?
                .ok_or(domain::AssignPermissionError::PermissionNotFound)?;
            let target = self
                .users
                .find_user(user_id)
                .await?
                .ok_or(domain::AssignPermissionError::UserNotFound)?;
            let now = self.clock.now();
            let (assigned, event) = domain::assign_permission(
                &caller,
                &permission,
                &target,
                assignment_id.clone(),
                now,
            )?;
            let basis = basis(&caller, None);
            let stored =
                self.store_change::<AssignPermissionError>(assigned, &event, basis).await?;
            Ok(match stored {
                Attempt::Done(_) => Attempt::Done(Assignment {
                    id: assignment_id.clone(),
                    permission_id: permission.id.clone(),
                    user_id: user_id.clone(),
                    org_id: permission.org_id.clone(),
                    is_immutable: false,
                    created_at: now,
                    ended_at: None,
                }),
                Attempt::Conflict => Attempt::Conflict,
            })
        })
        .await
    }

    /// Revokes one assignment of a permission.
    #[tracing::instrument(name = "revoke_assignment", skip_all, fields(caller = %caller.id()))]
    pub async fn revoke_assignment(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        permission_id: &str,
        assignment_id: &str,
    ) -> Result<Assignment, RevokeAssignmentError> {
        self.authorize(caller, Operation::RevokePermission, signed).await?;
        let permission = self
            .load_permission(caller, permission_id)
            .await?
            .ok_or(domain::RevokeAssignmentError::PermissionNotFound)?;
        let Ok(assignment_id) = AssignmentId::parse(assignment_id) else {
            return Err(domain::RevokeAssignmentError::AssignmentNotFound.into());
        };
        let (permission, assignment_id) = (&permission, &assignment_id);

        retry_on_conflict(|earlier| async move {
            let caller =
                self.caller_for_attempt(caller, earlier, Some(Operation::RevokePermission)).await?;
            let assignment = self
                .permissions
                .list_assignments(&permission.id)
                .await?
                .into_iter()
                .find(|a| &a.id == assignment_id)
                .ok_or(domain::RevokeAssignmentError::AssignmentNotFound)?;
            let holder = self
                .users
                .find_user(&assignment.user_id)
                .await?
                .ok_or(domain::RevokeAssignmentError::AssignmentNotFound)?;
            let now = self.clock.now();
            let (revoked, event) =
                domain::revoke_assignment(&caller, permission, &holder, assignment_id, now)?;
            let guard = self.guard::<RevokeAssignmentError>(&holder, &revoked).await?;
            let basis = basis(&caller, guard);
            let stored = self.store_change::<RevokeAssignmentError>(revoked, &event, basis).await?;
            Ok(match stored {
                Attempt::Done(_) => Attempt::Done(Assignment { ended_at: Some(now), ..assignment }),
                Attempt::Conflict => Attempt::Conflict,
            })
        })
        .await
    }

    /// Lists the live assignments of a permission of the caller's org.
    #[tracing::instrument(name = "list_assignments", skip_all, fields(caller = %caller.id()))]
    pub async fn list_assignments(
        &self,
        caller: &Caller,
        permission_id: &str,
    ) -> Result<Vec<Assignment>, ListAssignmentsError> {
        caller.require(Operation::ReadAssignments).map_err(AccessError::from)?;
        let permission = self
            .load_permission(caller, permission_id)
            .await?
            .ok_or(ListAssignmentsError::NotFound)?;
        Ok(self.permissions.list_assignments(&permission.id).await?)
    }

    async fn load_permission(
        &self,
        caller: &Caller,
        permission_id: &str,
    ) -> Result<Option<Permission>, StoreError> {
        let Ok(id) = PermissionId::parse(permission_id) else {
            return Ok(None);
        };
        let permission = self.permissions.find_permission(&id).await?;
        Ok(permission.filter(|p| domain::permission_visible_to(caller, p)))
    }

    /// The guard a change of one user must compare and set: none when the
    /// change leaves every ground the user has to assign permissions;
    /// otherwise the current guard, once the guard has checked that someone
    /// keeps the power. A change that takes one ground of several still
    /// takes the guard, so that it conflicts with a concurrent change that
    /// takes another.
    pub(crate) async fn guard<E>(&self, before: &User, after: &User) -> Result<Option<OrgGuard>, E>
    where
        E: From<LastAssigner> + From<StoreError>,
    {
        if !domain::drops_an_assign_grant(before, after) {
            return Ok(None);
        }
        let losing: &[UserId] = if domain::loses_assign(before, after) {
            std::slice::from_ref(&before.id)
        } else {
            &[]
        };
        self.checked_guard(&before.org_id, losing).await
    }

    /// The guard a change of a permission must compare and set: every
    /// active holder that no other assignment lets assign loses the power
    /// when the permission stops granting it.
    ///
    /// The guard is read before the holders. A concurrent change that takes
    /// a holder's other grant away moves the guard; committed after this
    /// read, it makes this change's compare-and-set fail, and committed
    /// before it, the holders are read as it left them. Read the other way
    /// round, the guard could already include such a change that the reads
    /// of the holders missed, and this change would count on a grant that
    /// is gone.
    async fn permission_guard<E>(
        &self,
        before: &Permission,
        after: &Permission,
    ) -> Result<Option<OrgGuard>, E>
    where
        E: From<LastAssigner> + From<StoreError>,
    {
        let grants = |p: &Permission| !p.is_archived && p.grants(Operation::AssignPermission);
        if !grants(before) || grants(after) {
            return Ok(None);
        }
        let snapshot = self.permissions.assigners(&before.org_id).await?;
        let mut losing = Vec::new();
        for assignment in self.permissions.list_assignments(&before.id).await? {
            let Some(holder) = self.users.find_user(&assignment.user_id).await? else {
                continue;
            };
            let assigns_otherwise = holder.assignments.iter().any(|a| {
                a.permission_id != before.id && a.operations.contains(&Operation::AssignPermission)
            });
            if !assigns_otherwise {
                losing.push(holder.id);
            }
        }
        domain::keep_an_assigner(&snapshot.assigners, &losing)?;
        Ok(Some(snapshot.guard))
    }

    async fn checked_guard<E>(&self, org: &OrgId, losing: &[UserId]) -> Result<Option<OrgGuard>, E>
    where
        E: From<LastAssigner> + From<StoreError>,
    {
        let snapshot = self.permissions.assigners(org).await?;
        domain::keep_an_assigner(&snapshot.assigners, losing)?;
        Ok(Some(snapshot.guard))
    }
}
