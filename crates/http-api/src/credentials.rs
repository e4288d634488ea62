//! The `/auth/credentials` endpoints: a user's own credentials.
//!
//! Every authenticated user may register credentials to itself and list
//! them; no permission is needed, but a registration is a user action,
//! signed with a credential the user already has.

use std::sync::Arc;

use app::{CreateCredentialRequest, Ports};
use axum::Json;
use axum::extract::State;

use crate::error::ErrorBody;
use crate::extract::{Authenticated, RawBody, Signed, parse_json};
use crate::openapi::{NonceHeader, UserActionHeader};
use crate::wire::{
    CreateCredentialBody, CredentialInitBody, CredentialJson, CredentialListJson, RegistrationJson,
    decode_base64url, parse_challenge_id,
};
use crate::{ApiError, ApiState};

type AppState<P> = State<Arc<ApiState<P>>>;

/// Starts registering a credential: a challenge for the new credential to
/// answer.
#[utoipa::path(
    post,
    path = "/auth/credentials/init",
    tag = "Credentials",
    request_body = CredentialInitBody,
    params(NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The registration challenge", body = RegistrationJson),
        (status = 400, description = "The body is malformed or names a kind other than `Key` and \
            `Fido2`; or the `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn credential_init<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    RawBody(body): RawBody,
) -> Result<Json<RegistrationJson>, ApiError> {
    let body: CredentialInitBody = parse_json(&body)?;
    let kind = body.kind.registrable()?;
    let issued = state.service.credential_init(&caller, kind).await?;
    Ok(Json(RegistrationJson::new(issued, state.service.relying_party())))
}

/// Registers a credential to the caller.
///
/// A `Key` answers the registration challenge with a signature of its
/// private key; a `Fido2` authenticator with an attestation of a new key
/// pair, on an origin of the server's relying party, the user verified.
#[utoipa::path(
    post,
    path = "/auth/credentials",
    tag = "Credentials",
    request_body = CreateCredentialBody,
    params(UserActionHeader, NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new credential", body = CredentialJson),
        (status = 400, description = "The body is malformed; `challenge is not valid`; the \
            client data, attestation data or public key cannot be read, or break a rule of the \
            relying party; the name is not valid; the `credId` is taken; `user action has \
            already been used`; or the `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active; or `invalid signature`", body = ErrorBody),
        (status = 403, description = "`user action signature is missing or invalid`",
            body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn create_credential<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
    signed: Signed,
) -> Result<Json<CredentialJson>, ApiError> {
    let body: CreateCredentialBody = parse_json(&signed.body)?;
    let info = body.credential_info;
    let field = |name: &str| format!("credentialInfo.{name}");
    let kind = body.credential_kind.registrable()?;
    let client_data = decode_base64url(&field("clientData"), &info.client_data)?;
    let attestation_data = decode_base64url(&field("attestationData"), &info.attestation_data)?;
    let challenge_id = parse_challenge_id(&body.challenge_identifier)?;
    let request = CreateCredentialRequest {
        challenge_id: challenge_id.as_str().to_owned(),
        kind,
        name: body.credential_name,
        cred_id: info.cred_id,
        client_data,
        attestation_data,
    };
    let credential = state.service.create_credential(&caller, &signed.request, request).await?;
    Ok(Json(CredentialJson::from(&credential)))
}

/// The caller's active credentials, oldest first.
#[utoipa::path(
    get,
    path = "/auth/credentials",
    tag = "Credentials",
    params(NonceHeader),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's credentials", body = CredentialListJson),
        (status = 400, description = "The `X-DFNS-NONCE` is refused", body = ErrorBody),
        (status = 401, description = "The login token is missing, invalid or expired, or its user \
            is no longer active", body = ErrorBody),
        (status = 500, description = "An unexpected failure, logged on the server",
            body = ErrorBody),
    ),
)]
pub(crate) async fn list_credentials<P: Ports>(
    State(state): AppState<P>,
    Authenticated(caller): Authenticated,
) -> Result<Json<CredentialListJson>, ApiError> {
    let credentials = state.service.list_credentials(&caller).await?;
    Ok(Json(CredentialListJson { items: credentials.iter().map(CredentialJson::from).collect() }))
}
