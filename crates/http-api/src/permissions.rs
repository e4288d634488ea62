//! The `/permissions` endpoints: roles and their assignments.

use std::sync::Arc;

use app::Ports;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use domain::Operation::{ArchivePermission, AssignPermission, CreatePermission, UpdatePermission};
use domain::{Assignment, Permission, Timestamp};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::extract::{Authenticated, Signed, parse_json_for};
use crate::wire::{Page, decode_page_token, parse_limit};
use crate::{ApiError, ApiState};

type AppState<P> = State<Arc<ApiState<P>>>;

/// A permission as the SDKs read it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PermissionJson {
    id: String,
    name: String,
    operations: Vec<&'static str>,
    status: &'static str,
    is_immutable: bool,
    is_archived: bool,
    date_created: String,
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssignmentJson {
    id: String,
    permission_id: String,
    identity_id: String,
    is_immutable: bool,
    date_created: String,
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

/// A timestamp as RFC 3339 UTC with milliseconds.
fn rfc3339(at: Timestamp) -> String {
    let nanos = i128::from(at.unix_millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePermissionBody {
    name: String,
    operations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdatePermissionBody {
    name: Option<String>,
    operations: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ArchivePermissionBody {
    is_archived: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateAssignmentBody {
    identity_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    limit: Option<String>,
    pagination_token: Option<String>,
}

fn permission_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|_| ApiError::not_found("permission not found"))
}

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

pub(crate) async fn get_permission<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<PermissionJson>, ApiError> {
    let id = permission_path(path)?;
    let permission = state.service.get_permission(&caller, &id).await?;
    Ok(Json(PermissionJson::from(&permission)))
}

pub(crate) async fn update_permission<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<PermissionJson>, ApiError> {
    let id = permission_path(path)?;
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

pub(crate) async fn archive_permission<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<PermissionJson>, ApiError> {
    let id = permission_path(path)?;
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

pub(crate) async fn create_assignment<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<AssignmentJson>, ApiError> {
    let id = permission_path(path)?;
    let body: CreateAssignmentBody = parse_json_for(&caller, AssignPermission, &signed.body)?;
    let assignment =
        state.service.assign_permission(&caller, &signed.request, &id, &body.identity_id).await?;
    Ok(Json(AssignmentJson::from(&assignment)))
}

pub(crate) async fn delete_assignment<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<(String, String)>, PathRejection>,
    signed: Signed,
) -> Result<Json<AssignmentJson>, ApiError> {
    let Path((permission_id, assignment_id)) =
        path.map_err(|_| ApiError::not_found("assignment not found"))?;
    let assignment = state
        .service
        .revoke_assignment(&caller, &signed.request, &permission_id, &assignment_id)
        .await?;
    Ok(Json(AssignmentJson::from(&assignment)))
}

pub(crate) async fn list_assignments<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Page<AssignmentJson>>, ApiError> {
    let id = permission_path(path)?;
    let assignments = state.service.list_assignments(&caller, &id).await?;
    Ok(Json(Page::new(assignments.iter().map(AssignmentJson::from).collect(), None)))
}
