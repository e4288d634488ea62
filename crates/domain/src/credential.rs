//! Credentials: the keys a user signs logins and user actions with, and
//! the decision to register one more.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::{AuditEvent, AuditKind, Caller, CredentialUuid, OrgId, Timestamp, User, UserId};

/// The public id of a credential, as signers send it (`credId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredId(String);

impl CredId {
    /// The longest credential id accepted.
    pub const MAX_LEN: usize = 512;

    /// Parses a credential id: non-empty base64url characters.
    pub fn parse(candidate: &str) -> Option<CredId> {
        let valid = !candidate.is_empty()
            && candidate.len() <= CredId::MAX_LEN
            && candidate.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| CredId(candidate.to_owned()))
    }

    /// The id as it travels on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CredId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// An asymmetric key held by the user; it signs `key.get` client data.
    Key,
    /// A WebAuthn authenticator (a passkey or a security key); it signs
    /// its authenticator data and the hash of `webauthn.get` client data.
    Fido2,
}

/// Occurs when a credential kind is not one this server knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown credential kind {0:?}")]
pub struct UnknownCredentialKind(pub String);

impl CredentialKind {
    /// Every kind, in a fixed order.
    pub const ALL: &[CredentialKind] = &[CredentialKind::Key, CredentialKind::Fido2];

    /// The kind's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Key => "Key",
            CredentialKind::Fido2 => "Fido2",
        }
    }
}

impl FromStr for CredentialKind {
    type Err = UnknownCredentialKind;

    fn from_str(name: &str) -> Result<CredentialKind, UnknownCredentialKind> {
        CredentialKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownCredentialKind(name.to_owned()))
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credential registered to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The credential's record id.
    pub uuid: CredentialUuid,
    /// The id signers present.
    pub cred_id: CredId,
    /// The user it belongs to.
    pub user_id: UserId,
    /// The org of that user.
    pub org_id: OrgId,
    /// What kind of credential it is.
    pub kind: CredentialKind,
    /// The name its owner gave it; empty for the key given when the user
    /// was created.
    pub name: String,
    /// The public key, PEM-encoded SubjectPublicKeyInfo.
    pub public_key_pem: String,
    /// The highest signature counter the authenticator reported, 0 when
    /// it keeps none (every `Key` credential).
    pub sign_count: u32,
    /// The relying party a `Fido2` credential is scoped to.
    pub relying_party_id: Option<String>,
    /// The origin the credential was registered from, when its client
    /// data named one.
    pub origin: Option<String>,
    /// Whether it may be used.
    pub is_active: bool,
    /// When it was registered.
    pub created_at: Timestamp,
}

/// The longest credential name accepted, in characters.
pub const MAX_CREDENTIAL_NAME_CHARS: usize = 128;

/// Occurs when a credential cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterCredentialError {
    /// Occurs when the name is empty, too long, or has control or Unicode
    /// format characters (invisible, or reordering the text around them).
    #[error(
        "credentialName must be 1 to {MAX_CREDENTIAL_NAME_CHARS} characters, none of them \
         control or format characters"
    )]
    InvalidName,
    /// Occurs when the caller already has a credential with this id.
    #[error("a credential with this credId already exists")]
    CredIdTaken,
}

/// Decides the registration of `credential` to the caller itself.
///
/// Answers the caller's user as it must be stored (registered, with this
/// credential as its primary one if it had none) and the audit event.
/// Whether the credential id is free is decided by the store, atomically
/// with the insert.
pub fn register_credential(
    caller: &Caller,
    credential: &Credential,
    now: Timestamp,
) -> Result<(User, AuditEvent), RegisterCredentialError> {
    let name = credential.name.as_str();
    if name.is_empty()
        || name.chars().count() > MAX_CREDENTIAL_NAME_CHARS
        || name.chars().any(|c| c.is_control() || c.general_category() == GeneralCategory::Format)
    {
        return Err(RegisterCredentialError::InvalidName);
    }
    let user = caller.user();
    let registered = User {
        is_registered: true,
        credential_uuid: Some(
            user.credential_uuid.clone().unwrap_or_else(|| credential.uuid.clone()),
        ),
        ..user.clone()
    };
    let event = AuditEvent {
        kind: AuditKind::CredentialCreated,
        org_id: user.org_id.clone(),
        user_id: user.id.clone(),
        permission_id: None,
        actor: user.id.clone(),
        at: now,
    };
    Ok((registered, event))
}

/// The message a `Key` credential signs to register itself: the JSON
/// `{"clientDataHash": …, "publicKey": …}`, the SHA-256 of the client data
/// in lowercase hex and the PEM public key, in this order and without
/// spaces, as the official SDKs' key signers write it.
pub fn key_registration_message(client_data: &[u8], public_key_pem: &str) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Fingerprint<'a> {
        client_data_hash: String,
        public_key: &'a str,
    }

    let client_data_hash = hex::encode(Sha256::digest(client_data));
    let fingerprint = Fingerprint { client_data_hash, public_key: public_key_pem };
    serde_json::to_vec(&fingerprint).expect("two strings always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_registration_message_is_the_sdks_fingerprint() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let message = key_registration_message(b"{}", pem);
        assert_eq!(
            String::from_utf8(message).unwrap(),
            "{\"clientDataHash\":\
             \"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\
             \"publicKey\":\"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n\"}"
        );
    }

    #[test]
    fn credential_names_are_checked() {
        let caller_user = crate::User {
            id: UserId::from_random(&[1; 26]),
            org_id: OrgId::from_random(&[2; 26]),
            kind: crate::UserKind::CustomerEmployee,
            username: crate::Username::parse("a@example.com").unwrap(),
            credential_uuid: None,
            is_registered: false,
            is_service_account: false,
            is_sso_required: false,
            external_id: None,
            state: crate::LifecycleState::Active,
            assignments: Vec::new(),
            created_at: Timestamp::from_unix_millis(0),
            version: 3,
        };
        let caller = Caller::from_token_subject(caller_user.clone(), &caller_user.org_id).unwrap();
        let credential = |name: &str| Credential {
            uuid: CredentialUuid::from_random(&[3; 26]),
            cred_id: CredId::parse("abc").unwrap(),
            user_id: caller_user.id.clone(),
            org_id: caller_user.org_id.clone(),
            kind: CredentialKind::Fido2,
            name: name.to_owned(),
            public_key_pem: String::new(),
            sign_count: 0,
            relying_party_id: None,
            origin: None,
            is_active: true,
            created_at: Timestamp::from_unix_millis(0),
        };
        let now = Timestamp::from_unix_millis(5);
        for bad in ["", "a\nb", "key\u{202e}", &"x".repeat(MAX_CREDENTIAL_NAME_CHARS + 1)] {
            assert_eq!(
                register_credential(&caller, &credential(bad), now),
                Err(RegisterCredentialError::InvalidName)
            );
        }
        let (user, event) = register_credential(&caller, &credential("laptop"), now).unwrap();
        assert!(user.is_registered);
        assert_eq!(user.credential_uuid, Some(CredentialUuid::from_random(&[3; 26])));
        assert_eq!(user.version, 3);
        assert_eq!(event.kind, AuditKind::CredentialCreated);
        assert_eq!(event.actor, caller_user.id);
    }
}
