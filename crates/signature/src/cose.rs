//! Turning a COSE_Key (RFC 9052, RFC 9053, RFC 8230), as a WebAuthn
//! authenticator reports a new credential's public key, into the PEM
//! SubjectPublicKeyInfo of the same key.
//!
//! Two things in a COSE_Key say what it is for: its type and curve (`kty`,
//! `crv`) say what the key is, and its algorithm (`alg`) says what the
//! authenticator signs with. Both must name one of the algorithms that
//! [`crate::KeyVerifier`] verifies, and the same one:
//!
//! | kty | crv | alg |
//! |---|---|---|
//! | EC2 (2) | P-256 (1) | ES256 (-7) or ESP256 (-9) |
//! | EC2 (2) | secp256k1 (8) | ES256K (-47) |
//! | OKP (1) | Ed25519 (6) | EdDSA (-8) or Ed25519 (-19) |
//! | RSA (3) | | RS256 (-257) |
//!
//! A key whose `alg` does not fit is refused rather than guessed at, so no
//! key is ever used under rules its authenticator did not declare.
//!
//! A key that carries its private part (`d`, or any private parameter of
//! an RSA key) is refused: the credential is then known to whoever saw it
//! on its way, so it can no longer prove who signed.
//!
//! The SPKI made from the key is then read back by the check every PEM key
//! goes through, so the same rules apply: RSA keys of 2048 bits at least, EC
//! points on their curve, Ed25519 keys canonical and not of small order.

use coset::cbor::value::Value;
use coset::iana::{self, EnumI64};
use coset::{Algorithm, CborSerializable, CoseKey, KeyType, Label};
use pkcs1::RsaPublicKey;
use pkcs1::UintRef;
use ports::{KeyAlgorithm, PublicKeyError};
use spki::der::Encode;
use spki::der::asn1::{AnyRef, BitStringRef};
use spki::{AlgorithmIdentifierRef, ObjectIdentifier, SubjectPublicKeyInfoRef};

use crate::generate::to_pem;
use crate::public_key::{
    self, ID_EC_PUBLIC_KEY, ID_ED25519, PEM_TAG, PRIME256V1, RSA_ENCRYPTION, SECP256K1, refuse,
};

/// The length of a P-256 or secp256k1 coordinate, and of an Ed25519 key.
const COORDINATE_LEN: usize = 32;

/// SEC 1's first byte of an uncompressed point, `x` and `y` following.
const SEC1_UNCOMPRESSED: u8 = 0x04;

const ACCEPTED_ALGORITHMS: &str =
    "use ES256 (-7), ESP256 (-9), ES256K (-47), EdDSA (-8), Ed25519 (-19) or RS256 (-257)";
const ACCEPTED_KEY_TYPES: &str = "use EC2 (2), OKP (1) or RSA (3)";
const ACCEPTED_EC2_CURVES: &str = "use P-256 (1) or secp256k1 (8)";
const ACCEPTED_OKP_CURVES: &str = "use Ed25519 (6)";

/// Reads a COSE_Key into the PEM SubjectPublicKeyInfo of the same key.
pub(crate) fn to_public_key_pem(cose_key: &[u8]) -> Result<String, PublicKeyError> {
    // coset refuses anything after the one CBOR item, a repeated label and
    // a missing `kty`.
    let key = CoseKey::from_slice(cose_key)
        .map_err(|_| refuse("is not a COSE_Key, one CBOR map with a key type (kty)"))?;

    check_no_private_key(&key)?;
    let (alg, declared) = declared_algorithm(&key)?;
    let algorithm = algorithm_of_key(&key)?;
    if declared != algorithm {
        return Err(refuse(format!(
            "declares COSE algorithm {} for {}, which needs {}",
            describe_algorithm(alg),
            describe_key(algorithm),
            fitting_algorithms(algorithm),
        )));
    }

    let der = match algorithm {
        KeyAlgorithm::EcdsaP256 => ec2_spki(&key, PRIME256V1, "a P-256 key")?,
        KeyAlgorithm::EcdsaSecp256k1 => ec2_spki(&key, SECP256K1, "a secp256k1 key")?,
        KeyAlgorithm::Ed25519 => ed25519_spki(&key)?,
        KeyAlgorithm::RsaPkcs1Sha256 => rsa_spki(&key)?,
    };
    let pem = to_pem(PEM_TAG, &der);

    // The same check as any PEM key: it refuses an EC point off its curve
    // and an RSA key that is too small, which nothing above looked at.
    let checked = public_key::parse(&pem)?;
    if checked.algorithm != algorithm {
        // Cannot happen, since the SPKI was made for `algorithm`; refused
        // all the same rather than stored as a key for something else.
        return Err(refuse("is not a valid key for its algorithm"));
    }
    Ok(pem)
}

/// Refuses a key that carries any private parameter of its type. Only the
/// parameter's presence counts: whatever its value, an authenticator that
/// sends it has let its private key out, or does not know what it sends.
fn check_no_private_key(key: &CoseKey) -> Result<(), PublicKeyError> {
    let private: Vec<(i64, &str)> = match &key.kty {
        KeyType::Assigned(iana::KeyType::EC2) => vec![(iana::Ec2KeyParameter::D.to_i64(), "d")],
        KeyType::Assigned(iana::KeyType::OKP) => vec![(iana::OkpKeyParameter::D.to_i64(), "d")],
        KeyType::Assigned(iana::KeyType::RSA) => [
            (iana::RsaKeyParameter::D, "d"),
            (iana::RsaKeyParameter::P, "p"),
            (iana::RsaKeyParameter::Q, "q"),
            (iana::RsaKeyParameter::DP, "dP"),
            (iana::RsaKeyParameter::DQ, "dQ"),
            (iana::RsaKeyParameter::QInv, "qInv"),
            (iana::RsaKeyParameter::Other, "other"),
            (iana::RsaKeyParameter::RI, "r_i"),
            (iana::RsaKeyParameter::DI, "d_i"),
            (iana::RsaKeyParameter::TI, "t_i"),
        ]
        .into_iter()
        .map(|(parameter, name)| (parameter.to_i64(), name))
        .collect(),
        // Any other type is refused for itself later.
        _ => Vec::new(),
    };

    match private.into_iter().find(|&(label, _)| param(key, label).is_some()) {
        Some((_, "d")) => {
            Err(refuse("carries a private key (d), which an authenticator must never send"))
        }
        Some((_, name)) => Err(refuse(format!(
            "carries a part of its private key ({name}), which an authenticator must never send"
        ))),
        None => Ok(()),
    }
}

/// The algorithm the key's `alg` names, when it is one this server verifies.
fn declared_algorithm(key: &CoseKey) -> Result<(&Algorithm, KeyAlgorithm), PublicKeyError> {
    let Some(alg) = &key.alg else {
        return Err(refuse("names no COSE algorithm (alg), which WebAuthn requires"));
    };
    let declared = match alg {
        // -9 is the fully specified name of ES256, which newer
        // authenticators may send instead of -7.
        Algorithm::Assigned(iana::Algorithm::ES256 | iana::Algorithm::ESP256) => {
            KeyAlgorithm::EcdsaP256
        }
        Algorithm::Assigned(iana::Algorithm::ES256K) => KeyAlgorithm::EcdsaSecp256k1,
        // -19 is the fully specified name of what -8 always means in WebAuthn.
        Algorithm::Assigned(iana::Algorithm::EdDSA | iana::Algorithm::Ed25519) => {
            KeyAlgorithm::Ed25519
        }
        Algorithm::Assigned(iana::Algorithm::RS256) => KeyAlgorithm::RsaPkcs1Sha256,
        _ => {
            return Err(refuse(format!(
                "uses COSE algorithm {}, which this server does not accept; \
                 {ACCEPTED_ALGORITHMS}",
                describe_algorithm(alg),
            )));
        }
    };
    Ok((alg, declared))
}

/// The algorithm the key's type and curve are for.
fn algorithm_of_key(key: &CoseKey) -> Result<KeyAlgorithm, PublicKeyError> {
    match &key.kty {
        KeyType::Assigned(iana::KeyType::EC2) => match curve(key, "EC2", ACCEPTED_EC2_CURVES)? {
            iana::EllipticCurve::P_256 => Ok(KeyAlgorithm::EcdsaP256),
            iana::EllipticCurve::Secp256k1 => Ok(KeyAlgorithm::EcdsaSecp256k1),
            other => Err(unaccepted_curve(other.to_i64(), "EC2", ACCEPTED_EC2_CURVES)),
        },
        KeyType::Assigned(iana::KeyType::OKP) => match curve(key, "OKP", ACCEPTED_OKP_CURVES)? {
            iana::EllipticCurve::Ed25519 => Ok(KeyAlgorithm::Ed25519),
            other => Err(unaccepted_curve(other.to_i64(), "OKP", ACCEPTED_OKP_CURVES)),
        },
        KeyType::Assigned(iana::KeyType::RSA) => Ok(KeyAlgorithm::RsaPkcs1Sha256),
        KeyType::Assigned(other) => Err(refuse(format!(
            "has COSE key type {}, which this server does not accept; {ACCEPTED_KEY_TYPES}",
            other.to_i64(),
        ))),
        KeyType::Text(text) => Err(refuse(format!(
            "has COSE key type {text:?}, which this server does not accept; {ACCEPTED_KEY_TYPES}",
        ))),
    }
}

/// The registered curve an EC2 or OKP key names in `crv`.
fn curve(
    key: &CoseKey,
    key_type: &str,
    accepted: &str,
) -> Result<iana::EllipticCurve, PublicKeyError> {
    // EC2 and OKP keys both keep their curve under -1.
    let label = iana::Ec2KeyParameter::Crv.to_i64();
    let Some(value) = param(key, label) else {
        return Err(refuse(format!("names no curve (crv); {accepted}")));
    };
    let number = match value {
        Value::Integer(integer) => i64::try_from(*integer).ok(),
        _ => None,
    };
    match number {
        Some(number) => iana::EllipticCurve::from_i64(number)
            .ok_or_else(|| unaccepted_curve(number, key_type, accepted)),
        None => Err(refuse(format!(
            "names its curve (crv) other than by a COSE curve number; {accepted}"
        ))),
    }
}

fn unaccepted_curve(number: i64, key_type: &str, accepted: &str) -> PublicKeyError {
    refuse(format!(
        "uses COSE curve {number}, which this server does not accept for {key_type} keys; \
         {accepted}"
    ))
}

/// The SPKI of an EC2 key on `curve`, from its uncompressed point.
fn ec2_spki(
    key: &CoseKey,
    curve: ObjectIdentifier,
    key_name: &str,
) -> Result<Vec<u8>, PublicKeyError> {
    let ec2 = |parameter: iana::Ec2KeyParameter| parameter.to_i64();
    let x = byte_string(key, ec2(iana::Ec2KeyParameter::X), "an x coordinate (x)")?;
    // A compressed point gives only the sign of y, as a boolean.
    if let Some(Value::Bool(_)) = param(key, ec2(iana::Ec2KeyParameter::Y)) {
        return Err(refuse(format!(
            "has a compressed point, which this server does not accept; {key_name} needs \
             both coordinates (x and y) of {COORDINATE_LEN} bytes"
        )));
    }
    let y = byte_string(key, ec2(iana::Ec2KeyParameter::Y), "a y coordinate (y)")?;
    // COSE keeps the leading zeros of a coordinate (RFC 9053, section 7.1.1),
    // so any other length is a malformed key, not a short number.
    check_len(x, "an x coordinate (x)", key_name)?;
    check_len(y, "a y coordinate (y)", key_name)?;

    let point = [&[SEC1_UNCOMPRESSED][..], x, y].concat();
    let curve = AnyRef::from(&curve);
    spki_der(ID_EC_PUBLIC_KEY, Some(curve), &point)
}

/// The SPKI of an OKP Ed25519 key, from its 32 bytes.
fn ed25519_spki(key: &CoseKey) -> Result<Vec<u8>, PublicKeyError> {
    let name = "an Ed25519 public key (x)";
    let x = byte_string(key, iana::OkpKeyParameter::X.to_i64(), name)?;
    check_len(x, name, "an Ed25519 key")?;
    // RFC 8410: the algorithm identifier of Ed25519 has no parameters.
    spki_der(ID_ED25519, None, x)
}

/// The SPKI of an RSA key, from its modulus and public exponent.
fn rsa_spki(key: &CoseKey) -> Result<Vec<u8>, PublicKeyError> {
    let invalid = || refuse("is not a valid RSA key");
    let n = byte_string(key, iana::RsaKeyParameter::N.to_i64(), "an RSA modulus (n)")?;
    let e = byte_string(key, iana::RsaKeyParameter::E.to_i64(), "an RSA public exponent (e)")?;
    if n.is_empty() || e.is_empty() {
        return Err(invalid());
    }
    // COSE gives both as unsigned big-endian bytes; DER integers are signed,
    // which UintRef accounts for when it encodes them.
    let rsa_public_key = RsaPublicKey {
        modulus: UintRef::new(n).map_err(|_| invalid())?,
        public_exponent: UintRef::new(e).map_err(|_| invalid())?,
    };
    let rsa_public_key = rsa_public_key.to_der().map_err(|_| invalid())?;
    // RFC 3279: the parameters of rsaEncryption are NULL.
    spki_der(RSA_ENCRYPTION, Some(AnyRef::NULL), &rsa_public_key)
}

fn spki_der(
    oid: ObjectIdentifier,
    parameters: Option<AnyRef<'_>>,
    subject_public_key: &[u8],
) -> Result<Vec<u8>, PublicKeyError> {
    let invalid = || refuse("is not a valid key for its algorithm");
    let spki = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef { oid, parameters },
        subject_public_key: BitStringRef::from_bytes(subject_public_key).map_err(|_| invalid())?,
    };
    spki.to_der().map_err(|_| invalid())
}

/// The value of the parameter under `label`; coset has refused a key that
/// repeats a label, so there is at most one.
fn param(key: &CoseKey, label: i64) -> Option<&Value> {
    let label = Label::Int(label);
    key.params.iter().find(|(l, _)| *l == label).map(|(_, value)| value)
}

/// The byte string under `label`, which `name` (with its article) describes.
fn byte_string<'a>(key: &'a CoseKey, label: i64, name: &str) -> Result<&'a [u8], PublicKeyError> {
    match param(key, label) {
        Some(Value::Bytes(bytes)) => Ok(bytes),
        Some(_) => Err(refuse(format!("has {name} that is not a byte string"))),
        None => Err(refuse(format!("lacks {name}"))),
    }
}

fn check_len(bytes: &[u8], name: &str, key_name: &str) -> Result<(), PublicKeyError> {
    if bytes.len() == COORDINATE_LEN {
        return Ok(());
    }
    Err(refuse(format!("has {name} of {} bytes; {key_name} needs {COORDINATE_LEN}", bytes.len())))
}

/// An `alg` as a client would look it up: its COSE number, or its text.
fn describe_algorithm(alg: &Algorithm) -> String {
    match alg {
        Algorithm::Assigned(alg) => alg.to_i64().to_string(),
        Algorithm::PrivateUse(number) => number.to_string(),
        Algorithm::Text(text) => format!("{text:?}"),
    }
}

fn describe_key(algorithm: KeyAlgorithm) -> &'static str {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => "an EC2 key on curve P-256",
        KeyAlgorithm::EcdsaSecp256k1 => "an EC2 key on curve secp256k1",
        KeyAlgorithm::Ed25519 => "an OKP key on curve Ed25519",
        KeyAlgorithm::RsaPkcs1Sha256 => "an RSA key",
    }
}

fn fitting_algorithms(algorithm: KeyAlgorithm) -> &'static str {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => "ES256 (-7) or ESP256 (-9)",
        KeyAlgorithm::EcdsaSecp256k1 => "ES256K (-47)",
        KeyAlgorithm::Ed25519 => "EdDSA (-8) or Ed25519 (-19)",
        KeyAlgorithm::RsaPkcs1Sha256 => "RS256 (-257)",
    }
}
