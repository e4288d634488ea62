//! Credentials: the keys a user signs logins and user actions with.

use std::fmt;

use crate::{CredentialUuid, OrgId, Timestamp, UserId};

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
}

impl CredentialKind {
    /// The kind's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Key => "Key",
        }
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
    /// The public key, PEM-encoded SubjectPublicKeyInfo.
    pub public_key_pem: String,
    /// Whether it may be used.
    pub is_active: bool,
    /// When it was registered.
    pub created_at: Timestamp,
}
