//! Extractors: who is calling, the body as bytes, and JSON with errors that
//! name the field.

use std::sync::Arc;

use app::{Ports, SignedRequest};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use domain::{Caller, HttpMethod, UserActionRequest, UserActionToken};
use serde::de::DeserializeOwned;

use crate::{ApiError, ApiState, MAX_BODY_BYTES};

/// The header that carries a user-action token.
const USER_ACTION_HEADER: &str = "x-dfns-useraction";

/// The header that carries the legacy request nonce.
const NONCE_HEADER: &str = "x-dfns-nonce";

/// The authenticated caller of a request, whose nonce, if it sent one or
/// the server requires one, was fresh and unused.
///
/// The nonce is checked after the bearer token, so that a caller who is
/// not authenticated learns that first, and before anything else, so that
/// a replayed request is refused before its permission or body is looked
/// at.
pub(crate) struct Authenticated(pub(crate) Caller);

impl<P: Ports> FromRequestParts<Arc<ApiState<P>>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState<P>>,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty());
        let Some(bearer) = bearer else {
            return Err(ApiError::unauthorized("authentication token is missing or invalid"));
        };
        let caller = state.service.authenticate(bearer).await?;
        let nonce = nonce_header(&parts.headers);
        state.service.check_nonce(nonce.as_deref(), state.options.require_nonce).await?;
        Ok(Authenticated(caller))
    }
}

/// A request without a bearer token whose nonce, if it sent one, was fresh
/// and unused. The server's option to require a nonce is for
/// authenticated requests only, so a login never needs one.
pub(crate) struct NonceChecked;

impl<P: Ports> FromRequestParts<Arc<ApiState<P>>> for NonceChecked {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState<P>>,
    ) -> Result<Self, Self::Rejection> {
        let nonce = nonce_header(&parts.headers);
        state.service.check_nonce(nonce.as_deref(), false).await?;
        Ok(NonceChecked)
    }
}

/// The `X-DFNS-NONCE` header, if any. A value that is not text cannot be
/// base64url, and is kept as the invalid text it is rather than taken for
/// a missing header.
fn nonce_header(headers: &HeaderMap) -> Option<String> {
    headers.get(NONCE_HEADER).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// A state-changing request, as the user action must match it: method,
/// path as sent, body byte for byte, and the `X-DFNS-USERACTION` header.
pub(crate) struct Signed {
    pub(crate) request: SignedRequest,
    pub(crate) body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let OriginalUri(uri) =
            OriginalUri::from_request_parts(&mut parts, state).await.map_err(|_| bad_body())?;
        let method = wire_method(&parts.method);
        let token = user_action_token(&parts.headers);
        let body = read_body(Request::from_parts(parts, body), state).await?;
        // A body that is not UTF-8 cannot equal any signed payload, which is
        // a JSON string; it gets no user action rather than a lossy one.
        let payload = std::str::from_utf8(&body).ok().map(str::to_owned);
        let (user_action, payload) = match (method, payload) {
            (Some(_), Some(payload)) => (token, payload),
            _ => (None, String::new()),
        };
        let request = UserActionRequest {
            method: method.unwrap_or(HttpMethod::Get),
            path: uri.path().to_owned(),
            payload,
        };
        Ok(Signed { request: SignedRequest { user_action, request }, body })
    }
}

fn wire_method(method: &Method) -> Option<HttpMethod> {
    method.as_str().parse().ok()
}

fn user_action_token(headers: &HeaderMap) -> Option<UserActionToken> {
    headers
        .get(USER_ACTION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .map(UserActionToken::from_wire)
}

/// The request body, with an over-long one refused as bad input.
pub(crate) struct RawBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_body(request, state).await.map(RawBody)
    }
}

async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::bad_request(format!("request body is larger than {MAX_BODY_BYTES} bytes"))
        } else {
            bad_body()
        }
    })
}

fn bad_body() -> ApiError {
    ApiError::bad_request("request body could not be read")
}

/// Parses a JSON body; the error names the field at fault.
///
/// The body is read as JSON first and only then as `T`: serde_json skips
/// members it does not need without checking their strings, and reports a
/// value of the wrong type for an enum as a syntax error. Reading the whole
/// value first makes every syntax error, and only those, "not valid JSON".
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("request body is empty; a JSON object is expected"));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| not_json(&e))?;
    // Every body of this API is an object; serde would also read a struct
    // from an array, and name the Rust type in its complaint.
    if !value.is_object() {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            ApiError::bad_request(format!("invalid request body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid {path}: {inner}"))
        }
    })
}

/// Parses the JSON body of a request that needs `operation`: a caller who
/// may not make the request learns that before anything about its body.
pub(crate) fn parse_json_for<T: DeserializeOwned>(
    caller: &Caller,
    operation: domain::Operation,
    body: &[u8],
) -> Result<T, ApiError> {
    parse_json(body).map_err(|malformed| refused_for(caller, operation, malformed))
}

/// What a request that needs `operation` and has bad input is answered:
/// the caller's lack of the permission, if it lacks it, else `bad`.
pub(crate) fn refused_for(
    caller: &Caller,
    operation: domain::Operation,
    bad: ApiError,
) -> ApiError {
    match caller.require(operation) {
        Ok(()) => bad,
        Err(denied) => app::AccessError::from(denied).into(),
    }
}

fn not_json(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("request body is not valid JSON: {}", without_position(error)))
}

/// serde_json ends its messages with a position; the field is what a client
/// needs.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.split_once(" at line ") {
        Some((what, _)) => what.to_owned(),
        None => message,
    }
}
