//! WebAuthn, for `Fido2` credentials: the relying party this server is,
//! the authenticator data an authenticator signs, the attestation object
//! that registers one, and the signature counter that exposes a cloned
//! authenticator.
//!
//! Everything here parses bytes and applies the rules of the WebAuthn
//! specification; verifying the signature itself is the signature port's
//! work, over [`signed_message`].

use std::fmt;

use sha2::{Digest, Sha256};

/// The relying party: the domain whose credentials this server accepts.
///
/// An authenticator scopes every credential to one relying party id and
/// signs the SHA-256 of that id; a browser lets only origins on that
/// domain (or below it) ask for them.
#[derive(Clone, PartialEq, Eq)]
pub struct RelyingParty {
    id: String,
    name: String,
    id_hash: [u8; 32],
}

/// Occurs when a relying party id is not a domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relying party id {0:?} is not a lowercase domain name")]
pub struct RelyingPartyError(pub String);

impl RelyingParty {
    /// A relying party with this id (a lowercase domain name such as
    /// `example.com` or `localhost`) and a display name.
    pub fn new(id: &str, name: &str) -> Result<RelyingParty, RelyingPartyError> {
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if id.len() > 253 || !id.split('.').all(label_ok) {
            return Err(RelyingPartyError(id.to_owned()));
        }
        Ok(RelyingParty {
            id: id.to_owned(),
            name: name.to_owned(),
            id_hash: Sha256::digest(id.as_bytes()).into(),
        })
    }

    /// The relying party id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name authenticators may show.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a ceremony run by a page of `origin` may use this relying
    /// party's credentials: the origin's host is the id or a subdomain of
    /// it, over HTTPS, or over plain HTTP when the host is `localhost`,
    /// which browsers treat as secure.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Ok(url) = url::Url::parse(origin) else {
            return false;
        };
        let Some(url::Host::Domain(host)) = url.host() else {
            return false;
        };
        // An origin is a scheme, a host and a port, nothing more.
        let bare = url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
            && !origin.ends_with('/');
        let under_id = host == self.id
            || host.strip_suffix(self.id.as_str()).is_some_and(|rest| rest.ends_with('.'));
        let secure = url.scheme() == "https" || (url.scheme() == "http" && host == "localhost");
        bare && under_id && secure
    }
}

impl fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelyingParty").field("id", &self.id).field("name", &self.name).finish()
    }
}

/// The flags byte of authenticator data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatorFlags(u8);

impl AuthenticatorFlags {
    const USER_PRESENT: u8 = 0x01;
    const USER_VERIFIED: u8 = 0x04;
    const ATTESTED_CREDENTIAL_DATA: u8 = 0x40;
    const EXTENSION_DATA: u8 = 0x80;

    /// The flags as the authenticator set them.
    pub const fn from_byte(byte: u8) -> AuthenticatorFlags {
        AuthenticatorFlags(byte)
    }

    /// UP: a user touched or otherwise confirmed the authenticator.
    pub const fn user_present(self) -> bool {
        self.0 & Self::USER_PRESENT != 0
    }

    /// UV: the authenticator verified who the user is (PIN, biometrics).
    pub const fn user_verified(self) -> bool {
        self.0 & Self::USER_VERIFIED != 0
    }

    /// AT: attested credential data follows the counter.
    pub const fn has_attested_credential(self) -> bool {
        self.0 & Self::ATTESTED_CREDENTIAL_DATA != 0
    }

    /// ED: extension data ends the authenticator data.
    pub const fn has_extensions(self) -> bool {
        self.0 & Self::EXTENSION_DATA != 0
    }
}

/// A new credential, as an authenticator reports it when it creates one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential {
    /// The authenticator model's id.
    pub aaguid: [u8; 16],
    /// The credential id, raw bytes.
    pub credential_id: Vec<u8>,
    /// The credential's public key, a COSE_Key in CBOR.
    pub public_key_cose: Vec<u8>,
}

/// Authenticator data: what an authenticator signs besides the client
/// data's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData {
    /// SHA-256 of the relying party id the credential is scoped to.
    pub rp_id_hash: [u8; 32],
    /// What the authenticator checked.
    pub flags: AuthenticatorFlags,
    /// The signature counter, 0 when the authenticator keeps none.
    pub sign_count: u32,
    /// The created credential, in registrations only.
    pub attested_credential: Option<AttestedCredential>,
}

/// The longest credential id WebAuthn allows, in bytes.
pub const MAX_WEBAUTHN_CREDENTIAL_ID_BYTES: usize = 1023;

/// Occurs when WebAuthn data is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    /// Occurs when authenticator data or an attestation object does not
    /// parse; the text says what is wrong.
    #[error("{0}")]
    Malformed(&'static str),
    /// Occurs when the credential is scoped to another relying party.
    #[error("authenticatorData is for another relying party")]
    RelyingPartyMismatch,
    /// Occurs when the authenticator did not see a user.
    #[error("authenticatorData does not show the user present")]
    UserNotPresent,
    /// Occurs when the authenticator did not verify the user.
    #[error("authenticatorData does not show the user verified")]
    UserNotVerified,
    /// Occurs when a registration carries no new credential.
    #[error("authenticatorData holds no attested credential")]
    NoAttestedCredential,
    /// Occurs when the ceremony ran on an origin the relying party does
    /// not allow, or in a frame of another origin.
    #[error("clientData origin is not allowed")]
    OriginNotAllowed,
    /// Occurs when the counter did not grow: a copy of the authenticator
    /// may be in use, or the assertion is an old one.
    #[error("the authenticator's signature counter did not increase")]
    CounterNotIncreased,
}

impl AuthenticatorData {
    /// Parses authenticator data: the relying party id hash, the flags,
    /// the counter, then the attested credential and the extensions that
    /// the flags announce, and nothing after them.
    pub fn parse(bytes: &[u8]) -> Result<AuthenticatorData, WebAuthnError> {
        let malformed = WebAuthnError::Malformed;
        let (rp_id_hash, rest) =
            bytes.split_first_chunk::<32>().ok_or(malformed("authenticatorData is too short"))?;
        let (&[flags], rest) =
            rest.split_first_chunk::<1>().ok_or(malformed("authenticatorData is too short"))?;
        let (count, mut rest) =
            rest.split_first_chunk::<4>().ok_or(malformed("authenticatorData is too short"))?;
        let flags = AuthenticatorFlags(flags);

        let attested_credential = if flags.has_attested_credential() {
            let truncated = malformed("authenticatorData's attested credential is truncated");
            let (aaguid, after) = rest.split_first_chunk::<16>().ok_or(truncated.clone())?;
            let (length, after) = after.split_first_chunk::<2>().ok_or(truncated.clone())?;
            let length = usize::from(u16::from_be_bytes(*length));
            if length == 0 || length > MAX_WEBAUTHN_CREDENTIAL_ID_BYTES {
                return Err(malformed("authenticatorData's credential id has a bad length"));
            }
            let (credential_id, mut after) =
                (after.get(..length).ok_or(truncated.clone())?, &after[length..]);
            let key_start = after;
            skip_cbor_item(&mut after)
                .map_err(|()| malformed("authenticatorData's public key is not CBOR"))?;
            let public_key_cose = key_start[..key_start.len() - after.len()].to_vec();
            rest = after;
            Some(AttestedCredential {
                aaguid: *aaguid,
                credential_id: credential_id.to_vec(),
                public_key_cose,
            })
        } else {
            None
        };
        if flags.has_extensions() {
            skip_cbor_item(&mut rest)
                .map_err(|()| malformed("authenticatorData's extensions are not CBOR"))?;
        }
        if !rest.is_empty() {
            return Err(malformed("authenticatorData has trailing bytes"));
        }
        Ok(AuthenticatorData {
            rp_id_hash: *rp_id_hash,
            flags,
            sign_count: u32::from_be_bytes(*count),
            attested_credential,
        })
    }

    /// Succeeds when the data is scoped to `rp` and shows the user both
    /// present and verified: the rules every ceremony shares.
    fn check(&self, rp: &RelyingParty) -> Result<(), WebAuthnError> {
        if self.rp_id_hash != rp.id_hash {
            return Err(WebAuthnError::RelyingPartyMismatch);
        }
        if !self.flags.user_present() {
            return Err(WebAuthnError::UserNotPresent);
        }
        if !self.flags.user_verified() {
            return Err(WebAuthnError::UserNotVerified);
        }
        Ok(())
    }

    /// Checks an assertion's authenticator data against the relying party
    /// and its flags. The counter is a separate rule, [`next_sign_count`],
    /// to apply once the signature held: applied before, a forged
    /// assertion would tell anyone whether its counter is above the stored
    /// one.
    pub fn check_assertion(&self, rp: &RelyingParty) -> Result<(), WebAuthnError> {
        self.check(rp)
    }

    /// Checks a registration's authenticator data and answers the new
    /// credential it attests.
    pub fn check_registration(
        &self,
        rp: &RelyingParty,
    ) -> Result<&AttestedCredential, WebAuthnError> {
        self.check(rp)?;
        self.attested_credential.as_ref().ok_or(WebAuthnError::NoAttestedCredential)
    }
}

/// The counter to store after an authenticator reported `received` for a
/// credential whose stored counter is `stored`.
///
/// An authenticator that keeps no counter always reports 0, and that is
/// fine. Otherwise every assertion must report more than the last one:
/// a counter that does not grow means two copies of one authenticator, or
/// an assertion presented twice.
pub fn next_sign_count(stored: u32, received: u32) -> Result<Option<u32>, WebAuthnError> {
    match (stored, received) {
        (0, 0) => Ok(None),
        (stored, received) if received > stored => Ok(Some(received)),
        _ => Err(WebAuthnError::CounterNotIncreased),
    }
}

/// The bytes a WebAuthn signature covers: the authenticator data, then
/// the SHA-256 of the client data JSON exactly as the client sent it.
pub fn signed_message(authenticator_data: &[u8], client_data: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(authenticator_data.len() + 32);
    message.extend_from_slice(authenticator_data);
    message.extend_from_slice(&Sha256::digest(client_data));
    message
}

/// An attestation object, as `navigator.credentials.create` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationObject {
    /// The attestation statement format (`none`, `packed`, ...).
    pub format: String,
    /// The authenticator data, with the attested credential.
    pub authenticator_data: Vec<u8>,
}

impl AttestationObject {
    /// Parses the CBOR map `{fmt, attStmt, authData}`.
    ///
    /// The attestation statement is read but not evaluated: this server
    /// asks for no attestation and trusts a new credential because a
    /// logged-in user signed for it, not because of its maker.
    pub fn parse(bytes: &[u8]) -> Result<AttestationObject, WebAuthnError> {
        use ciborium::Value;

        let malformed = WebAuthnError::Malformed;
        let mut reader = bytes;
        let value: Value = ciborium::de::from_reader(&mut reader)
            .map_err(|_| malformed("attestationData is not CBOR"))?;
        if !reader.is_empty() {
            return Err(malformed("attestationData has trailing bytes"));
        }
        let Value::Map(entries) = value else {
            return Err(malformed("attestationData is not a CBOR map"));
        };
        if has_duplicate_key(&entries) {
            return Err(malformed("attestationData has a duplicate key"));
        }
        let field = |name: &str| {
            entries.iter().find(|(key, _)| key.as_text() == Some(name)).map(|(_, value)| value)
        };
        let format = field("fmt")
            .and_then(Value::as_text)
            .ok_or(malformed("attestationData has no fmt"))?
            .to_owned();
        if !field("attStmt").is_some_and(Value::is_map) {
            return Err(malformed("attestationData has no attStmt"));
        }
        let authenticator_data = field("authData")
            .and_then(Value::as_bytes)
            .ok_or(malformed("attestationData has no authData"))?
            .clone();
        Ok(AttestationObject { format, authenticator_data })
    }
}

/// Whether two entries of a CBOR map have equal keys. Such a map is not
/// valid CBOR (RFC 8949, section 5.6), and which of the two entries counts
/// would be the parser's choice, not the authenticator's. Keys are compared
/// by their encoding once decoded, so that two spellings of one key, such
/// as an integer in one byte and in two, are one key.
fn has_duplicate_key(entries: &[(ciborium::Value, ciborium::Value)]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    entries.iter().any(|(key, _)| {
        let mut encoded = Vec::new();
        // Writing to a vector cannot fail; a key that would not encode is
        // taken as a duplicate rather than let through.
        ciborium::ser::into_writer(key, &mut encoded).is_err() || !seen.insert(encoded)
    })
}

/// Moves `reader` past one CBOR data item.
fn skip_cbor_item(reader: &mut &[u8]) -> Result<(), ()> {
    ciborium::de::from_reader::<ciborium::Value, _>(reader).map(drop).map_err(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn localhost() -> RelyingParty {
        RelyingParty::new("localhost", "orgusers").unwrap()
    }

    fn cbor(value: &ciborium::Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        ciborium::ser::into_writer(value, &mut bytes).unwrap();
        bytes
    }

    /// Authenticator data for `rp` with these flags and counter, then
    /// `tail` (attested credential data, extensions) as given.
    fn data(rp: &RelyingParty, flags: u8, count: u32, tail: &[u8]) -> Vec<u8> {
        let mut bytes = rp.id_hash.to_vec();
        bytes.push(flags);
        bytes.extend_from_slice(&count.to_be_bytes());
        bytes.extend_from_slice(tail);
        bytes
    }

    fn cose_key() -> Vec<u8> {
        use ciborium::Value;
        cbor(&Value::Map(vec![
            (Value::Integer(1.into()), Value::Integer(2.into())),
            (Value::Integer(3.into()), Value::Integer((-7).into())),
            (Value::Integer((-1).into()), Value::Integer(1.into())),
            (Value::Integer((-2).into()), Value::Bytes(vec![1; 32])),
            (Value::Integer((-3).into()), Value::Bytes(vec![2; 32])),
        ]))
    }

    fn attested(credential_id: &[u8]) -> Vec<u8> {
        let mut tail = vec![7; 16];
        tail.extend_from_slice(&u16::try_from(credential_id.len()).unwrap().to_be_bytes());
        tail.extend_from_slice(credential_id);
        tail.extend_from_slice(&cose_key());
        tail
    }

    #[test]
    fn relying_party_ids_are_lowercase_domain_names() {
        for good in ["localhost", "example.com", "a-b.example.co.uk", "x1.y2"] {
            assert!(RelyingParty::new(good, "n").is_ok(), "{good}");
        }
        for bad in ["", "Example.com", "example..com", ".example.com", "-a.com", "a_b.com", "é.fr"]
        {
            assert!(RelyingParty::new(bad, "n").is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_must_be_secure_and_on_the_relying_party_domain() {
        let rp = RelyingParty::new("example.com", "n").unwrap();
        for good in ["https://example.com", "https://app.example.com", "https://example.com:8443"] {
            assert!(rp.allows_origin(good), "{good}");
        }
        for bad in [
            "http://example.com",
            "https://badexample.com",
            "https://example.com.evil.net",
            "https://example.com/path",
            "https://example.com/",
            "https://user@example.com",
            "not a url",
            "https://93.184.216.34",
        ] {
            assert!(!rp.allows_origin(bad), "{bad}");
        }
        assert!(localhost().allows_origin("http://localhost:3000"));
        assert!(localhost().allows_origin("https://localhost"));
        assert!(!localhost().allows_origin("http://127.0.0.1:3000"));
    }

    #[test]
    fn an_assertion_is_checked_against_the_relying_party_and_the_flags() {
        let rp = localhost();
        let ok = AuthenticatorData::parse(&data(&rp, 0x05, 0, &[])).unwrap();
        assert_eq!(ok.check_assertion(&rp), Ok(()));

        let other = RelyingParty::new("example.com", "n").unwrap();
        let foreign = AuthenticatorData::parse(&data(&other, 0x05, 0, &[])).unwrap();
        assert_eq!(foreign.check_assertion(&rp), Err(WebAuthnError::RelyingPartyMismatch));

        let absent = AuthenticatorData::parse(&data(&rp, 0x04, 0, &[])).unwrap();
        assert_eq!(absent.check_assertion(&rp), Err(WebAuthnError::UserNotPresent));

        let unverified = AuthenticatorData::parse(&data(&rp, 0x01, 0, &[])).unwrap();
        assert_eq!(unverified.check_assertion(&rp), Err(WebAuthnError::UserNotVerified));
    }

    #[test]
    fn the_counter_must_grow_unless_the_authenticator_keeps_none() {
        assert_eq!(next_sign_count(0, 0), Ok(None));
        assert_eq!(next_sign_count(0, 1), Ok(Some(1)));
        assert_eq!(next_sign_count(5, 6), Ok(Some(6)));
        assert_eq!(next_sign_count(5, 5), Err(WebAuthnError::CounterNotIncreased));
        assert_eq!(next_sign_count(5, 4), Err(WebAuthnError::CounterNotIncreased));
        assert_eq!(next_sign_count(5, 0), Err(WebAuthnError::CounterNotIncreased));
    }

    #[test]
    fn a_registration_yields_its_credential_id_and_cose_key() {
        let rp = localhost();
        let bytes = data(&rp, 0x45, 0, &attested(b"credential"));
        let parsed = AuthenticatorData::parse(&bytes).unwrap();
        let credential = parsed.check_registration(&rp).unwrap();
        assert_eq!(credential.aaguid, [7; 16]);
        assert_eq!(credential.credential_id, b"credential");
        assert_eq!(credential.public_key_cose, cose_key());

        let without = AuthenticatorData::parse(&data(&rp, 0x05, 0, &[])).unwrap();
        assert_eq!(without.check_registration(&rp), Err(WebAuthnError::NoAttestedCredential));
    }

    #[test]
    fn extensions_after_the_key_are_skipped_and_nothing_may_follow_them() {
        let rp = localhost();
        let extensions = cbor(&ciborium::Value::Map(vec![(
            ciborium::Value::Text("credProtect".into()),
            ciborium::Value::Integer(1.into()),
        )]));
        let mut tail = attested(b"id");
        tail.extend_from_slice(&extensions);
        let parsed = AuthenticatorData::parse(&data(&rp, 0xC5, 3, &tail)).unwrap();
        assert_eq!(parsed.attested_credential.unwrap().public_key_cose, cose_key());
        assert_eq!(parsed.sign_count, 3);

        tail.push(0);
        assert!(AuthenticatorData::parse(&data(&rp, 0xC5, 3, &tail)).is_err());
    }

    #[test]
    fn malformed_authenticator_data_is_refused_with_a_reason() {
        let rp = localhost();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0; 36], "authenticatorData is too short"),
            (data(&rp, 0x05, 0, &[1]), "authenticatorData has trailing bytes"),
            (data(&rp, 0x45, 0, &[0; 10]), "authenticatorData's attested credential is truncated"),
            (
                data(&rp, 0x45, 0, &[[0; 16].as_slice(), &[0, 0]].concat()),
                "authenticatorData's credential id has a bad length",
            ),
            (
                data(&rp, 0x45, 0, &[[0; 16].as_slice(), &[0, 2, 9, 9, 0xff]].concat()),
                "authenticatorData's public key is not CBOR",
            ),
            (data(&rp, 0x85, 0, &[]), "authenticatorData's extensions are not CBOR"),
        ];
        for (bytes, reason) in cases {
            assert_eq!(AuthenticatorData::parse(&bytes), Err(WebAuthnError::Malformed(reason)));
        }
    }

    #[test]
    fn an_attestation_object_gives_its_authenticator_data() {
        use ciborium::Value;
        let object = |fmt: Value, stmt: Value, auth: Value| {
            cbor(&Value::Map(vec![
                (Value::Text("fmt".into()), fmt),
                (Value::Text("attStmt".into()), stmt),
                (Value::Text("authData".into()), auth),
            ]))
        };
        let good = object(Value::Text("none".into()), Value::Map(vec![]), Value::Bytes(vec![1]));
        assert_eq!(
            AttestationObject::parse(&good),
            Ok(AttestationObject { format: "none".into(), authenticator_data: vec![1] })
        );

        let no_bytes = object(Value::Text("none".into()), Value::Map(vec![]), Value::Null);
        let no_stmt = object(Value::Text("none".into()), Value::Null, Value::Bytes(vec![1]));
        let mut trailing = good.clone();
        trailing.push(0);
        for (bytes, reason) in [
            (no_bytes, "attestationData has no authData"),
            (no_stmt, "attestationData has no attStmt"),
            (trailing, "attestationData has trailing bytes"),
            (cbor(&Value::Array(vec![])), "attestationData is not a CBOR map"),
            (vec![0xff], "attestationData is not CBOR"),
        ] {
            assert_eq!(AttestationObject::parse(&bytes), Err(WebAuthnError::Malformed(reason)));
        }
    }

    #[test]
    fn an_attestation_object_with_a_key_twice_is_refused() {
        use ciborium::Value;
        let entry = |key: &str, value: Value| (Value::Text(key.into()), value);
        let base = vec![
            entry("fmt", Value::Text("none".into())),
            entry("attStmt", Value::Map(vec![])),
            entry("authData", Value::Bytes(vec![1])),
        ];
        let twice = |extra: (Value, Value)| {
            let mut entries = base.clone();
            entries.push(extra);
            cbor(&Value::Map(entries))
        };
        let duplicate = Err(WebAuthnError::Malformed("attestationData has a duplicate key"));

        // Two authData: which one an authenticator meant is unknowable.
        assert_eq!(
            AttestationObject::parse(&twice(entry("authData", Value::Bytes(vec![2])))),
            duplicate
        );
        assert_eq!(
            AttestationObject::parse(&twice(entry("fmt", Value::Text("packed".into())))),
            duplicate
        );
        assert_eq!(
            AttestationObject::parse(&twice(entry("attStmt", Value::Map(vec![])))),
            duplicate
        );
        // Keys that are never read may not repeat either.
        let mut unread = base.clone();
        unread.push((Value::Integer(1.into()), Value::Null));
        unread.push((Value::Integer(1.into()), Value::Null));
        assert_eq!(AttestationObject::parse(&cbor(&Value::Map(unread))), duplicate);
        // One key spelled in one byte and again in two is still one key.
        let mut spelled_twice = cbor(&Value::Map(base.clone()));
        spelled_twice[0] += 2;
        spelled_twice.extend_from_slice(&[0x01, 0xf6, 0x18, 0x01, 0xf6]);
        assert_eq!(AttestationObject::parse(&spelled_twice), duplicate);

        // Another key, once, is ignored.
        let mut other = base.clone();
        other.push(entry("epAtt", Value::Bool(false)));
        assert!(AttestationObject::parse(&cbor(&Value::Map(other))).is_ok());
    }

    #[test]
    fn the_signed_message_is_the_data_then_the_client_data_hash() {
        let message = signed_message(b"data", b"{}");
        assert_eq!(&message[..4], b"data");
        assert_eq!(message[4..], Sha256::digest(b"{}")[..]);
    }
}
