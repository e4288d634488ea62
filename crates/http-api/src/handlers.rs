//! One handler per endpoint: parse, call the use case, answer JSON.

use std::sync::Arc;

use app::{CreateUserRequest, Ports};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use domain::{UserActionRequest, UserKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{Authenticated, NonceChecked, RawBody, Signed, parse_json, parse_json_for};
use crate::wire::{
    ActionInitBody, ChallengeJson, CreateUserBody, LoginInitBody, Page, ServerKind,
    SignedChallengeBody, UserJson, decode_page_token, parse_limit,
};
use crate::{ApiError, ApiState};

type AppState<P> = State<Arc<ApiState<P>>>;

pub(crate) async fn login_init<P: Ports>(
    State(state): AppState<P>,
    _nonce: NonceChecked,
    RawBody(body): RawBody,
) -> Result<Json<ChallengeJson>, ApiError> {
    let body: LoginInitBody = parse_json(&body)?;
    let issued = state.service.login_init(&body.username, &body.org_id).await?;
    Ok(Json(issued.into()))
}

pub(crate) async fn login<P: Ports>(
    State(state): AppState<P>,
    _nonce: NonceChecked,
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
    let body: CreateUserBody =
        parse_json_for(&caller, domain::Operation::CreateUser, &signed.body)?;
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
) -> Result<Json<Page<UserJson>>, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::bad_request("query string is not valid"))?;
    let limit = parse_limit(query.limit.as_deref())?;
    let after = query
        .pagination_token
        .as_deref()
        .map(|token| decode_page_token(token, |id| domain::UserId::parse(id).ok()))
        .transpose()?;
    let kind = query
        .kind
        .as_deref()
        .map(|kind| {
            kind.parse::<UserKind>()
                .map_err(|_| ApiError::bad_request(format!("unknown kind {kind:?}")))
        })
        .transpose()?;

    let page = state.service.list_users(&caller, kind, after, limit).await?;
    Ok(Json(Page::new(
        page.users.iter().map(UserJson::from).collect(),
        page.next_after.as_ref().map(|id| id.as_str()),
    )))
}

pub(crate) async fn get_user<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    user_id: Result<Path<String>, PathRejection>,
) -> Result<Json<UserJson>, ApiError> {
    let user_id = user_id_of(user_id);
    let user = state.service.get_user(&caller, &user_id).await?;
    Ok(Json(UserJson::from(&user)))
}

pub(crate) async fn archive_user<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    user_id: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<UserJson>, ApiError> {
    let user_id = user_id_of(user_id);
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
    let user_id = user_id_of(user_id);
    let user = state.service.set_user_active(&caller, &signed.request, &user_id, active).await?;
    Ok(Json(UserJson::from(&user)))
}

/// The user id of the path. An id that does not even percent-decode is no
/// user's id: it goes on to the use case like any unknown id, so that the
/// caller's permission and user action are checked before the answer
/// `user not found`, as for every other target.
fn user_id_of(path: Result<Path<String>, PathRejection>) -> String {
    path.map(|Path(id)| id).unwrap_or_default()
}
