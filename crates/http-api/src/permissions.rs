//! The `/permissions` endpoints: roles and their assignments.

use std::sync::Arc;

use app::Ports;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use domain::Operation::{ArchivePermission, AssignPermission, CreatePermission, UpdatePermission};
use domain::{Assignment, Permission};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::extract::{Authenticated, Signed, parse_json_for};
use crate::openapi::{NonceHeader, UserActionHeader};
use crate::shape::read_only_from;
use crate::wire::{Page, decode_page_token, parse_limit, rfc3339};
use crate::{ApiError, ApiState};

type AppState<P> = State<Arc<ApiState<P>>>;

/// A permission as the SDKs read it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Permission)]
pub(crate) struct PermissionJson {
    #[schema(example = "pm-1a2b3-4c5d6-7e8f9g0h1i2j3k4l")]
    id: String,
    #[schema(example = "OrgAdmin")]
    name: String,
    /// The operations it allows, e.g. `Auth:Users:Read`.
    #[schema(example = json!(["Auth:Users:Read", "Permissions:Read"]))]
    operations: Vec<&'static str>,
    /// Always `Active`; `isArchived` tells the rest.
    #[schema(example = "Active")]
    status: &'static str,
    /// `OrgAdmin` is: it cannot be updated or archived.
    is_immutable: bool,
    is_archived: bool,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    date_created: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    date_updated: String,
}

impl From<&Permission> for PermissionJson {
    fn from(permission: &Permission) -> PermissionJson {
        PermissionJson {
            id: permission.id.to_string(),
            name: permission.name.as_str().to_owned(),
            operations: permission.operations.iter().map(|op| op.as_str()).collect(),
            // The SDKs know one status; `isArchived` tells the rest.
            status: "Active",
            is_immutable: permission.is_immutable,
            is_archived: permission.is_archived,
            date_created: rfc3339(permission.created_at),
            date_updated: rfc3339(permission.updated_at),
        }
    }
}

/// An assignment as the SDKs read it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Assignment)]
pub(crate) struct AssignmentJson {
    #[schema(example = "as-1a2b3-4c5d6-7e8f9g0h1i2j3k4l")]
    id: String,
    permission_id: String,
    /// The user who holds the permission.
    identity_id: String,
    is_immutable: bool,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    date_created: String,
    /// RFC 3339, UTC: when it ended, if it did.
    #[schema(format = DateTime)]
    date_updated: String,
}

impl From<&Assignment> for AssignmentJson {
    fn from(assignment: &Assignment) -> AssignmentJson {
        AssignmentJson {
            id: assignment.id.to_string(),
            permission_id: assignment.permission_id.to_string(),
            identity_id: assignment.user_id.to_string(),
            is_immutable: assignment.is_immutable,
            date_created: rfc3339(assignment.created_at),
            date_updated: rfc3339(assignment.ended_at.unwrap_or(assignment.created_at)),
        }
    }
}

/// `POST /permissions`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(remote = "Self", deny_unknown_fields, expecting = "a JSON object with name and operations")]
pub(crate) struct CreatePermissionBody {
    /// Unique among the org's live permissions.
    name: String,
    /// Operations this server knows; an unknown one is refused.
    #[schema(example = json!(["Auth:Users:Read"]))]
    operations: Vec<String>,
}

/// `PUT /permissions/{permissionId}`: what is given is replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    deny_unknown_fields,
    expecting = "a JSON object with name, operations or both"
)]
pub(crate) struct UpdatePermissionBody {
    name: Option<String>,
    operations: Option<Vec<String>>,
}

/// `PUT /permissions/{permissionId}/archive`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "a JSON object, with isArchived or without"
)]
pub(crate) struct ArchivePermissionBody {
    /// `true` when given: archives are final.
    is_archived: Option<bool>,
}

/// `POST /permissions/{permissionId}/assignments`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "a JSON object with identityId"
)]
pub(crate) struct CreateAssignmentBody {
    /// A live user of the caller's org, `us-…`.
    identity_id: String,
}

read_only_from!(
    object: CreatePermissionBody,
    UpdatePermissionBody,
    ArchivePermissionBody,
    CreateAssignmentBody
);

/// The query of `GET /permissions`, as strings so that each bad value gets
/// its own message.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", expecting = "a query string with limit and paginationToken")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// How many permissions, from 1 to 200; 100 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The `nextPageToken` of the page before; opaque.
    pagination_token: Option<String>,
}

/// The permission id of the path. An id that does not even percent-decode
/// is no permission's id: it goes on to the use case like any unknown id,
/// so that the caller's permission and user action are checked before the
/// answer `permission not found`, as for every other target.
fn permission_path(path: Result<Path<String>, PathRejection>) -> String {
    path.map(|Path(id)| id).unwrap_or_default()
}

/// The permission and assignment ids of the path, passed on as
/// [`permission_path`] does. When either does not percent-decode, axum
/// gives neither, and the answer is `permission not found`.
fn assignment_path(path: Result<Path<(String, String)>, PathRejection>) -> (String, String) {
    path.map(|Path(ids)| ids).unwrap_or_default()
}

/// Creates a permission in the caller's org.
///
/// Needs `Permissions:Create`.
#[utoipa::path(
    post,
    path = "/permissions",
    tag = "Permissions",
    request_body = CreatePermissionBody,
    params(UserActionHeader, NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new permission", body = PermissionJson),
        (status = 400, description = "The body is malformed, an operation is unknown, the name is \
            taken, or `user action has already been used`; or the `X-DFNS-NONCE` is refused",
            body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Permissions:Create`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn create_permission<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    signed: Signed,
) -> Result<Json<PermissionJson>, ApiError> {
    let body: CreatePermissionBody = parse_json_for(&caller, CreatePermission, &signed.body)?;
    let permission = state
        .service
        .create_permission(&caller, &signed.request, &body.name, &body.operations)
        .await?;
    Ok(Json(PermissionJson::from(&permission)))
}

/// Lists the caller's org's permissions.
///
/// A page at a time; needs `Permissions:Read`.
#[utoipa::path(
    get,
    path = "/permissions",
    tag = "Permissions",
    params(ListQuery, NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of permissions", body = Page<PermissionJson>),
        (status = 400, description = "`limit` or `paginationToken` is not valid; or the \
            `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Permissions:Read`", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn list_permissions<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<PermissionJson>>, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::bad_request("query string is not valid"))?;
    let limit = parse_limit(query.limit.as_deref())?;
    let after = query
        .pagination_token
        .as_deref()
        .map(|token| decode_page_token(token, |id| domain::PermissionId::parse(id).ok()))
        .transpose()?;
    let page = state.service.list_permissions(&caller, after, limit).await?;
    Ok(Json(Page::new(
        page.permissions.iter().map(PermissionJson::from).collect(),
        page.next_after.as_ref().map(|id| id.as_str()),
    )))
}

/// One permission of the caller's org.
///
/// Needs `Permissions:Read`.
#[utoipa::path(
    get,
    path = "/permissions/{permissionId}",
    tag = "Permissions",
    params(("permissionId" = String, Path, description = "The permission, `pm-…`"), NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The permission", body = PermissionJson),
        (status = 400, description = "The `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Permissions:Read`", body = ErrorBody),
        (status = 404, description = "`permission not found`: unknown, of another org or not an \
            id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn get_permission<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<PermissionJson>, ApiError> {
    let id = permission_path(path);
    let permission = state.service.get_permission(&caller, &id).await?;
    Ok(Json(PermissionJson::from(&permission)))
}

/// Renames a permission or replaces its operations.
///
/// Needs `Permissions:Update`. `OrgAdmin` is immutable.
#[utoipa::path(
    put,
    path = "/permissions/{permissionId}",
    tag = "Permissions",
    request_body = UpdatePermissionBody,
    params(
        ("permissionId" = String, Path, description = "The permission, `pm-…`"),
        UserActionHeader,
        NonceHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The permission as updated", body = PermissionJson),
        (status = 400, description = "The body is malformed, an operation is unknown, the name is \
            taken, `permission is immutable`, `permission is archived`, `the org would lose its \
            last user who can assign permissions`, or `user action has already been used`; or the \
            `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Permissions:Update`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 404, description = "`permission not found`: unknown, of another org or not an \
            id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn update_permission<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<PermissionJson>, ApiError> {
    let id = permission_path(path);
    let body: UpdatePermissionBody = parse_json_for(&caller, UpdatePermission, &signed.body)?;
    let permission = state
        .service
        .update_permission(
            &caller,
            &signed.request,
            &id,
            body.name.as_deref(),
            body.operations.as_deref(),
        )
        .await?;
    Ok(Json(PermissionJson::from(&permission)))
}

/// Archives a permission for good.
///
/// All its assignments end. Needs `Permissions:Archive`; the body is
/// optional.
#[utoipa::path(
    put,
    path = "/permissions/{permissionId}/archive",
    tag = "Permissions",
    request_body = ArchivePermissionBody,
    params(
        ("permissionId" = String, Path, description = "The permission, `pm-…`"),
        UserActionHeader,
        NonceHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The permission as archived", body = PermissionJson),
        (status = 400, description = "The body is malformed or says `isArchived: false`, \
            `permission is immutable`, `permission is archived`, `the org would lose its last \
            user who can assign permissions`, or `user action has already been used`; or the \
            `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Permissions:Archive`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 404, description = "`permission not found`: unknown, of another org or not an \
            id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn archive_permission<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<PermissionJson>, ApiError> {
    let id = permission_path(path);
    // The body is optional: the Python and Go SDKs may send none.
    if !signed.body.is_empty() {
        let body: ArchivePermissionBody = parse_json_for(&caller, ArchivePermission, &signed.body)?;
        if body.is_archived == Some(false) {
            return Err(ApiError::bad_request("isArchived must be true: archives are final"));
        }
    }
    let permission = state.service.archive_permission(&caller, &signed.request, &id).await?;
    Ok(Json(PermissionJson::from(&permission)))
}

/// Assigns a permission to a user.
///
/// The user is a live one of the caller's org. Needs `Permissions:Assign`.
#[utoipa::path(
    post,
    path = "/permissions/{permissionId}/assignments",
    tag = "Permissions",
    request_body = CreateAssignmentBody,
    params(
        ("permissionId" = String, Path, description = "The permission, `pm-…`"),
        UserActionHeader,
        NonceHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new assignment", body = AssignmentJson),
        (status = 400, description = "The body is malformed, `permission is archived`, \
            `permission already assigned`, or `user action has already been used`; or the \
            `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Permissions:Assign`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 404, description = "`permission not found` or `user not found`",
            body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn create_assignment<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<AssignmentJson>, ApiError> {
    let id = permission_path(path);
    let body: CreateAssignmentBody = parse_json_for(&caller, AssignPermission, &signed.body)?;
    let assignment =
        state.service.assign_permission(&caller, &signed.request, &id, &body.identity_id).await?;
    Ok(Json(AssignmentJson::from(&assignment)))
}

/// Ends an assignment.
///
/// Needs `Permissions:Revoke`.
#[utoipa::path(
    delete,
    path = "/permissions/{permissionId}/assignments/{assignmentId}",
    tag = "Permissions",
    params(
        ("permissionId" = String, Path, description = "The permission, `pm-…`"),
        ("assignmentId" = String, Path, description = "The assignment, `as-…`"),
        UserActionHeader,
        NonceHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The assignment as ended", body = AssignmentJson),
        (status = 400, description = "`the org would lose its last user who can assign \
            permissions`, or `user action has already been used`; or the `X-DFNS-NONCE` is \
            refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Permissions:Revoke`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 404, description = "`permission not found`, or `assignment not found`: unknown, \
            ended, of another permission or org, or not an id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn delete_assignment<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<(String, String)>, PathRejection>,
    signed: Signed,
) -> Result<Json<AssignmentJson>, ApiError> {
    let (permission_id, assignment_id) = assignment_path(path);
    let assignment = state
        .service
        .revoke_assignment(&caller, &signed.request, &permission_id, &assignment_id)
        .await?;
    Ok(Json(AssignmentJson::from(&assignment)))
}

/// The current assignments of a permission.
///
/// Needs `Permissions:Assignments:Read`.
#[utoipa::path(
    get,
    path = "/permissions/{permissionId}/assignments",
    tag = "Permissions",
    params(("permissionId" = String, Path, description = "The permission, `pm-…`"), NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every current assignment, on one page",
            body = Page<AssignmentJson>),
        (status = 400, description = "The `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Permissions:Assignments:Read`",
            body = ErrorBody),
        (status = 404, description = "`permission not found`: unknown, of another org or not an \
            id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn list_assignments<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Page<AssignmentJson>>, ApiError> {
    let id = permission_path(path);
    let assignments = state.service.list_assignments(&caller, &id).await?;
    Ok(Json(Page::new(assignments.iter().map(AssignmentJson::from).collect(), None)))
}
