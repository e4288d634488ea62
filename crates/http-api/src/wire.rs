//! The JSON shapes of the API, as the official SDKs read and write them.
//!
//! Every type a body is read into says what it expects in client words
//! (`#[serde(expecting)]`), never a Rust type's name, and is read from the
//! one JSON shape the contract gives it (see [`crate::shape`]).

use app::{Assertion, IssuedChallenge, IssuedRegistration};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use domain::{
    ChallengeId, Credential, CredentialKind, HttpMethod, RelyingParty, Timestamp, User, UserKind,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::ApiError;
use crate::shape::read_only_from;

/// base64url as signers send it: padded or not.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `POST /auth/login/init`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    expecting = "a JSON object with username and orgId"
)]
pub(crate) struct LoginInitBody {
    /// The user name, compared after NFC normalisation and case folding.
    #[schema(example = "jane.roe@example.com")]
    pub(crate) username: String,
    /// The org the user belongs to, `or-…`.
    pub(crate) org_id: String,
}

/// `POST /auth/login` and `POST /auth/action`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    expecting = "a JSON object with challengeIdentifier and firstFactor"
)]
pub(crate) struct SignedChallengeBody {
    /// The `challengeIdentifier` of the challenge answered; single use.
    pub(crate) challenge_identifier: String,
    pub(crate) first_factor: FirstFactor,
    /// Accepted and ignored: no second factor is asked.
    #[allow(dead_code, reason = "accepted for the SDKs' sake; no second factor is asked")]
    pub(crate) second_factor: Option<serde_json::Value>,
}

/// A first factor: a `Key` or a `Fido2` credential's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    tag = "kind",
    expecting = "a JSON object with kind and credentialAssertion"
)]
pub(crate) enum FirstFactor {
    /// An asymmetric key's assertion.
    Key {
        #[serde(rename = "credentialAssertion")]
        credential_assertion: KeyAssertion,
    },
    /// A WebAuthn authenticator's assertion.
    Fido2 {
        #[serde(rename = "credentialAssertion")]
        credential_assertion: Fido2Assertion,
    },
}

/// A `Key` credential's assertion, still in base64url.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    expecting = "a JSON object with credId, clientData and signature"
)]
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

/// A WebAuthn assertion (`navigator.credentials.get`), still in base64url.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    expecting = "a JSON object with credId, clientData, authenticatorData and signature"
)]
pub(crate) struct Fido2Assertion {
    /// The credential's id, base64url of its raw id.
    cred_id: String,
    /// base64url of the client data JSON, `type` `webauthn.get`.
    client_data: String,
    /// base64url of the authenticator data.
    authenticator_data: String,
    /// base64url of the signature over the authenticator data and the
    /// SHA-256 of the client data.
    signature: String,
    /// Ignored: the credential id names the credential.
    #[allow(dead_code, reason = "read so that SDKs may send it; the credId decides")]
    user_handle: Option<String>,
}

read_only_from!(object: LoginInitBody, SignedChallengeBody, FirstFactor, KeyAssertion);
read_only_from!(object: Fido2Assertion, ActionInitBody, CreateUserBody, CredentialInitBody);
read_only_from!(object: CreateCredentialBody, CredentialInfo);
read_only_from!(name: WireMethod, ServerKind, WireUserKind, WireCredentialKind);

/// Parses the `challengeIdentifier` of a body. One that cannot be an
/// identifier this server issued is answered as an unknown one, before
/// anything is looked up or spent.
pub(crate) fn parse_challenge_id(identifier: &str) -> Result<ChallengeId, ApiError> {
    ChallengeId::parse(identifier).map_err(|refused| ApiError::bad_request(refused.to_string()))
}

/// The most characters an `externalId` may have **(our rule)**: it is
/// stored with the user and answered with it on every read.
pub(crate) const MAX_EXTERNAL_ID_CHARS: usize = 256;

/// Parses the `externalId` of a new user: at most
/// [`MAX_EXTERNAL_ID_CHARS`] characters, none of them a control
/// character, which no identifier of another system needs and not every
/// database can store.
pub(crate) fn parse_external_id(external_id: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(external_id) = external_id else {
        return Ok(None);
    };
    if external_id.chars().count() > MAX_EXTERNAL_ID_CHARS {
        return Err(ApiError::bad_request(format!(
            "externalId is longer than {MAX_EXTERNAL_ID_CHARS} characters"
        )));
    }
    if external_id.chars().any(char::is_control) {
        return Err(ApiError::bad_request("externalId must not contain control characters"));
    }
    Ok(Some(external_id))
}

/// Decodes the base64url value of `field`, naming it when it is not.
pub(crate) fn decode_base64url(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    BASE64URL
        .decode(value)
        .map_err(|_| ApiError::bad_request(format!("{field} is not valid base64url")))
}

impl FirstFactor {
    /// The decoded assertion.
    pub(crate) fn into_assertion(self) -> Result<Assertion, ApiError> {
        let field = |name: &str| format!("firstFactor.credentialAssertion.{name}");
        match self {
            FirstFactor::Key { credential_assertion: a } => Ok(Assertion {
                client_data: decode_base64url(&field("clientData"), &a.client_data)?,
                signature: decode_base64url(&field("signature"), &a.signature)?,
                authenticator_data: None,
                cred_id: a.cred_id,
            }),
            FirstFactor::Fido2 { credential_assertion: a } => Ok(Assertion {
                client_data: decode_base64url(&field("clientData"), &a.client_data)?,
                signature: decode_base64url(&field("signature"), &a.signature)?,
                authenticator_data: Some(decode_base64url(
                    &field("authenticatorData"),
                    &a.authenticator_data,
                )?),
                cred_id: a.cred_id,
            }),
        }
    }
}

/// The methods a user action can be signed for, as the SDKs spell them.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(remote = "Self", expecting = "an HTTP method name as a string")]
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
#[serde(remote = "Self", expecting = "a server kind name as a string")]
#[schema(as = UserActionServerKind)]
pub(crate) enum ServerKind {
    Api,
    Staff,
}

/// `POST /auth/action/init`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    expecting = "a JSON object with userActionPayload, userActionHttpMethod and \
                 userActionHttpPath"
)]
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
#[serde(remote = "Self", expecting = "a user kind name as a string")]
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
#[serde(remote = "Self", rename_all = "camelCase", expecting = "a JSON object with email and kind")]
pub(crate) struct CreateUserBody {
    /// The new user's name; unique among the org's users not archived.
    #[schema(example = "jane.roe@example.com")]
    pub(crate) email: String,
    pub(crate) kind: WireUserKind,
    /// A PEM public key (SPKI): registers a `Key` credential at once.
    pub(crate) public_key: Option<String>,
    /// The user's id in another system: at most 256 characters, without
    /// control characters.
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
    /// The relying party `Fido2` credentials are scoped to.
    rp: RelyingPartyJson,
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

/// A relying party, as WebAuthn clients take it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RelyingParty)]
pub(crate) struct RelyingPartyJson {
    /// The domain `Fido2` credentials are scoped to.
    #[schema(example = "example.com")]
    id: String,
    /// The name authenticators may show.
    #[schema(example = "orgusers")]
    name: String,
}

impl From<&RelyingParty> for RelyingPartyJson {
    fn from(rp: &RelyingParty) -> RelyingPartyJson {
        RelyingPartyJson { id: rp.id().to_owned(), name: rp.name().to_owned() }
    }
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

impl ChallengeJson {
    /// The challenge, for the relying party `rp`.
    pub(crate) fn new(issued: IssuedChallenge, rp: &RelyingParty) -> ChallengeJson {
        let (mut key, mut webauthn) = (Vec::new(), Vec::new());
        for allowed in issued.allowed_credentials {
            let listed = AllowedCredential { kind: "public-key", id: allowed.cred_id.to_string() };
            match allowed.kind {
                CredentialKind::Key => key.push(listed),
                CredentialKind::Fido2 => webauthn.push(listed),
            }
        }
        ChallengeJson {
            challenge: issued.challenge.challenge,
            challenge_identifier: issued.challenge.id.as_str().to_owned(),
            supported_credential_kinds: vec![
                SupportedKind { kind: "Key", factor: "first", requires_second_factor: false },
                SupportedKind { kind: "Fido2", factor: "either", requires_second_factor: false },
            ],
            allow_credentials: AllowCredentials { key, webauthn },
            rp: rp.into(),
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

/// The credential kinds a client may name.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(remote = "Self", expecting = "a credential kind name as a string")]
#[schema(as = CredentialKind)]
pub(crate) enum WireCredentialKind {
    Key,
    Fido2,
    Password,
    Totp,
    RecoveryKey,
    PasswordProtectedKey,
}

impl WireCredentialKind {
    /// The kind, when this server can register it.
    pub(crate) fn registrable(self) -> Result<CredentialKind, ApiError> {
        match self {
            WireCredentialKind::Key => Ok(CredentialKind::Key),
            WireCredentialKind::Fido2 => Ok(CredentialKind::Fido2),
            other => Err(ApiError::bad_request(format!(
                "credential kind {other:?} is not supported; Key and Fido2 are"
            ))),
        }
    }
}

/// `POST /auth/credentials/init`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(remote = "Self", expecting = "a JSON object with kind")]
pub(crate) struct CredentialInitBody {
    /// `Key` or `Fido2`; the other kinds the SDKs know are refused.
    pub(crate) kind: WireCredentialKind,
}

/// The COSE algorithms a `Fido2` authenticator may create keys with, in
/// order of preference: ES256, EdDSA, RS256.
const FIDO2_ALGORITHMS: [i64; 3] = [-7, -8, -257];

/// The COSE algorithms of the keys a `Key` credential may be: ES256,
/// ES256K, EdDSA, RS256.
const KEY_ALGORITHMS: [i64; 4] = [-7, -47, -8, -257];

/// A registration challenge, as `POST /auth/credentials/init` answers it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CredentialChallenge)]
pub(crate) struct RegistrationJson {
    /// `Key` or `Fido2`.
    #[schema(example = "Fido2")]
    kind: &'static str,
    user: RegistrationUserJson,
    /// Random, base64url; the new credential signs it.
    challenge: String,
    /// Names this challenge in `POST /auth/credentials`; opaque and single
    /// use.
    challenge_identifier: String,
    rp: RelyingPartyJson,
    #[schema(example = "none")]
    attestation: &'static str,
    pub_key_cred_params: Vec<KeyParamsJson>,
    /// `Fido2` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    authenticator_selection: Option<AuthenticatorSelectionJson>,
    /// `Fido2` only: the user's authenticators, not to register twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    exclude_credentials: Option<Vec<AllowedCredential>>,
    /// Empty: the `challengeIdentifier` replaces it.
    #[schema(example = "")]
    temporary_authentication_token: &'static str,
}

/// The user a new credential is for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CredentialUser)]
struct RegistrationUserJson {
    /// The user id; WebAuthn clients use its bytes as the user handle.
    id: String,
    display_name: String,
    name: String,
}

/// One key type the new credential may have.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PublicKeyCredentialParameters)]
struct KeyParamsJson {
    #[serde(rename = "type")]
    #[schema(example = "public-key")]
    kind: &'static str,
    /// A COSE algorithm: -7 ES256, -47 ES256K, -8 EdDSA, -257 RS256.
    #[schema(example = -7)]
    alg: i64,
}

/// What a `Fido2` authenticator must do.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuthenticatorSelection)]
struct AuthenticatorSelectionJson {
    #[schema(example = "required")]
    resident_key: &'static str,
    require_resident_key: bool,
    /// Always `required`: every assertion must show the user verified.
    #[schema(example = "required")]
    user_verification: &'static str,
}

impl RegistrationJson {
    /// The registration challenge, for the relying party `rp`.
    pub(crate) fn new(issued: IssuedRegistration, rp: &RelyingParty) -> RegistrationJson {
        let fido2 = issued.kind == CredentialKind::Fido2;
        let algorithms: &[i64] = if fido2 { &FIDO2_ALGORITHMS } else { &KEY_ALGORITHMS };
        let username = issued.user.username.as_str();
        RegistrationJson {
            kind: issued.kind.as_str(),
            user: RegistrationUserJson {
                id: issued.user.id.to_string(),
                display_name: username.to_owned(),
                name: username.to_owned(),
            },
            challenge: issued.challenge.challenge,
            challenge_identifier: issued.challenge.id.as_str().to_owned(),
            rp: rp.into(),
            attestation: "none",
            pub_key_cred_params: algorithms
                .iter()
                .map(|&alg| KeyParamsJson { kind: "public-key", alg })
                .collect(),
            authenticator_selection: fido2.then_some(AuthenticatorSelectionJson {
                resident_key: "required",
                require_resident_key: true,
                user_verification: "required",
            }),
            exclude_credentials: fido2.then(|| {
                issued
                    .existing
                    .iter()
                    .map(|id| AllowedCredential { kind: "public-key", id: id.to_string() })
                    .collect()
            }),
            temporary_authentication_token: "",
        }
    }
}

/// `POST /auth/credentials`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    expecting = "a JSON object with credentialKind, credentialInfo, credentialName and \
                 challengeIdentifier"
)]
pub(crate) struct CreateCredentialBody {
    /// The kind the registration challenge was issued for.
    pub(crate) credential_kind: WireCredentialKind,
    pub(crate) credential_info: CredentialInfo,
    /// What the user calls the credential.
    #[schema(example = "laptop passkey")]
    pub(crate) credential_name: String,
    /// The `challengeIdentifier` of `POST /auth/credentials/init`.
    pub(crate) challenge_identifier: String,
}

/// The new credential's answer to the registration challenge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    remote = "Self",
    rename_all = "camelCase",
    expecting = "a JSON object with credId, clientData and attestationData"
)]
pub(crate) struct CredentialInfo {
    /// The id the credential will be presented by: for `Fido2`, base64url
    /// of the authenticator's raw credential id.
    pub(crate) cred_id: String,
    /// base64url of the client data JSON, `type` `key.create` or
    /// `webauthn.create`.
    pub(crate) client_data: String,
    /// base64url of, for `Key`, the JSON `{"publicKey": PEM, "signature":
    /// hex of the signature over {"clientDataHash", "publicKey"}}`; for
    /// `Fido2`, the CBOR attestation object.
    pub(crate) attestation_data: String,
}

/// A credential, as the SDKs read it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Credential)]
pub(crate) struct CredentialJson {
    #[schema(example = "Fido2")]
    kind: &'static str,
    /// The id the credential is presented by (`credId`).
    credential_id: String,
    /// The record's id, `cr-…`.
    credential_uuid: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    date_created: String,
    is_active: bool,
    name: String,
    /// PEM SubjectPublicKeyInfo.
    public_key: String,
    /// For `Fido2`, the relying party; else empty.
    relying_party_id: String,
    /// The origin the credential was registered from, when known; else
    /// empty.
    origin: String,
}

impl From<&Credential> for CredentialJson {
    fn from(credential: &Credential) -> CredentialJson {
        CredentialJson {
            kind: credential.kind.as_str(),
            credential_id: credential.cred_id.to_string(),
            credential_uuid: credential.uuid.to_string(),
            date_created: rfc3339(credential.created_at),
            is_active: credential.is_active,
            name: credential.name.clone(),
            public_key: credential.public_key_pem.clone(),
            relying_party_id: credential.relying_party_id.clone().unwrap_or_default(),
            origin: credential.origin.clone().unwrap_or_default(),
        }
    }
}

/// `GET /auth/credentials` answers every credential at once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CredentialList)]
pub(crate) struct CredentialListJson {
    pub(crate) items: Vec<CredentialJson>,
}

/// A timestamp as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    let nanos = i128::from(at.unix_millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
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
