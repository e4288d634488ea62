//! The JSON shapes of the API, as the official SDKs read and write them.

use app::{Assertion, IssuedChallenge};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use domain::{HttpMethod, User, UserKind};
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// base64url as signers send it: padded or not.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `POST /auth/login/init`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginInitBody {
    pub(crate) username: String,
    pub(crate) org_id: String,
}

/// `POST /auth/login` and `POST /auth/action`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedChallengeBody {
    pub(crate) challenge_identifier: String,
    pub(crate) first_factor: FirstFactor,
    #[allow(dead_code, reason = "accepted for the SDKs' sake; no second factor is asked")]
    pub(crate) second_factor: Option<serde_json::Value>,
}

/// A first factor; only `Key` credentials exist on this server.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind")]
pub(crate) enum FirstFactor {
    /// An asymmetric key's assertion.
    Key {
        #[serde(rename = "credentialAssertion")]
        credential_assertion: KeyAssertion,
    },
}

/// A `Key` credential's assertion, still in base64url.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyAssertion {
    cred_id: String,
    client_data: String,
    signature: String,
    /// Ignored: the stored public key decides the algorithm.
    #[allow(dead_code, reason = "read so that SDKs may send it; never trusted")]
    algorithm: Option<String>,
}

impl FirstFactor {
    /// The decoded assertion.
    pub(crate) fn into_assertion(self) -> Result<Assertion, ApiError> {
        let FirstFactor::Key { credential_assertion: a } = self;
        let decode = |field: &str, value: &str| {
            BASE64URL.decode(value).map_err(|_| {
                ApiError::bad_request(format!(
                    "firstFactor.credentialAssertion.{field} is not valid base64url"
                ))
            })
        };
        Ok(Assertion {
            client_data: decode("clientData", &a.client_data)?,
            signature: decode("signature", &a.signature)?,
            cred_id: a.cred_id,
        })
    }
}

/// The methods a user action can be signed for, as the SDKs spell them.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) enum WireMethod {
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "GET")]
    Get,
}

impl From<WireMethod> for HttpMethod {
    fn from(method: WireMethod) -> HttpMethod {
        match method {
            WireMethod::Post => HttpMethod::Post,
            WireMethod::Put => HttpMethod::Put,
            WireMethod::Delete => HttpMethod::Delete,
            WireMethod::Get => HttpMethod::Get,
        }
    }
}

/// Which service a user action is for; this server is the `Api`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) enum ServerKind {
    Api,
    Staff,
}

/// `POST /auth/action/init`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActionInitBody {
    pub(crate) user_action_payload: String,
    pub(crate) user_action_http_method: WireMethod,
    pub(crate) user_action_http_path: String,
    pub(crate) user_action_server_kind: Option<ServerKind>,
}

/// The user kinds a client may name.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) enum WireUserKind {
    CustomerEmployee,
    EndUser,
    DfnsStaff,
}

impl From<WireUserKind> for UserKind {
    fn from(kind: WireUserKind) -> UserKind {
        match kind {
            WireUserKind::CustomerEmployee => UserKind::CustomerEmployee,
            WireUserKind::EndUser => UserKind::EndUser,
            WireUserKind::DfnsStaff => UserKind::DfnsStaff,
        }
    }
}

/// `POST /auth/users`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateUserBody {
    pub(crate) email: String,
    pub(crate) kind: WireUserKind,
    pub(crate) public_key: Option<String>,
    pub(crate) external_id: Option<String>,
    #[serde(rename = "isSSORequired")]
    pub(crate) is_sso_required: Option<bool>,
}

/// A challenge answer, for logins and user actions alike.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChallengeJson {
    challenge: String,
    challenge_identifier: String,
    supported_credential_kinds: Vec<SupportedKind>,
    allow_credentials: AllowCredentials,
    user_verification: &'static str,
    attestation: &'static str,
    external_authentication_url: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SupportedKind {
    kind: &'static str,
    factor: &'static str,
    requires_second_factor: bool,
}

#[derive(Debug, Serialize)]
struct AllowCredentials {
    key: Vec<AllowedCredential>,
    webauthn: Vec<AllowedCredential>,
}

#[derive(Debug, Serialize)]
struct AllowedCredential {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
}

impl From<IssuedChallenge> for ChallengeJson {
    fn from(issued: IssuedChallenge) -> ChallengeJson {
        let key = issued
            .allowed_credentials
            .into_iter()
            .map(|id| AllowedCredential { kind: "public-key", id: id.as_str().to_owned() })
            .collect();
        ChallengeJson {
            challenge: issued.challenge.challenge,
            challenge_identifier: issued.challenge.id.as_str().to_owned(),
            supported_credential_kinds: vec![SupportedKind {
                kind: "Key",
                factor: "first",
                requires_second_factor: false,
            }],
            allow_credentials: AllowCredentials { key, webauthn: Vec::new() },
            user_verification: "required",
            attestation: "none",
            external_authentication_url: "",
        }
    }
}

/// A user, as every user endpoint answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserJson {
    user_id: String,
    kind: &'static str,
    username: String,
    name: String,
    org_id: String,
    credential_uuid: String,
    is_active: bool,
    is_registered: bool,
    is_service_account: bool,
    #[serde(rename = "isSSORequired")]
    is_sso_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    permission_assignments: Vec<AssignmentJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentJson {
    permission_name: String,
    permission_id: String,
    assignment_id: String,
    operations: Vec<&'static str>,
}

impl From<&User> for UserJson {
    fn from(user: &User) -> UserJson {
        UserJson {
            user_id: user.id.to_string(),
            kind: user.kind.as_str(),
            username: user.username.as_str().to_owned(),
            name: user.username.as_str().to_owned(),
            org_id: user.org_id.to_string(),
            credential_uuid: user
                .credential_uuid
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            is_active: user.is_active(),
            is_registered: user.is_registered,
            is_service_account: user.is_service_account,
            is_sso_required: user.is_sso_required,
            external_id: user.external_id.clone(),
            permission_assignments: user
                .assignments
                .iter()
                .map(|a| AssignmentJson {
                    permission_name: a.permission_name.clone(),
                    permission_id: a.permission_id.to_string(),
                    assignment_id: a.assignment_id.to_string(),
                    operations: a.operations.iter().map(|op| op.as_str()).collect(),
                })
                .collect(),
        }
    }
}

/// The page size of a listing when the client names none.
const DEFAULT_PAGE_SIZE: usize = 100;

/// A page of a listing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

impl<T> Page<T> {
    /// A page, continued after the id `next_after` when more follow.
    pub(crate) fn new(items: Vec<T>, next_after: Option<&str>) -> Page<T> {
        Page { items, next_page_token: next_after.map(|id| BASE64URL.encode(id)) }
    }
}

/// Parses the `limit` of a listing: 1 to the largest page, 100 when absent.
pub(crate) fn parse_limit(limit: Option<&str>) -> Result<usize, ApiError> {
    let Some(limit) = limit else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    limit.parse::<usize>().ok().filter(|n| (1..=app::MAX_PAGE_SIZE).contains(n)).ok_or_else(|| {
        ApiError::bad_request(format!("limit must be from 1 to {}", app::MAX_PAGE_SIZE))
    })
}

/// Decodes a pagination token into the id a page ended with; anything but
/// a token we issued is refused.
pub(crate) fn decode_page_token<T>(
    token: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, ApiError> {
    BASE64URL
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|id| parse(&id))
        .ok_or_else(|| ApiError::bad_request("paginationToken is not valid"))
}
