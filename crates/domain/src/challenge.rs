//! Challenges: random strings a caller signs to prove it holds a credential.
//!
//! A challenge is issued for one purpose (a login, or one user action),
//! lives for [`CHALLENGE_LIFETIME`], and is spent by the first attempt to
//! answer it, whether that attempt succeeds or not.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::{
    CredentialKind, Duration, OrgId, RelyingParty, Timestamp, UserActionRequest, UserId,
    WebAuthnError,
};

/// How long a challenge can be answered after it was issued.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_seconds(5 * 60);

/// How many random bytes make a challenge, and a challenge identifier.
pub const CHALLENGE_RANDOM_BYTES: usize = 32;

/// The most characters a `challengeIdentifier` may have. This server
/// issues 43 (base64url of [`CHALLENGE_RANDOM_BYTES`]); the margin leaves
/// room for longer identifiers without letting a client send kilobytes to
/// be looked up.
pub const MAX_CHALLENGE_ID_CHARS: usize = 128;

/// The opaque, single-use handle of a challenge (`challengeIdentifier`).
///
/// It is base64url without padding, as [`Challenge::issue`] writes it: a
/// client's identifier that could not be one never reaches a store, where
/// a NUL or another control character may not even be storable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChallengeId(String);

impl ChallengeId {
    /// Parses an identifier as a client sent it: 1 to
    /// [`MAX_CHALLENGE_ID_CHARS`] base64url characters (`A-Z`, `a-z`,
    /// `0-9`, `-`, `_`). Anything else is no challenge's identifier, and
    /// is refused exactly as an unknown one is.
    pub fn parse(identifier: &str) -> Result<ChallengeId, ChallengeError> {
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        let valid = (1..=MAX_CHALLENGE_ID_CHARS).contains(&identifier.len())
            && identifier.bytes().all(base64url);
        if valid { Ok(ChallengeId(identifier.to_owned())) } else { Err(ChallengeError::NotValid) }
    }

    /// An identifier as a client sent it, for a lookup that answers an
    /// unknown challenge as not found. One that [`ChallengeId::parse`]
    /// refuses becomes the empty identifier, which no issued challenge
    /// has, so that it is not found either and a store only ever sees
    /// base64url. Prefer [`ChallengeId::parse`], which spares the lookup.
    pub fn from_wire(identifier: &str) -> ChallengeId {
        ChallengeId::parse(identifier).unwrap_or_else(|_| ChallengeId(String::new()))
    }

    /// The identifier as it travels on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a challenge may be used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// Logging in as this user.
    Login {
        /// The org the user logs into.
        org_id: OrgId,
        /// The user logging in.
        user_id: UserId,
    },
    /// Signing one user action on behalf of this user.
    UserAction {
        /// The caller's org.
        org_id: OrgId,
        /// The caller.
        user_id: UserId,
        /// The request the signature will authorise.
        request: UserActionRequest,
    },
    /// Registering a new credential of this kind to this user.
    Registration {
        /// The user's org.
        org_id: OrgId,
        /// The user the credential will belong to.
        user_id: UserId,
        /// The kind of credential asked for.
        kind: CredentialKind,
    },
}

impl ChallengePurpose {
    /// The user the challenge was issued to.
    pub fn user_id(&self) -> &UserId {
        match self {
            ChallengePurpose::Login { user_id, .. }
            | ChallengePurpose::UserAction { user_id, .. }
            | ChallengePurpose::Registration { user_id, .. } => user_id,
        }
    }

    /// The org of the user the challenge was issued to.
    pub fn org_id(&self) -> &OrgId {
        match self {
            ChallengePurpose::Login { org_id, .. }
            | ChallengePurpose::UserAction { org_id, .. }
            | ChallengePurpose::Registration { org_id, .. } => org_id,
        }
    }
}

/// An issued challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The handle the client answers with.
    pub id: ChallengeId,
    /// The random string the client signs (base64url).
    pub challenge: String,
    /// What answering it is good for.
    pub purpose: ChallengePurpose,
    /// When it was issued.
    pub issued_at: Timestamp,
}

/// Occurs when a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Occurs when the challenge is unknown, expired, already presented,
    /// issued for another purpose or to another caller.
    #[error("challenge is not valid")]
    NotValid,
}

impl Challenge {
    /// Issues a challenge from two sets of random bytes the caller drew from
    /// a cryptographic generator: one for the challenge, one for its handle.
    pub fn issue(
        purpose: ChallengePurpose,
        challenge_random: &[u8; CHALLENGE_RANDOM_BYTES],
        id_random: &[u8; CHALLENGE_RANDOM_BYTES],
        now: Timestamp,
    ) -> Challenge {
        Challenge {
            id: ChallengeId(URL_SAFE_NO_PAD.encode(id_random)),
            challenge: URL_SAFE_NO_PAD.encode(challenge_random),
            purpose,
            issued_at: now,
        }
    }

    /// Succeeds when this challenge, just taken from the store, may be
    /// answered now by `presenter`: nobody yet for a login (`presenter` is
    /// `None`), the authenticated caller it was issued to for a user action
    /// or a registration.
    pub fn check(&self, now: Timestamp, presenter: Option<&UserId>) -> Result<(), ChallengeError> {
        if self.issued_at.is_older_than(CHALLENGE_LIFETIME, now) || now < self.issued_at {
            return Err(ChallengeError::NotValid);
        }
        let fits = match (&self.purpose, presenter) {
            (ChallengePurpose::Login { .. }, None) => true,
            (
                ChallengePurpose::UserAction { user_id, .. }
                | ChallengePurpose::Registration { user_id, .. },
                Some(caller),
            ) => user_id == caller,
            _ => false,
        };
        if fits { Ok(()) } else { Err(ChallengeError::NotValid) }
    }
}

/// Which ceremony a client data object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDataKind {
    /// A `Key` credential's assertion: `key.get`.
    Key,
    /// A `Key` credential's registration: `key.create`.
    KeyCreate,
    /// A WebAuthn assertion: `webauthn.get`.
    WebAuthn,
    /// A WebAuthn registration: `webauthn.create`.
    WebAuthnCreate,
}

impl ClientDataKind {
    const fn type_name(self) -> &'static str {
        match self {
            ClientDataKind::Key => "key.get",
            ClientDataKind::KeyCreate => "key.create",
            ClientDataKind::WebAuthn => "webauthn.get",
            ClientDataKind::WebAuthnCreate => "webauthn.create",
        }
    }

    const fn is_webauthn(self) -> bool {
        matches!(self, ClientDataKind::WebAuthn | ClientDataKind::WebAuthnCreate)
    }
}

/// The client data a signer signed, parsed as JSON.
///
/// Signers differ in what they add (`origin`, `crossOrigin`) and in key
/// order, so the object is parsed rather than compared with a template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClientData {
    /// The assertion type, `key.get` or `webauthn.get`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The challenge that was signed. A key signer copies the challenge
    /// string; a WebAuthn client signs base64url of the challenge's
    /// bytes, and the official SDKs pass it the challenge string's UTF-8.
    pub challenge: String,
    /// The origin of the page that ran a WebAuthn ceremony.
    #[serde(default)]
    pub origin: Option<String>,
    /// Whether that page was framed by another origin.
    #[serde(default, rename = "crossOrigin")]
    pub cross_origin: Option<bool>,
}

/// Occurs when client data does not answer the challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientDataError {
    /// Occurs when the bytes are not a JSON object with string `type` and
    /// `challenge` members.
    #[error("clientData is not a JSON object with type and challenge")]
    Malformed,
    /// Occurs when `origin` has a control character: no origin has one,
    /// and a registration stores the origin it was made on.
    #[error("clientData origin must not contain control characters")]
    MalformedOrigin,
    /// Occurs when `type` is not the one the credential kind signs.
    #[error("clientData type is not {expected}")]
    WrongType {
        /// The type that was expected.
        expected: &'static str,
    },
    /// Occurs when the signed challenge is not the one issued.
    #[error("clientData challenge does not match the issued challenge")]
    ChallengeMismatch,
}

impl ClientData {
    /// Parses decoded client data bytes.
    pub fn parse(bytes: &[u8]) -> Result<ClientData, ClientDataError> {
        // serde would also read the struct from a JSON array.
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|_| ClientDataError::Malformed)?;
        if !json.is_object() {
            return Err(ClientDataError::Malformed);
        }
        let data: ClientData =
            serde_json::from_value(json).map_err(|_| ClientDataError::Malformed)?;
        if data.origin.as_deref().is_some_and(|origin| origin.chars().any(char::is_control)) {
            return Err(ClientDataError::MalformedOrigin);
        }
        Ok(data)
    }

    /// Succeeds when this client data answers `challenge` for `kind`.
    pub fn answers(
        &self,
        kind: ClientDataKind,
        challenge: &Challenge,
    ) -> Result<(), ClientDataError> {
        if self.kind != kind.type_name() {
            return Err(ClientDataError::WrongType { expected: kind.type_name() });
        }
        let signed = if kind.is_webauthn() {
            // Padding is optional in base64url; clients differ.
            URL_SAFE_NO_PAD.decode(self.challenge.trim_end_matches('=')).ok()
        } else {
            Some(self.challenge.as_bytes().to_vec())
        };
        if signed.as_deref() != Some(challenge.challenge.as_bytes()) {
            return Err(ClientDataError::ChallengeMismatch);
        }
        Ok(())
    }

    /// Succeeds when a WebAuthn ceremony ran on an origin `rp` allows,
    /// in a page of its own.
    pub fn check_origin(&self, rp: &RelyingParty) -> Result<(), WebAuthnError> {
        let allowed = self.origin.as_deref().is_some_and(|origin| rp.allows_origin(origin))
            && self.cross_origin != Some(true);
        if allowed { Ok(()) } else { Err(WebAuthnError::OriginNotAllowed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrgId, UserId};

    fn login_challenge(now: Timestamp) -> Challenge {
        let purpose = ChallengePurpose::Login {
            org_id: OrgId::from_random(&[1; 26]),
            user_id: UserId::from_random(&[2; 26]),
        };
        Challenge::issue(purpose, &[7; 32], &[9; 32], now)
    }

    #[test]
    fn an_issued_challenge_identifier_parses_back() {
        let issued = login_challenge(Timestamp::from_unix_millis(0)).id;
        assert_eq!(ChallengeId::parse(issued.as_str()), Ok(issued.clone()));
        assert_eq!(ChallengeId::from_wire(issued.as_str()), issued);
    }

    #[test]
    fn a_challenge_identifier_that_is_not_short_base64url_is_not_valid() {
        let longest = "A".repeat(MAX_CHALLENGE_ID_CHARS);
        assert!(ChallengeId::parse(&longest).is_ok());
        assert!(ChallengeId::parse("a-b_C9").is_ok());
        let too_long = "A".repeat(MAX_CHALLENGE_ID_CHARS + 1);
        for refused in
            ["", "a\0b", "a\u{1}b", "a b", "a\nb", "a+b/c", "abc=", "é", "a\u{200b}b", &too_long]
        {
            assert_eq!(ChallengeId::parse(refused), Err(ChallengeError::NotValid), "{refused:?}");
        }
    }

    #[test]
    fn a_refused_identifier_from_the_wire_is_none_a_challenge_can_have() {
        let issued = login_challenge(Timestamp::from_unix_millis(0)).id;
        let refused = ChallengeId::from_wire("a\0b");
        assert_eq!(refused.as_str(), "");
        assert_eq!(ChallengeId::from_wire(&format!("{}\0", issued.as_str())), refused);
        assert_ne!(refused, issued);
    }

    #[test]
    fn a_challenge_expires_after_five_minutes() {
        let issued = Timestamp::from_unix_millis(1_000_000);
        let challenge = login_challenge(issued);
        let just_before = issued.plus(Duration::from_millis(CHALLENGE_LIFETIME.millis() - 1));
        assert_eq!(challenge.check(just_before, None), Ok(()));
        assert_eq!(
            challenge.check(issued.plus(CHALLENGE_LIFETIME), None),
            Err(ChallengeError::NotValid)
        );
    }

    #[test]
    fn a_login_challenge_cannot_sign_a_user_action() {
        let now = Timestamp::from_unix_millis(0);
        let challenge = login_challenge(now);
        let caller = challenge.purpose.user_id().clone();
        assert_eq!(challenge.check(now, Some(&caller)), Err(ChallengeError::NotValid));
    }

    #[test]
    fn client_data_is_parsed_in_any_key_order_with_extra_members() {
        let challenge = login_challenge(Timestamp::from_unix_millis(0));
        for json in [
            format!(r#"{{"type":"key.get","challenge":"{}"}}"#, challenge.challenge),
            format!(r#"{{"challenge":"{}","type":"key.get"}}"#, challenge.challenge),
            format!(
                r#"{{"challenge":"{}","crossOrigin":false,"origin":"https://x","type":"key.get"}}"#,
                challenge.challenge
            ),
        ] {
            let data = ClientData::parse(json.as_bytes()).unwrap();
            assert_eq!(data.answers(ClientDataKind::Key, &challenge), Ok(()), "{json}");
        }
    }

    #[test]
    fn client_data_must_name_the_right_type_and_challenge() {
        let challenge = login_challenge(Timestamp::from_unix_millis(0));
        let webauthn =
            format!(r#"{{"type":"webauthn.get","challenge":"{}"}}"#, challenge.challenge);
        let data = ClientData::parse(webauthn.as_bytes()).unwrap();
        assert!(matches!(
            data.answers(ClientDataKind::Key, &challenge),
            Err(ClientDataError::WrongType { .. })
        ));
        let other = ClientData::parse(br#"{"type":"key.get","challenge":"abc"}"#).unwrap();
        assert_eq!(
            other.answers(ClientDataKind::Key, &challenge),
            Err(ClientDataError::ChallengeMismatch)
        );
        assert_eq!(ClientData::parse(b"not json"), Err(ClientDataError::Malformed));
        assert_eq!(ClientData::parse(b"[1]"), Err(ClientDataError::Malformed));
    }

    #[test]
    fn client_data_must_be_an_object_not_an_array_of_its_members() {
        let challenge = login_challenge(Timestamp::from_unix_millis(0));
        let members = format!(r#"["key.get","{}",null,null]"#, challenge.challenge);
        assert_eq!(ClientData::parse(members.as_bytes()), Err(ClientDataError::Malformed));
    }

    #[test]
    fn client_data_whose_origin_has_a_control_character_is_refused() {
        let base = r#""type":"webauthn.get","challenge":"x""#;
        for origin in [r"http://localhost\u0000", r"http://local\u0007host", "http://localhost\\n"]
        {
            let json = format!(r#"{{{base},"origin":"{origin}"}}"#);
            assert_eq!(
                ClientData::parse(json.as_bytes()),
                Err(ClientDataError::MalformedOrigin),
                "{json}"
            );
        }
        let fine = format!(r#"{{{base},"origin":"http://localhost:3000"}}"#);
        assert!(ClientData::parse(fine.as_bytes()).is_ok());
    }

    #[test]
    fn webauthn_client_data_signs_the_challenge_bytes_in_base64url() {
        let challenge = login_challenge(Timestamp::from_unix_millis(0));
        let encoded = URL_SAFE_NO_PAD.encode(challenge.challenge.as_bytes());
        let json = format!(
            r#"{{"type":"webauthn.get","challenge":"{encoded}","origin":"http://localhost:3000"}}"#
        );
        let data = ClientData::parse(json.as_bytes()).unwrap();
        assert_eq!(data.answers(ClientDataKind::WebAuthn, &challenge), Ok(()));

        // The string itself, as a key signer sends it, is not the bytes.
        let raw = format!(r#"{{"type":"webauthn.get","challenge":"{}"}}"#, challenge.challenge);
        let data = ClientData::parse(raw.as_bytes()).unwrap();
        assert_eq!(
            data.answers(ClientDataKind::WebAuthn, &challenge),
            Err(ClientDataError::ChallengeMismatch)
        );
    }

    #[test]
    fn webauthn_client_data_must_come_from_an_allowed_origin_in_its_own_page() {
        let rp = RelyingParty::new("localhost", "orgusers").unwrap();
        let origin = |json: &str| ClientData::parse(json.as_bytes()).unwrap().check_origin(&rp);
        let base = r#""type":"webauthn.get","challenge":"x""#;
        assert_eq!(origin(&format!(r#"{{{base},"origin":"http://localhost:8080"}}"#)), Ok(()));
        assert_eq!(
            origin(&format!(r#"{{{base},"origin":"http://localhost","crossOrigin":false}}"#)),
            Ok(())
        );
        for refused in [
            format!(r#"{{{base}}}"#),
            format!(r#"{{{base},"origin":"https://evil.example"}}"#),
            format!(r#"{{{base},"origin":"http://localhost","crossOrigin":true}}"#),
        ] {
            assert_eq!(origin(&refused), Err(WebAuthnError::OriginNotAllowed), "{refused}");
        }
    }

    #[test]
    fn a_registration_challenge_is_answered_only_by_the_user_it_was_issued_to() {
        let now = Timestamp::from_unix_millis(0);
        let user = UserId::from_random(&[2; 26]);
        let purpose = ChallengePurpose::Registration {
            org_id: OrgId::from_random(&[1; 26]),
            user_id: user.clone(),
            kind: CredentialKind::Fido2,
        };
        let challenge = Challenge::issue(purpose, &[7; 32], &[9; 32], now);
        assert_eq!(challenge.check(now, Some(&user)), Ok(()));
        assert_eq!(
            challenge.check(now, Some(&UserId::from_random(&[3; 26]))),
            Err(ChallengeError::NotValid)
        );
        assert_eq!(challenge.check(now, None), Err(ChallengeError::NotValid));
    }
}
