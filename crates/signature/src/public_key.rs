//! Reading a PEM public key and deciding what it is for.
//!
//! The key's SubjectPublicKeyInfo alone names its algorithm: its algorithm
//! OID and, for elliptic curves, its named curve. Whatever a client says
//! about the algorithm is never consulted, so a key cannot be made to verify
//! under rules it was not made for.
//!
//! An Ed25519 key must also be a point that can stand for a signer:
//! aws-lc-rs takes any 32 bytes as a key, and under a key of small order a
//! signature with `R` the identity and `S` zero verifies for every message
//! or for many, so such a key would let anyone sign as its credential.
//! curve25519-dalek decodes the point to check it; see [`check_ed25519`].
//!
//! Verifying reads the same few keys again and again, so the keys that
//! parsed are kept by their PEM text: decoding the PEM and reading the SPKI
//! (once to choose the algorithm, once into aws-lc-rs) costs some 5 % of a
//! P-256 verification, which every signed request would pay again.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256K1_SHA256_ASN1, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RsaParameters, VerificationAlgorithm,
};
use curve25519_dalek::edwards::CompressedEdwardsY;
use ports::{KeyAlgorithm, PublicKeyError};
use spki::der::Decode;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

pub(crate) const ID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(crate) const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
pub(crate) const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

pub(crate) const PEM_TAG: &str = "PUBLIC KEY";

/// How many parsed keys are kept. When full, all are forgotten at once:
/// memory stays bounded whatever keys come, and a server verifies with far
/// fewer keys than this between two such resets.
const KEPT_KEYS: usize = 4096;

/// The keys that parsed, by their PEM text. A text always parses to the same
/// key, so an entry is never stale; a text that did not parse is not kept,
/// so it is refused afresh every time.
static PARSED: LazyLock<Mutex<HashMap<String, Arc<PublicKey>>>> = LazyLock::new(Default::default);

/// A public key that parsed, with the algorithm its SPKI names.
pub(crate) struct PublicKey {
    /// The algorithm the key is for.
    pub(crate) algorithm: KeyAlgorithm,
    /// The key, ready to verify under that algorithm's rules.
    pub(crate) key: ParsedPublicKey,
}

/// [`parse`], once for each PEM text.
pub(crate) fn parse_kept(pem_text: &str) -> Result<Arc<PublicKey>, PublicKeyError> {
    if let Some(key) = parsed_keys().get(pem_text) {
        return Ok(Arc::clone(key));
    }

    // Parsed outside the lock, so that no verification waits for another
    // key's parse; two callers racing on one new key both parse it.
    let key = Arc::new(parse(pem_text)?);
    let mut parsed = parsed_keys();
    if parsed.len() >= KEPT_KEYS {
        parsed.clear();
    }
    parsed.insert(pem_text.to_owned(), Arc::clone(&key));
    Ok(key)
}

fn parsed_keys() -> MutexGuard<'static, HashMap<String, Arc<PublicKey>>> {
    // Entries go in whole, so a panic elsewhere cannot leave a wrong one.
    PARSED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Parses a PEM SubjectPublicKeyInfo and checks that it can verify.
pub(crate) fn parse(pem_text: &str) -> Result<PublicKey, PublicKeyError> {
    let der = decode_pem(pem_text)?;
    let spki = SubjectPublicKeyInfoRef::from_der(&der)
        .map_err(|_| refuse("is not a valid DER SubjectPublicKeyInfo"))?;
    let algorithm = algorithm_of(&spki)?;

    match algorithm {
        KeyAlgorithm::RsaPkcs1Sha256 => check_rsa_size(&spki)?,
        KeyAlgorithm::Ed25519 => check_ed25519(&spki)?,
        // P-256 and secp256k1 have a cofactor of 1: every point on them but
        // the point at infinity, which SEC 1 encodes as 0x00 and aws-lc-rs
        // refuses below, generates the whole group, so no key of small
        // order exists.
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaSecp256k1 => {}
    }

    // aws-lc-rs parses the whole SPKI again and checks the point is on the
    // curve, so a key we accept is one it can verify with.
    let key = ParsedPublicKey::new(verification_algorithm(algorithm), &der)
        .map_err(|_| refuse("is not a valid key for its algorithm"))?;
    Ok(PublicKey { algorithm, key })
}

fn decode_pem(pem_text: &str) -> Result<Vec<u8>, PublicKeyError> {
    let not_pem = || refuse("is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
    // The pem crate skips text around a block; a stored key must be exactly
    // one block, so anything before or after it is refused here.
    let trimmed = pem_text.trim();
    if !trimmed.starts_with("-----BEGIN ") || !trimmed.ends_with("-----") {
        return Err(not_pem());
    }

    let mut blocks = pem::parse_many(trimmed).map_err(|_| not_pem())?;
    if blocks.len() != 1 {
        return Err(not_pem());
    }

    let block = blocks.swap_remove(0);
    if block.tag() != PEM_TAG || block.headers().iter().next().is_some() {
        return Err(not_pem());
    }
    Ok(block.into_contents())
}

fn algorithm_of(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<KeyAlgorithm, PublicKeyError> {
    let identifier = &spki.algorithm;

    match identifier.oid {
        ID_EC_PUBLIC_KEY => {
            let curve = identifier
                .parameters_oid()
                .map_err(|_| refuse("must name its curve; use P-256 or secp256k1"))?;
            match curve {
                PRIME256V1 => Ok(KeyAlgorithm::EcdsaP256),
                SECP256K1 => Ok(KeyAlgorithm::EcdsaSecp256k1),
                _ => Err(refuse("uses an unsupported curve; use P-256 or secp256k1")),
            }
        }
        // RFC 8410: Ed25519 parameters are absent.
        ID_ED25519 if identifier.parameters.is_none() => Ok(KeyAlgorithm::Ed25519),
        // RFC 3279 asks for NULL parameters; some encoders omit them.
        RSA_ENCRYPTION if identifier.parameters.is_none_or(|p| p.is_null()) => {
            Ok(KeyAlgorithm::RsaPkcs1Sha256)
        }
        _ => Err(refuse(
            "uses an unsupported algorithm; use ECDSA (P-256 or secp256k1), Ed25519 or RSA",
        )),
    }
}

fn check_rsa_size(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<(), PublicKeyError> {
    let invalid = || refuse("is not a valid RSA key");
    let rsa_public_key = spki.subject_public_key.as_bytes().ok_or_else(invalid)?;
    // aws-lc-rs refuses here the keys whose every signature would be
    // trivial or meaningless: an even or negative modulus, an exponent that
    // is even, negative or 1, or of more than 33 bits, or not below the
    // modulus; a modulus too small to resist factoring is refused below.
    let bits = RsaParameters::public_modulus_len(rsa_public_key).map_err(|_| invalid())?;

    let allowed = &RSA_PKCS1_2048_8192_SHA256;
    if bits < allowed.min_modulus_len() {
        return Err(refuse(format!(
            "is an RSA key of {bits} bits; at least {} are required",
            allowed.min_modulus_len()
        )));
    }
    if bits > allowed.max_modulus_len() {
        return Err(refuse(format!(
            "is an RSA key of {bits} bits; at most {} are supported",
            allowed.max_modulus_len()
        )));
    }
    Ok(())
}

/// The length of an Ed25519 public key, RFC 8032's encoding of a point.
const ED25519_KEY_LEN: usize = 32;

/// Refuses an Ed25519 key that is not a point, is of small order, or is
/// not the one encoding RFC 8032 gives its point.
///
/// A key `A` of small order (one of the 8 points `P` with `[8]P` the
/// identity) proves nothing: a signature with `R` the identity and `S`
/// zero verifies whenever `[k]A` is the identity, `k` being the hash of the
/// message: for every message under the identity itself, for one message
/// in 2, 4 or 8 under the others, so that a forger need only try a few.
/// Their non-canonical encodings name the same points, so they are refused
/// for their order, which says more than their encoding.
///
/// A point of large order with a small-order part added (not "torsion
/// free") is accepted: no honest key has one, but it forges nothing, since
/// signing with it still takes the discrete logarithm of its large part;
/// it only lets its own holder make signatures that verifiers differing
/// in cofactor handling disagree on, and this server is the one verifier.
///
/// curve25519-dalek's decompression reduces a `y` of `p` or more and takes
/// the sign bit of an `x` of zero, both of which RFC 8032 (section 5.1.3)
/// has a decoder refuse. They are refused here as RFC 8032 asks, by
/// comparing the encoding with the point's own: no signer makes them, and a
/// key that decoders disagree on is no key to keep.
fn check_ed25519(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<(), PublicKeyError> {
    let Some(bytes) = spki.subject_public_key.as_bytes() else {
        return Err(refuse("is not a valid key for its algorithm"));
    };
    let Ok(bytes) = <[u8; ED25519_KEY_LEN]>::try_from(bytes) else {
        return Err(refuse(format!(
            "is an Ed25519 key of {} bytes; an Ed25519 key has {ED25519_KEY_LEN}",
            bytes.len()
        )));
    };

    let encoding = CompressedEdwardsY(bytes);
    let Some(point) = encoding.decompress() else {
        return Err(refuse("is not a point on the Ed25519 curve"));
    };
    if point.is_small_order() {
        return Err(refuse("is an Ed25519 key of small order, which cannot prove anything"));
    }
    if point.compress() != encoding {
        return Err(refuse(
            "is an Ed25519 key in a non-canonical encoding, which RFC 8032 refuses; \
             encode it as its signer does",
        ));
    }
    Ok(())
}

fn verification_algorithm(algorithm: KeyAlgorithm) -> &'static dyn VerificationAlgorithm {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaSecp256k1 => &ECDSA_P256K1_SHA256_ASN1,
        KeyAlgorithm::Ed25519 => &ED25519,
        KeyAlgorithm::RsaPkcs1Sha256 => &RSA_PKCS1_2048_8192_SHA256,
    }
}

pub(crate) fn refuse(reason: impl Into<String>) -> PublicKeyError {
    PublicKeyError { reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_parsed_once_a_refused_text_every_time_and_the_kept_keys_stay_bounded() {
        let pem = crate::generate_p256_key().unwrap().public_key_pem;
        let first = parse_kept(&pem).unwrap();
        let again = parse_kept(&pem).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(again.algorithm, KeyAlgorithm::EcdsaP256);

        assert!(parse_kept("garbage").is_err());
        assert!(!parsed_keys().contains_key("garbage"));

        for _ in 0..=KEPT_KEYS {
            parse_kept(&crate::generate_p256_key().unwrap().public_key_pem).unwrap();
        }
        assert!(parsed_keys().len() <= KEPT_KEYS);
    }
}
