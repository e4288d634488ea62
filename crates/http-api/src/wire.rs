//! The JSON shapes of the API, as the official SDKs read and write them.

use app::{Assertion, IssuedChallenge};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use domain::{HttpMethod, User, UserKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiError;

/// base64url as signers send it: padded or not.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `POST /auth/login/init`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginInitBody {
    /// The user name, compared after NFC normalisation and case folding.
    #[schema(example = "jane.roe@example.com")]
    pub(crate) username: String,
    /// The org the user belongs to, `or-…`.
    pub(crate) org_id: String,
}

/// `POST /auth/login` and `POST /auth/action`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedChallengeBody {
    /// The `challengeIdentifier` of the challenge answered; single use.
    pub(crate) challenge_identifier: String,
    pub(crate) first_factor: FirstFactor,
    /// Accepted and ignored: no second factor is asked.
    #[allow(dead_code, reason = "accepted for the SDKs' sake; no second factor is asked")]
    pub(crate) second_factor: Option<serde_json::Value>,
}

/// A first factor; only `Key` credentials exist on this server.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind")]
pub(crate) enum FirstFactor {
    /// An asymmetric key's assertion.
    Key {
        #[serde(rename = "credentialAssertion")]
        credential_assertion: KeyAssertion,
    },
}

/// A `Key` credential's assertion, still in base64url.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyAssertion {
    /// One of the credentials the challenge allows.
    cred_id: String,
    /// base64url of the JSON `{"type": "key.get", "challenge": …}` signed.
    client_data: String,
    /// base64url of the signature over the decoded `clientData` bytes.
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
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[schema(as = UserActionHttpMethod)]
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
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[schema(as = UserActionServerKind)]
pub(crate) enum ServerKind {
    Api,
    Staff,
}

/// `POST /auth/action/init`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActionInitBody {
    /// The exact body the protected request will send, `""` for none.
    #[schema(example = "{}")]
    pub(crate) user_action_payload: String,
    pub(crate) user_action_http_method: WireMethod,
    /// The path as it will be sent, without the query string.
    #[schema(example = "/auth/users/us-3v9kq-2m1c8-7tq0d5l3h2b9a8xw")]
    pub(crate) user_action_http_path: String,
    /// `Api` when given; `Staff` is refused.
    pub(crate) user_action_server_kind: Option<ServerKind>,
}

/// The user kinds a client may name.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[schema(as = UserKind)]
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateUserBody {
    /// The new user's name; unique among the org's users not archived.
    #[schema(example = "jane.roe@example.com")]
    pub(crate) email: String,
    pub(crate) kind: WireUserKind,
    /// A PEM public key (SPKI): registers a `Key` credential at once.
    pub(crate) public_key: Option<String>,
    pub(crate) external_id: Option<String>,
    #[serde(rename = "isSSORequired")]
    pub(crate) is_sso_required: Option<bool>,
}

/// A challenge answer, for logins and user actions alike.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Challenge)]
pub(crate) struct ChallengeJson {
    /// Random, base64url; what the credential signs inside `clientData`.
    challenge: String,
    /// Names this challenge in the answer; opaque and single use.
    challenge_identifier: String,
    supported_credential_kinds: Vec<SupportedKind>,
    allow_credentials: AllowCredentials,
    #[schema(example = "required")]
    user_verification: &'static str,
    #[schema(example = "none")]
    attestation: &'static str,
    #[schema(example = "")]
    external_authentication_url: &'static str,
}

/// A kind of credential that may answer a challenge.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SupportedCredentialKind)]
struct SupportedKind {
    #[schema(example = "Key")]
    kind: &'static str,
    #[schema(example = "first")]
    factor: &'static str,
    requires_second_factor: bool,
}

/// The caller's active credentials that may answer, by kind.
#[derive(Debug, Serialize, ToSchema)]
struct AllowCredentials {
    key: Vec<AllowedCredential>,
    webauthn: Vec<AllowedCredential>,
}

/// One credential that may answer a challenge.
#[derive(Debug, Serialize, ToSchema)]
struct AllowedCredential {
    #[serde(rename = "type")]
    #[schema(example = "public-key")]
    kind: &'static str,
    /// The `credId` to put in the assertion.
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
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = User)]
pub(crate) struct UserJson {
    #[schema(example = "us-3v9kq-2m1c8-7tq0d5l3h2b9a8xw")]
    user_id: String,
    /// `CustomerEmployee`, `EndUser`, `DfnsStaff` or `AccountUser`.
    #[schema(example = "CustomerEmployee")]
    kind: &'static str,
    username: String,
    /// The user name again, as the SDKs expect.
    name: String,
    org_id: String,
    /// The primary credential, or empty when the user has none.
    credential_uuid: String,
    /// False once deactivated or archived.
    is_active: bool,
    /// The user has at least one credential.
    is_registered: bool,
    is_service_account: bool,
    #[serde(rename = "isSSORequired")]
    is_sso_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    /// The user's current assignments; empty once archived.
    permission_assignments: Vec<AssignmentJson>,
}

/// A permission a user holds, with the operations it allows.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PermissionAssignment)]
struct AssignmentJson {
    permission_name: String,
    permission_id: String,
    assignment_id: String,
    #[schema(example = json!(["Auth:Users:Read"]))]
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
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    items: Vec<T>,
    /// Present when more items follow: pass it as `paginationToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// `POST /auth/login` answers a login token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LoginToken)]
pub(crate) struct LoginTokenJson {
    /// The `Authorization: Bearer` token of every other request.
    pub(crate) token: String,
}

/// `POST /auth/action` answers a user-action token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = UserAction)]
pub(crate) struct UserActionJson {
    /// The `X-DFNS-USERACTION` header of the one request it was signed for.
    pub(crate) user_action: String,
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
