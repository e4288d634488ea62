//! Public keys under which a signature proves nothing are refused, as PEM
//! keys, as COSE_Keys, and when a stored one is used to verify.
//!
//! The small-order Ed25519 points come from curve25519-dalek, never typed
//! in: they are `EIGHT_TORSION`, their encodings and the non-canonical
//! encodings that decode to them.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256K1_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey,
};
use coset::cbor::value::Value;
use coset::iana::{self, EnumI64};
use coset::{CborSerializable, CoseKeyBuilder};
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::IsIdentity;
use pkcs1::{RsaPublicKey, UintRef};
use ports::{KeyAlgorithm, PublicKeyError, SignatureVerifier, VerifyError};
use proptest::prelude::*;
use signature::KeyVerifier;
use spki::SubjectPublicKeyInfoRef;
use spki::der::asn1::BitStringRef;
use spki::der::{Decode, Encode};

const MESSAGE: &[u8] = br#"{"type":"key.get","challenge":"Y2hhbGxlbmdl"}"#;

const SMALL_ORDER: &str = "is an Ed25519 key of small order, which cannot prove anything";
const NON_CANONICAL: &str = "is an Ed25519 key in a non-canonical encoding, which RFC 8032 \
                             refuses; encode it as its signer does";
const NOT_A_POINT: &str = "is not a point on the Ed25519 curve";

/// The top bit of an Ed25519 encoding, the sign of `x`.
const SIGN_BIT: u8 = 0x80;

fn to_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("PUBLIC KEY", der))
}

fn refused(reason: &str) -> Result<KeyAlgorithm, PublicKeyError> {
    Err(PublicKeyError { reason: reason.to_owned() })
}

/// The SPKI of a fresh Ed25519 key, its 32 key bytes replaced by `key`:
/// the key bytes end the SPKI.
fn ed25519_pem(key: &[u8]) -> String {
    let key_pair = Ed25519KeyPair::generate().unwrap();
    let mut der = key_pair.public_key().as_der().unwrap().as_ref().to_vec();
    let at = der.len() - 32;
    der.truncate(at);
    der.extend_from_slice(key);
    to_pem(&der)
}

/// An OKP Ed25519 COSE_Key with `x`, declaring EdDSA.
fn ed25519_cose(x: &[u8]) -> Vec<u8> {
    CoseKeyBuilder::new_okp_key()
        .param(iana::OkpKeyParameter::Crv.to_i64(), Value::from(6))
        .param(iana::OkpKeyParameter::X.to_i64(), Value::Bytes(x.to_vec()))
        .algorithm(iana::Algorithm::EdDSA)
        .build()
        .to_vec()
        .unwrap()
}

/// `R` the identity and `S` zero: the forgery a small-order key admits.
fn forged_signature() -> Vec<u8> {
    let identity = EdwardsPoint::default();
    assert!(identity.is_identity());
    [identity.compress().to_bytes(), [0; 32]].concat()
}

fn with_sign_bit(mut encoding: [u8; 32]) -> [u8; 32] {
    encoding[31] |= SIGN_BIT;
    encoding
}

/// `encoding + small`, as little-endian integers.
fn plus(mut encoding: [u8; 32], small: u8) -> [u8; 32] {
    let mut carry = u16::from(small);
    for byte in &mut encoding {
        let sum = u16::from(*byte) + carry;
        *byte = u8::try_from(sum & 0xff).unwrap();
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    encoding
}

/// Every encoding whose `y` is `p` or more, with either sign bit: 19 values
/// of `y` from `p = 2^255 - 19` to `2^255 - 1`, each non-canonical.
fn encodings_of_y_at_least_p() -> Vec<[u8; 32]> {
    // The point of order 2 is (0, -1), so its encoding is `p - 1`.
    let order_two = EIGHT_TORSION[4];
    assert!(!order_two.is_identity() && order_two.mul_by_cofactor().is_identity());
    let p = plus(order_two.compress().to_bytes(), 1);
    assert_eq!(p[31] & SIGN_BIT, 0);

    (0..19).map(|k| plus(p, k)).flat_map(|y| [y, with_sign_bit(y)]).collect()
}

/// Every 32 bytes that decode to a point of small order: the canonical
/// encodings of the 8 points, then the non-canonical ones, which name a
/// point of `x = 0` with the sign bit set, or a `y` of `p` or more.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut encodings: Vec<[u8; 32]> =
        EIGHT_TORSION.iter().map(|point| point.compress().to_bytes()).collect();
    let canonical = encodings.clone();

    // With the sign bit set, a point of `x != 0` gives its negation, another
    // of the 8; a point of `x = 0` gives itself again, non-canonically.
    for encoding in &canonical {
        let signed = with_sign_bit(*encoding);
        if !encodings.contains(&signed) {
            encodings.push(signed);
        }
    }
    for encoding in encodings_of_y_at_least_p() {
        let decoded = CompressedEdwardsY(encoding).decompress();
        if decoded.is_some_and(|point| point.is_small_order()) {
            encodings.push(encoding);
        }
    }

    // The identity and (0, -1) with the sign bit set; the identity and the
    // two points (±sqrt(-1), 0) with `y` plus `p`.
    assert_eq!(encodings.len(), 8 + 2 + 4, "{encodings:02x?}");
    for encoding in &encodings {
        let point = CompressedEdwardsY(*encoding).decompress().unwrap();
        assert!(point.is_small_order());
        assert!(EIGHT_TORSION.contains(&point));
    }
    encodings
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
}

#[tokio::test]
async fn under_the_identity_key_aws_lc_rs_alone_verifies_a_forgery_for_any_message() {
    // What the checks below guard against: aws-lc-rs verifies with the raw
    // key and nothing stops it.
    let identity = EIGHT_TORSION[0].compress().to_bytes();
    let forged = forged_signature();
    for message in [MESSAGE, b"", b"transfer everything"] {
        let key = UnparsedPublicKey::new(&ED25519, identity);
        assert!(key.verify(message, &forged).is_ok());
    }
}

#[tokio::test]
async fn every_small_order_ed25519_key_is_refused_as_a_pem_key() {
    for encoding in small_order_encodings() {
        let pem = ed25519_pem(&encoding);
        assert_eq!(
            KeyVerifier.check_public_key(&pem).await,
            refused(SMALL_ORDER),
            "{encoding:02x?}"
        );
    }
}

#[tokio::test]
async fn every_small_order_ed25519_key_is_refused_as_a_cose_key() {
    for encoding in small_order_encodings() {
        let error = KeyVerifier.public_key_from_cose(&ed25519_cose(&encoding)).await.unwrap_err();
        assert_eq!(error.reason, SMALL_ORDER, "{encoding:02x?}");
        assert_eq!(error.to_string(), format!("publicKey {SMALL_ORDER}"));
    }
}

#[tokio::test]
async fn a_stored_small_order_key_is_refused_when_verifying() {
    let forged = forged_signature();
    for encoding in small_order_encodings() {
        let pem = ed25519_pem(&encoding);
        let error = KeyVerifier.verify(&pem, MESSAGE, &forged).await.unwrap_err();
        let expected = VerifyError::PublicKey(PublicKeyError { reason: SMALL_ORDER.to_owned() });
        assert_eq!(error, expected, "{encoding:02x?}");
    }
}

#[tokio::test]
async fn non_canonical_encodings_of_other_points_are_refused() {
    let mut refused_count = 0;
    for encoding in encodings_of_y_at_least_p() {
        let Some(point) = CompressedEdwardsY(encoding).decompress() else {
            continue;
        };
        if point.is_small_order() {
            continue;
        }
        // curve25519-dalek decodes these to a point of large order, which is
        // why the encoding is compared with the point's own.
        assert_ne!(point.compress().to_bytes(), encoding);

        let pem = ed25519_pem(&encoding);
        assert_eq!(KeyVerifier.check_public_key(&pem).await, refused(NON_CANONICAL));
        let error = KeyVerifier.public_key_from_cose(&ed25519_cose(&encoding)).await.unwrap_err();
        assert_eq!(error.reason, NON_CANONICAL);
        let verified = KeyVerifier.verify(&pem, MESSAGE, &forged_signature()).await;
        assert!(matches!(verified, Err(VerifyError::PublicKey(_))), "{verified:?}");
        refused_count += 1;
    }
    assert!(refused_count > 0);
}

#[tokio::test]
async fn ed25519_keys_that_are_no_point_or_not_32_bytes_are_refused() {
    let not_points: Vec<_> = encodings_of_y_at_least_p()
        .into_iter()
        .filter(|encoding| CompressedEdwardsY(*encoding).decompress().is_none())
        .collect();
    assert!(!not_points.is_empty());
    for encoding in not_points {
        assert_eq!(
            KeyVerifier.check_public_key(&ed25519_pem(&encoding)).await,
            refused(NOT_A_POINT)
        );
        let error = KeyVerifier.public_key_from_cose(&ed25519_cose(&encoding)).await.unwrap_err();
        assert_eq!(error.reason, NOT_A_POINT);
    }

    // An SPKI whose key is 31 bytes, the rest of it unchanged.
    let key_pair = Ed25519KeyPair::generate().unwrap();
    let der = key_pair.public_key().as_der().unwrap().as_ref().to_vec();
    let spki = SubjectPublicKeyInfoRef::from_der(&der).unwrap();
    let short = SubjectPublicKeyInfoRef {
        algorithm: spki.algorithm,
        subject_public_key: BitStringRef::from_bytes(&key_pair.public_key().as_ref()[1..]).unwrap(),
    };
    assert_eq!(
        KeyVerifier.check_public_key(&to_pem(&short.to_der().unwrap())).await,
        refused("is an Ed25519 key of 31 bytes; an Ed25519 key has 32")
    );
}

#[tokio::test]
async fn a_normal_ed25519_key_still_verifies_as_a_pem_key_and_as_a_cose_key() {
    let key_pair = Ed25519KeyPair::generate().unwrap();
    let pem = to_pem(key_pair.public_key().as_der().unwrap().as_ref());
    let signature = key_pair.sign(MESSAGE);

    assert_eq!(KeyVerifier.check_public_key(&pem).await, Ok(KeyAlgorithm::Ed25519));
    assert_eq!(KeyVerifier.verify(&pem, MESSAGE, signature.as_ref()).await, Ok(()));

    let from_cose = KeyVerifier
        .public_key_from_cose(&ed25519_cose(key_pair.public_key().as_ref()))
        .await
        .unwrap();
    let der = |pem: &str| pem::parse(pem).unwrap().into_contents();
    assert_eq!(der(&from_cose), der(&pem));
    assert_eq!(KeyVerifier.verify(&from_cose, MESSAGE, signature.as_ref()).await, Ok(()));
    assert_eq!(
        KeyVerifier.verify(&from_cose, MESSAGE, &forged_signature()).await,
        Err(VerifyError::InvalidSignature)
    );
}

#[tokio::test]
async fn a_key_with_a_small_order_part_is_accepted_and_admits_no_forgery() {
    // A real key plus each point of small order: not of small order itself,
    // so kept (see `check_ed25519`), and the forgery still fails under it.
    let key_pair = Ed25519KeyPair::generate().unwrap();
    let point = CompressedEdwardsY::from_slice(key_pair.public_key().as_ref())
        .unwrap()
        .decompress()
        .unwrap();
    for torsion in &EIGHT_TORSION[1..] {
        let mixed = (point + torsion).compress().to_bytes();
        let pem = ed25519_pem(&mixed);
        assert_eq!(KeyVerifier.check_public_key(&pem).await, Ok(KeyAlgorithm::Ed25519));
        for message in [MESSAGE, b"", b"transfer everything"] {
            assert_eq!(
                KeyVerifier.verify(&pem, message, &forged_signature()).await,
                Err(VerifyError::InvalidSignature)
            );
        }
    }
}

proptest! {
    #[test]
    fn the_forged_signature_verifies_under_no_ed25519_key_the_crate_accepts(
        // Random bytes are almost never of small order, so those are drawn
        // as often.
        key in prop_oneof![any::<[u8; 32]>(), prop::sample::select(small_order_encodings())],
        message in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let pem = ed25519_pem(&key);
        match block_on(KeyVerifier.check_public_key(&pem)) {
            Ok(algorithm) => {
                prop_assert_eq!(algorithm, KeyAlgorithm::Ed25519);
                let verified = block_on(KeyVerifier.verify(&pem, &message, &forged_signature()));
                prop_assert_eq!(verified, Err(VerifyError::InvalidSignature));
            }
            Err(_) => {
                let verified = block_on(KeyVerifier.verify(&pem, &message, &forged_signature()));
                prop_assert!(matches!(verified, Err(VerifyError::PublicKey(_))));
            }
        }
    }

    #[test]
    fn every_small_order_key_stays_refused_whatever_the_message(
        index in any::<prop::sample::Index>(),
        message in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let encodings = small_order_encodings();
        let pem = ed25519_pem(&encodings[index.index(encodings.len())]);
        let verified = block_on(KeyVerifier.verify(&pem, &message, &forged_signature()));
        prop_assert!(matches!(verified, Err(VerifyError::PublicKey(_))));
    }
}

/// The SPKI `template` of an RSA key, with `n` and `e` (unsigned
/// big-endian) in place of its own.
fn rsa_pem(template: &[u8], n: &[u8], e: &[u8]) -> String {
    let spki = SubjectPublicKeyInfoRef::from_der(template).unwrap();
    let rsa_public_key = RsaPublicKey {
        modulus: UintRef::new(n).unwrap(),
        public_exponent: UintRef::new(e).unwrap(),
    }
    .to_der()
    .unwrap();
    let changed = SubjectPublicKeyInfoRef {
        algorithm: spki.algorithm,
        subject_public_key: BitStringRef::from_bytes(&rsa_public_key).unwrap(),
    };
    to_pem(&changed.to_der().unwrap())
}

fn rsa_cose(n: &[u8], e: &[u8]) -> Vec<u8> {
    CoseKeyBuilder::new()
        .key_type(iana::KeyType::RSA)
        .param(iana::RsaKeyParameter::N.to_i64(), Value::Bytes(n.to_vec()))
        .param(iana::RsaKeyParameter::E.to_i64(), Value::Bytes(e.to_vec()))
        .algorithm(iana::Algorithm::RS256)
        .build()
        .to_vec()
        .unwrap()
}

#[tokio::test]
async fn degenerate_rsa_keys_are_refused() {
    let key_pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let template = key_pair.public_key().as_der().unwrap().as_ref().to_vec();
    let components = PublicKeyComponents::<Vec<u8>>::from(key_pair.public_key());
    let (n, e) = (components.n, components.e);
    let genuine = rsa_pem(&template, &n, &e);
    assert_eq!(KeyVerifier.check_public_key(&genuine).await, Ok(KeyAlgorithm::RsaPkcs1Sha256));

    let mut even_n = n.clone();
    *even_n.last_mut().unwrap() &= 0xfe;
    let mut power_of_two = vec![0; n.len()];
    power_of_two[0] = 0x80;
    let invalid = "is not a valid RSA key";

    for (what, n, e, reason) in [
        // With e = 1 a signature is its own padded message: anyone signs.
        ("e = 1", n.clone(), vec![1], invalid.to_owned()),
        ("e = 0", n.clone(), vec![0], invalid.to_owned()),
        ("even e", n.clone(), vec![1, 0, 0], invalid.to_owned()),
        ("e of 65 bits", n.clone(), vec![1, 0, 0, 0, 0, 0, 0, 0, 1], invalid.to_owned()),
        ("e = n", n.clone(), n.clone(), invalid.to_owned()),
        ("even n", even_n, e.clone(), invalid.to_owned()),
        ("n a power of two", power_of_two, e.clone(), invalid.to_owned()),
        (
            "a tiny n",
            vec![0x0f],
            vec![3],
            "is an RSA key of 4 bits; at least 2048 are required".to_owned(),
        ),
    ] {
        let pem = rsa_pem(&template, &n, &e);
        assert_eq!(KeyVerifier.check_public_key(&pem).await, refused(&reason), "{what}");
        let error = KeyVerifier.public_key_from_cose(&rsa_cose(&n, &e)).await.unwrap_err();
        assert_eq!(error.reason, reason, "{what}");
        let verified = KeyVerifier.verify(&pem, MESSAGE, &[1; 256]).await;
        assert!(matches!(verified, Err(VerifyError::PublicKey(_))), "{what}: {verified:?}");
    }
}

fn ecdsa_spki(alg: &'static EcdsaSigningAlgorithm) -> (Vec<u8>, EcdsaKeyPair) {
    let key_pair = EcdsaKeyPair::generate(alg).unwrap();
    (key_pair.public_key().as_der().unwrap().as_ref().to_vec(), key_pair)
}

#[tokio::test]
async fn the_point_at_infinity_is_refused_on_both_ecdsa_curves() {
    for (alg, curve, cose_alg) in [
        (&ECDSA_P256_SHA256_ASN1_SIGNING, iana::EllipticCurve::P_256, iana::Algorithm::ES256),
        (
            &ECDSA_P256K1_SHA256_ASN1_SIGNING,
            iana::EllipticCurve::Secp256k1,
            iana::Algorithm::ES256K,
        ),
    ] {
        let (der, _) = ecdsa_spki(alg);
        let spki = SubjectPublicKeyInfoRef::from_der(&der).unwrap();
        // SEC 1 encodes the point at infinity as the one byte 0x00.
        let infinity = SubjectPublicKeyInfoRef {
            algorithm: spki.algorithm,
            subject_public_key: BitStringRef::from_bytes(&[0x00]).unwrap(),
        };
        let pem = to_pem(&infinity.to_der().unwrap());
        assert_eq!(
            KeyVerifier.check_public_key(&pem).await,
            refused("is not a valid key for its algorithm")
        );

        // A COSE_Key has no way to say infinity; (0, 0) is off both curves.
        let zero = CoseKeyBuilder::new_ec2_pub_key(curve, vec![0; 32], vec![0; 32])
            .algorithm(cose_alg)
            .build()
            .to_vec()
            .unwrap();
        let error = KeyVerifier.public_key_from_cose(&zero).await.unwrap_err();
        assert_eq!(error.reason, "is not a valid key for its algorithm");
    }
}

#[tokio::test]
async fn degenerate_signatures_verify_under_no_accepted_key() {
    // ECDSA with r = 0 and s = 0, which a verifier that skipped its range
    // checks could take for any message.
    let zero_ecdsa = [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00];
    for alg in [&ECDSA_P256_SHA256_ASN1_SIGNING, &ECDSA_P256K1_SHA256_ASN1_SIGNING] {
        let (der, key_pair) = ecdsa_spki(alg);
        let pem = to_pem(&der);
        let genuine = key_pair.sign(&SystemRandom::new(), MESSAGE).unwrap();
        assert_eq!(KeyVerifier.verify(&pem, MESSAGE, genuine.as_ref()).await, Ok(()));
        assert_eq!(
            KeyVerifier.verify(&pem, MESSAGE, &zero_ecdsa).await,
            Err(VerifyError::InvalidSignature)
        );
    }

    // RSA signatures 0 and 1, whose powers are themselves.
    let key_pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pem = to_pem(key_pair.public_key().as_der().unwrap().as_ref());
    let len = key_pair.public_modulus_len();
    let mut one = vec![0; len];
    *one.last_mut().unwrap() = 1;
    for signature in [vec![0; len], one] {
        assert_eq!(
            KeyVerifier.verify(&pem, MESSAGE, &signature).await,
            Err(VerifyError::InvalidSignature)
        );
    }
}
