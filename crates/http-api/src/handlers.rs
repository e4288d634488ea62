//! One handler per endpoint: parse, call the use case, answer JSON.

use std::sync::Arc;

use app::{CreateUserRequest, Ports};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use domain::{UserActionRequest, UserKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{Authenticated, RawBody, Signed, parse_json};
use crate::wire::{
    ActionInitBody, ChallengeJson, CreateUserBody, LoginInitBody, ServerKind, SignedChallengeBody,
    UserJson, UsersPageJson, decode_page_token, encode_page_token,
};
use crate::{ApiError, ApiState};

type AppState<P> = State<Arc<ApiState<P>>>;

/// The largest and the default page size of a listing.
const DEFAULT_PAGE_SIZE: usize = 100;

pub(crate) async fn login_init<P: Ports>(
    State(state): AppState<P>,
    RawBody(body): RawBody,
) -> Result<Json<ChallengeJson>, ApiError> {
    let body: LoginInitBody = parse_json(&body)?;
    let issued = state.service.login_init(&body.username, &body.org_id).await?;
    Ok(Json(issued.into()))
}

pub(crate) async fn login<P: Ports>(
    State(state): AppState<P>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body: SignedChallengeBody = parse_json(&body)?;
    let assertion = body.first_factor.into_assertion()?;
    let token = state.service.login(&body.challenge_identifier, &assertion).await?;
    Ok(Json(json!({ "token": token })))
}

pub(crate) async fn action_init<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    RawBody(body): RawBody,
) -> Result<Json<ChallengeJson>, ApiError> {
    let body: ActionInitBody = parse_json(&body)?;
    if matches!(body.user_action_server_kind, Some(ServerKind::Staff)) {
        return Err(ApiError::bad_request("userActionServerKind Staff is not served here"));
    }
    if !body.user_action_http_path.starts_with('/') {
        return Err(ApiError::bad_request("userActionHttpPath must start with /"));
    }
    let request = UserActionRequest {
        method: body.user_action_http_method.into(),
        path: body.user_action_http_path,
        payload: body.user_action_payload,
    };
    let issued = state.service.action_init(&caller, request).await?;
    Ok(Json(issued.into()))
}

pub(crate) async fn action<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body: SignedChallengeBody = parse_json(&body)?;
    let assertion = body.first_factor.into_assertion()?;
    let token = state.service.action(&caller, &body.challenge_identifier, &assertion).await?;
    Ok(Json(json!({ "userAction": token.as_str() })))
}

pub(crate) async fn create_user<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    signed: Signed,
) -> Result<Json<UserJson>, ApiError> {
    let body: CreateUserBody = match parse_json(&signed.body) {
        Ok(body) => body,
        // A caller who may not create users learns that before anything
        // about its body.
        Err(e) => {
            caller.require(domain::Operation::CreateUser).map_err(app::AccessError::from)?;
            return Err(e);
        }
    };
    let request = CreateUserRequest {
        email: body.email,
        kind: body.kind.into(),
        public_key: body.public_key,
        external_id: body.external_id,
        is_sso_required: body.is_sso_required.unwrap_or(false),
    };
    let user = state.service.create_user(&caller, &signed.request, request).await?;
    Ok(Json(UserJson::from(&user)))
}

/// The query of `GET /auth/users`, as strings so that each bad value gets
/// its own message.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    limit: Option<String>,
    pagination_token: Option<String>,
    kind: Option<String>,
}

pub(crate) async fn list_users<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UsersPageJson>, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::bad_request("query string is not valid"))?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE_SIZE,
        Some(limit) => limit
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=app::MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be from 1 to {}", app::MAX_PAGE_SIZE))
            })?,
    };
    let after = query.pagination_token.as_deref().map(decode_page_token).transpose()?;
    let kind = query
        .kind
        .as_deref()
        .map(|kind| {
            kind.parse::<UserKind>()
                .map_err(|_| ApiError::bad_request(format!("unknown kind {kind:?}")))
        })
        .transpose()?;

    let page = state.service.list_users(&caller, kind, after, limit).await?;
    Ok(Json(UsersPageJson {
        items: page.users.iter().map(UserJson::from).collect(),
        next_page_token: page.next_after.as_ref().map(encode_page_token),
    }))
}

pub(crate) async fn get_user<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    user_id: Result<Path<String>, PathRejection>,
) -> Result<Json<UserJson>, ApiError> {
    let Path(user_id) = user_id.map_err(|_| ApiError::user_not_found())?;
    let user = state.service.get_user(&caller, &user_id).await?;
    Ok(Json(UserJson::from(&user)))
}

pub(crate) async fn archive_user<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    user_id: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<UserJson>, ApiError> {
    let Path(user_id) = user_id.map_err(|_| ApiError::user_not_found())?;
    let user = state.service.archive_user(&caller, &signed.request, &user_id).await?;
    Ok(Json(UserJson::from(&user)))
}

pub(crate) async fn activate_user<P: Ports>(
    state: AppState<P>,
    caller: Authenticated,
    user_id: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<UserJson>, ApiError> {
    set_active(state, caller, user_id, signed, true).await
}

pub(crate) async fn deactivate_user<P: Ports>(
    state: AppState<P>,
    caller: Authenticated,
    user_id: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<UserJson>, ApiError> {
    set_active(state, caller, user_id, signed, false).await
}

async fn set_active<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    user_id: Result<Path<String>, PathRejection>,
    signed: Signed,
    active: bool,
) -> Result<Json<UserJson>, ApiError> {
    let Path(user_id) = user_id.map_err(|_| ApiError::user_not_found())?;
    let user = state.service.set_user_active(&caller, &signed.request, &user_id, active).await?;
    Ok(Json(UserJson::from(&user)))
}
