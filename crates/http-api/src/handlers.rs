//! One handler per endpoint: parse, call the use case, answer JSON.

use std::sync::Arc;

use app::{CreateUserRequest, Ports};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use domain::{UserActionRequest, UserKind};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ErrorBody;
use crate::extract::{
    Authenticated, NonceChecked, RawBody, Signed, parse_json, parse_json_for, refused_for,
};
use crate::openapi::{NonceHeader, UserActionHeader};
use crate::wire::{
    ActionInitBody, ChallengeJson, CreateUserBody, LoginInitBody, LoginTokenJson, Page, ServerKind,
    SignedChallengeBody, UserActionJson, UserJson, decode_page_token, parse_challenge_id,
    parse_external_id, parse_limit,
};
use crate::{ApiError, ApiState};

type AppState<P> = State<Arc<ApiState<P>>>;

/// Starts a login: a challenge for the user's credentials to sign.
#[utoipa::path(
    post,
    path = "/auth/login/init",
    tag = "Login",
    request_body = LoginInitBody,
    params(NonceHeader),
    responses(
        (status = 200, description = "The challenge to sign", body = ChallengeJson),
        (status = 400, description = "The body is malformed; or the `X-DFNS-NONCE` is refused",
            body = ErrorBody),
        (status = 401, description = "`user not found`: unknown, inactive or archived, one answer \
            for each", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn login_init<P: Ports>(
    State(state): AppState<P>,
    _nonce: NonceChecked,
    RawBody(body): RawBody,
) -> Result<Json<ChallengeJson>, ApiError> {
    let body: LoginInitBody = parse_json(&body)?;
    let issued = state.service.login_init(&body.username, &body.org_id).await?;
    Ok(Json(ChallengeJson::new(issued, state.service.relying_party())))
}

/// Completes a login with a signed challenge: a login token.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "Login",
    request_body = SignedChallengeBody,
    params(NonceHeader),
    responses(
        (status = 200, description = "The login token", body = LoginTokenJson),
        (status = 400, description = "The body is malformed, or `challenge is not valid`: \
            unknown, expired, used before or issued to someone else; or the `X-DFNS-NONCE` is \
            refused", body = ErrorBody),
        (status = 401, description = "`user not found` or `invalid signature`", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn login<P: Ports>(
    State(state): AppState<P>,
    _nonce: NonceChecked,
    RawBody(body): RawBody,
) -> Result<Json<LoginTokenJson>, ApiError> {
    let body: SignedChallengeBody = parse_json(&body)?;
    let assertion = body.first_factor.into_assertion()?;
    let challenge_id = parse_challenge_id(&body.challenge_identifier)?;
    let token = state.service.login(challenge_id.as_str(), &assertion).await?;
    Ok(Json(LoginTokenJson { token }))
}

/// Starts a user action: a challenge that binds the request to be signed.
#[utoipa::path(
    post,
    path = "/auth/action/init",
    tag = "User actions",
    request_body = ActionInitBody,
    params(NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The challenge to sign", body = ChallengeJson),
        (status = 400, description = "The body is malformed, names the `Staff` server, a path \
            without a leading `/` or with white space or control characters, or a payload with a \
            NUL; or the `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn action_init<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    RawBody(body): RawBody,
) -> Result<Json<ChallengeJson>, ApiError> {
    let body: ActionInitBody = parse_json(&body)?;
    if matches!(body.user_action_server_kind, Some(ServerKind::Staff)) {
        return Err(ApiError::bad_request("userActionServerKind Staff is not served here"));
    }
    let request = UserActionRequest::parse(
        body.user_action_http_method.into(),
        body.user_action_http_path,
        body.user_action_payload,
    )
    .map_err(|refused| ApiError::bad_request(refused.to_string()))?;
    let issued = state.service.action_init(&caller, request).await?;
    Ok(Json(ChallengeJson::new(issued, state.service.relying_party())))
}

/// Completes a user action with a signed challenge.
///
/// The answer is a single-use token for the one request it was signed for.
#[utoipa::path(
    post,
    path = "/auth/action",
    tag = "User actions",
    request_body = SignedChallengeBody,
    params(NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user-action token", body = UserActionJson),
        (status = 400, description = "The body is malformed, or `challenge is not valid`: \
            unknown, expired, used before or issued to someone else; or the `X-DFNS-NONCE` is \
            refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, its user is \
            no longer active, or `invalid signature`", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn action<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    RawBody(body): RawBody,
) -> Result<Json<UserActionJson>, ApiError> {
    let body: SignedChallengeBody = parse_json(&body)?;
    let assertion = body.first_factor.into_assertion()?;
    let challenge_id = parse_challenge_id(&body.challenge_identifier)?;
    let token = state.service.action(&caller, challenge_id.as_str(), &assertion).await?;
    Ok(Json(UserActionJson { user_action: token.as_str().to_owned() }))
}

/// Creates a user in the caller's org.
///
/// Needs `Auth:Users:Create`.
#[utoipa::path(
    post,
    path = "/auth/users",
    tag = "Users",
    request_body = CreateUserBody,
    params(UserActionHeader, NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new user", body = UserJson),
        (status = 400, description = "The body is malformed, the email, public key or external \
            id is not valid, the user name is taken, or `user action has already been used`; or \
            the `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Auth:Users:Create`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn create_user<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    signed: Signed,
) -> Result<Json<UserJson>, ApiError> {
    let body: CreateUserBody =
        parse_json_for(&caller, domain::Operation::CreateUser, &signed.body)?;
    // The use case takes the external id as it is; it is read here, with
    // the body, so that a bad one is refused before anything is spent.
    let external_id = parse_external_id(body.external_id)
        .map_err(|bad| refused_for(&caller, domain::Operation::CreateUser, bad))?;
    let request = CreateUserRequest {
        email: body.email,
        kind: body.kind.into(),
        public_key: body.public_key,
        external_id,
        is_sso_required: body.is_sso_required.unwrap_or(false),
    };
    let user = state.service.create_user(&caller, &signed.request, request).await?;
    Ok(Json(UserJson::from(&user)))
}

/// The query of `GET /auth/users`, as strings so that each bad value gets
/// its own message.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(
    rename_all = "camelCase",
    expecting = "a query string with limit, paginationToken and kind"
)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// How many users, from 1 to 200; 100 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The `nextPageToken` of the page before; opaque.
    pagination_token: Option<String>,
    /// Only users of this kind: `CustomerEmployee`, `EndUser`, `DfnsStaff`
    /// or `AccountUser`.
    kind: Option<String>,
}

/// Lists the caller's org's users that are not archived.
///
/// A page at a time; needs `Auth:Users:Read`.
#[utoipa::path(
    get,
    path = "/auth/users",
    tag = "Users",
    params(ListQuery, NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = Page<UserJson>),
        (status = 400, description = "`limit`, `paginationToken` or `kind` is not valid; or the \
            `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Auth:Users:Read`", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
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

/// One user of the caller's org.
///
/// Needs `Auth:Users:Read`.
#[utoipa::path(
    get,
    path = "/auth/users/{userId}",
    tag = "Users",
    params(("userId" = String, Path, description = "The user, `us-…`"), NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserJson),
        (status = 400, description = "The `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Auth:Users:Read`", body = ErrorBody),
        (status = 404, description = "`user not found`: unknown, archived, of another org or not \
            an id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn get_user<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    user_id: Result<Path<String>, PathRejection>,
) -> Result<Json<UserJson>, ApiError> {
    let user_id = user_id_of(user_id);
    let user = state.service.get_user(&caller, &user_id).await?;
    Ok(Json(UserJson::from(&user)))
}

/// Archives a user for good.
///
/// The user is gone from the API, its assignments end, and nothing it held
/// works any more. Needs `Auth:Users:Delete`.
#[utoipa::path(
    delete,
    path = "/auth/users/{userId}",
    tag = "Users",
    params(
        ("userId" = String, Path, description = "The user, `us-…`"),
        UserActionHeader,
        NonceHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user as archived", body = UserJson),
        (status = 400, description = "`a user cannot archive itself`, `the org would lose its \
            last user who can assign permissions`, or `user action has already been used`; or the \
            `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Auth:Users:Delete`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 404, description = "`user not found`: unknown, archived, of another org or not \
            an id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
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

/// Activates a user.
///
/// A no-op on an active one. Needs `Auth:Users:Activate`.
#[utoipa::path(
    put,
    path = "/auth/users/{userId}/activate",
    tag = "Users",
    params(
        ("userId" = String, Path, description = "The user, `us-…`"),
        UserActionHeader,
        NonceHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, active", body = UserJson),
        (status = 400, description = "`user action has already been used`; or the `X-DFNS-NONCE` \
            is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Auth:Users:Activate`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 404, description = "`user not found`: unknown, archived, of another org or not \
            an id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn activate_user<P: Ports>(
    state: AppState<P>,
    caller: Authenticated,
    user_id: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Json<UserJson>, ApiError> {
    set_active(state, caller, user_id, signed, true).await
}

/// Deactivates a user.
///
/// Its login tokens stop working at once; a no-op on an inactive one. Needs
/// `Auth:Users:Deactivate`.
#[utoipa::path(
    put,
    path = "/auth/users/{userId}/deactivate",
    tag = "Users",
    params(
        ("userId" = String, Path, description = "The user, `us-…`"),
        UserActionHeader,
        NonceHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, inactive", body = UserJson),
        (status = 400, description = "`a user cannot deactivate itself`, `the org would lose its \
            last user who can assign permissions`, or `user action has already been used`; or the \
            `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 403, description = "The caller lacks `Auth:Users:Deactivate`, or `user action \
            signature is missing or invalid`", body = ErrorBody),
        (status = 404, description = "`user not found`: unknown, archived, of another org or not \
            an id", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
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
