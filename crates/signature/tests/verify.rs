//! The signature contract, checked through the `SignatureVerifier` port with
//! keys that aws-lc-rs generates on the spot.

use aws_lc_rs::agreement;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P256K1_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use ports::{KeyAlgorithm, SignatureVerifier, VerifyError};
use proptest::prelude::*;
use signature::{KeyVerifier, generate_p256_key};

const MESSAGE: &[u8] = br#"{"type":"key.get","challenge":"Y2hhbGxlbmdl"}"#;

/// The order of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The order of the secp256k1 group, big-endian.
const SECP256K1_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// A 1024-bit RSA public key, made once with `openssl genpkey`.
const RSA_1024_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDT6Bmpz2kdQ20ogBiCB4iD2owR
PGcI6chmzjbCE3Oo288MvwpqsEDmmHhVuRPs6bBSEFGq5gNiX7l6QNtnEDJGElg8
lBGcFbaYOON2wB8v47oz4B1sPhkAdqjnPRoiCPDbZjBmiymi8sXyX/t6ld2OtynS
6agerFaEY4It7ES2YwIDAQAB
-----END PUBLIC KEY-----
";

fn to_pem(tag: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(tag, der))
}

/// Signs a message with a test key's private key.
type Sign = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A signer and its public key as PEM.
struct TestKey {
    public_key_pem: String,
    sign: Sign,
}

fn ecdsa_key(alg: &'static EcdsaSigningAlgorithm) -> TestKey {
    let key_pair = EcdsaKeyPair::generate(alg).unwrap();
    let public_key_pem = to_pem("PUBLIC KEY", key_pair.public_key().as_der().unwrap().as_ref());
    let sign = move |message: &[u8]| {
        key_pair.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec()
    };
    TestKey { public_key_pem, sign: Box::new(sign) }
}

fn p256_key() -> TestKey {
    ecdsa_key(&ECDSA_P256_SHA256_ASN1_SIGNING)
}

fn secp256k1_key() -> TestKey {
    ecdsa_key(&ECDSA_P256K1_SHA256_ASN1_SIGNING)
}

fn ed25519_key() -> TestKey {
    let key_pair = Ed25519KeyPair::generate().unwrap();
    let public_key_pem = to_pem("PUBLIC KEY", key_pair.public_key().as_der().unwrap().as_ref());
    let sign = move |message: &[u8]| key_pair.sign(message).as_ref().to_vec();
    TestKey { public_key_pem, sign: Box::new(sign) }
}

fn rsa_key() -> TestKey {
    let key_pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public_key_pem = to_pem("PUBLIC KEY", key_pair.public_key().as_der().unwrap().as_ref());
    let sign = move |message: &[u8]| {
        let mut signature = vec![0; key_pair.public_modulus_len()];
        key_pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature).unwrap();
        signature
    };
    TestKey { public_key_pem, sign: Box::new(sign) }
}

async fn verify(key: &TestKey, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    KeyVerifier.verify(&key.public_key_pem, message, signature).await
}

async fn refusal_of(pem: &str) -> String {
    KeyVerifier.check_public_key(pem).await.unwrap_err().reason
}

/// The two big-endian integers of an ECDSA DER signature `SEQUENCE {r, s}`.
/// Every length in a P-256 or secp256k1 signature fits in one byte.
fn der_integers(signature: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(signature[0], 0x30);
    assert_eq!(usize::from(signature[1]), signature.len() - 2);
    let integer = |at: usize| {
        assert_eq!(signature[at], 0x02);
        let len = usize::from(signature[at + 1]);
        (signature[at + 2..at + 2 + len].to_vec(), at + 2 + len)
    };
    let (r, next) = integer(2);
    let (s, end) = integer(next);
    assert_eq!(end, signature.len());
    (r, s)
}

/// `SEQUENCE {r, s}` in DER, from minimal positive big-endian integers.
fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for integer in [r, s] {
        body.push(0x02);
        body.push(u8::try_from(integer.len()).unwrap());
        body.extend_from_slice(integer);
    }
    let mut signature = vec![0x30, u8::try_from(body.len()).unwrap()];
    signature.extend(body);
    signature
}

/// `order - s` as a minimal positive DER integer.
fn negate_s(order: &[u8; 32], s: &[u8]) -> Vec<u8> {
    let digits = s.strip_prefix(&[0]).unwrap_or(s);
    let mut padded = [0u8; 32];
    padded[32 - digits.len()..].copy_from_slice(digits);

    let mut difference = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(order[i]) - i16::from(padded[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        difference[i] = u8::try_from(digit).unwrap();
    }
    assert_eq!(borrow, 0, "s was not below the order");

    let first = difference.iter().position(|&b| b != 0).unwrap();
    let mut integer = difference[first..].to_vec();
    if integer[0] & 0x80 != 0 {
        integer.insert(0, 0);
    }
    integer
}

#[tokio::test]
async fn the_spki_alone_names_the_algorithm() {
    for (key, algorithm) in [
        (p256_key(), KeyAlgorithm::EcdsaP256),
        (secp256k1_key(), KeyAlgorithm::EcdsaSecp256k1),
        (ed25519_key(), KeyAlgorithm::Ed25519),
        (rsa_key(), KeyAlgorithm::RsaPkcs1Sha256),
    ] {
        assert_eq!(KeyVerifier.check_public_key(&key.public_key_pem).await, Ok(algorithm));
    }
}

#[tokio::test]
async fn a_valid_signature_verifies_with_each_algorithm() {
    for key in [p256_key(), secp256k1_key(), ed25519_key(), rsa_key()] {
        let signature = (key.sign)(MESSAGE);
        assert_eq!(verify(&key, MESSAGE, &signature).await, Ok(()));
    }
}

#[tokio::test]
async fn a_signature_by_another_key_or_over_another_message_is_rejected() {
    for (key, other) in [
        (p256_key(), p256_key()),
        (secp256k1_key(), secp256k1_key()),
        (ed25519_key(), ed25519_key()),
        (rsa_key(), rsa_key()),
    ] {
        let signature = (key.sign)(MESSAGE);
        assert_eq!(verify(&other, MESSAGE, &signature).await, Err(VerifyError::InvalidSignature));
        assert_eq!(
            verify(&key, b"{\"type\":\"key.get\"}", &signature).await,
            Err(VerifyError::InvalidSignature)
        );
    }
}

#[tokio::test]
async fn truncated_extended_and_empty_signatures_are_rejected() {
    for key in [p256_key(), secp256k1_key(), ed25519_key(), rsa_key()] {
        let signature = (key.sign)(MESSAGE);
        let mut extended = signature.clone();
        extended.push(0);
        for bad in [&signature[..signature.len() - 1], &extended, &[]] {
            assert_eq!(verify(&key, MESSAGE, bad).await, Err(VerifyError::InvalidSignature));
        }
    }
}

#[tokio::test]
async fn every_single_byte_change_of_an_ecdsa_signature_is_rejected() {
    let key = p256_key();
    let signature = (key.sign)(MESSAGE);

    for i in 0..signature.len() {
        let mut changed = signature.clone();
        changed[i] ^= 0x01;
        assert_eq!(
            verify(&key, MESSAGE, &changed).await,
            Err(VerifyError::InvalidSignature),
            "byte {i} changed"
        );
    }
}

#[tokio::test]
async fn ecdsa_signatures_with_a_high_s_are_accepted() {
    for (key, order) in [(p256_key(), &P256_ORDER), (secp256k1_key(), &SECP256K1_ORDER)] {
        let signature = (key.sign)(MESSAGE);
        let (r, s) = der_integers(&signature);
        let flipped = der_signature(&r, &negate_s(order, &s));

        assert_ne!(flipped, signature);
        assert_eq!(verify(&key, MESSAGE, &signature).await, Ok(()));
        assert_eq!(verify(&key, MESSAGE, &flipped).await, Ok(()));
    }
}

#[tokio::test]
async fn ecdsa_signatures_must_be_strict_der() {
    let key = p256_key();
    let (r, s) = der_integers(&(key.sign)(MESSAGE));

    // A redundant leading zero makes the integer's encoding non-minimal.
    let padded_r = [&[0u8][..], &r].concat();
    let non_minimal = der_signature(&padded_r, &s);
    assert_eq!(verify(&key, MESSAGE, &non_minimal).await, Err(VerifyError::InvalidSignature));

    // A signature must be DER, not the fixed-size r || s of IEEE P1363.
    let fixed = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let fixed_key_pem = to_pem("PUBLIC KEY", fixed.public_key().as_der().unwrap().as_ref());
    let fixed_signature = fixed.sign(&SystemRandom::new(), MESSAGE).unwrap();
    assert_eq!(
        KeyVerifier.verify(&fixed_key_pem, MESSAGE, fixed_signature.as_ref()).await,
        Err(VerifyError::InvalidSignature)
    );
}

#[tokio::test]
async fn an_ed25519_signature_must_be_exactly_64_bytes() {
    let key = ed25519_key();
    let signature = (key.sign)(MESSAGE);
    assert_eq!(signature.len(), 64);

    let mut long = signature.clone();
    long.push(0);
    for bad in [&signature[..63], &long[..]] {
        assert_eq!(verify(&key, MESSAGE, bad).await, Err(VerifyError::InvalidSignature));
    }
}

#[tokio::test]
async fn a_generated_p256_key_pair_signs_and_verifies() {
    let generated = generate_p256_key().unwrap();
    assert!(generated.private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(generated.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(!format!("{generated:?}").contains("PRIVATE"));

    let private_der = pem::parse(&generated.private_key_pem).unwrap().into_contents();
    let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &private_der).unwrap();
    let signature = key_pair.sign(&SystemRandom::new(), MESSAGE).unwrap();

    let algorithm = KeyVerifier.check_public_key(&generated.public_key_pem).await;
    assert_eq!(algorithm, Ok(KeyAlgorithm::EcdsaP256));
    let verified = KeyVerifier.verify(&generated.public_key_pem, MESSAGE, signature.as_ref()).await;
    assert_eq!(verified, Ok(()));
    assert_ne!(generate_p256_key().unwrap(), generated);
}

#[tokio::test]
async fn keys_that_are_not_one_pem_public_key_are_refused() {
    let pem = p256_key().public_key_pem;
    let der = pem::parse(&pem).unwrap().into_contents();
    let bodies = pem.trim_end().to_owned();

    for bad in [
        String::new(),
        "not a key".to_owned(),
        format!("{pem}trailing text"),
        format!("leading text\n{pem}"),
        format!("{pem}{pem}"),
        to_pem("RSA PUBLIC KEY", &der),
        to_pem("CERTIFICATE", &der),
        bodies.replace("-----END PUBLIC KEY-----", "-----END PRIVATE KEY-----"),
        bodies.replace("-----END PUBLIC KEY-----", ""),
        bodies.replacen('M', "*", 1),
    ] {
        assert_eq!(
            refusal_of(&bad).await,
            "is not a PEM public key (-----BEGIN PUBLIC KEY-----)",
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn surrounding_whitespace_and_crlf_line_ends_are_accepted() {
    let pem = p256_key().public_key_pem;
    let crlf = pem.replace('\n', "\r\n");
    for good in [format!("\n  {pem}\n\n"), crlf] {
        assert_eq!(KeyVerifier.check_public_key(&good).await, Ok(KeyAlgorithm::EcdsaP256));
    }
}

#[tokio::test]
async fn der_that_is_not_exactly_one_spki_is_refused() {
    let der = pem::parse(p256_key().public_key_pem).unwrap().into_contents();
    let trailing = [&der[..], &[0]].concat();
    let truncated = &der[..der.len() - 1];

    for bad in [&trailing[..], truncated, b"garbage", &[]] {
        assert_eq!(
            refusal_of(&to_pem("PUBLIC KEY", bad)).await,
            "is not a valid DER SubjectPublicKeyInfo"
        );
    }
}

#[tokio::test]
async fn a_point_off_the_curve_is_refused() {
    let mut der = pem::parse(p256_key().public_key_pem).unwrap().into_contents();
    let last = der.len() - 1;
    der[last] ^= 0x01;

    let reason = refusal_of(&to_pem("PUBLIC KEY", &der)).await;
    assert_eq!(reason, "is not a valid key for its algorithm");
}

#[tokio::test]
async fn other_algorithms_and_curves_are_refused() {
    let p384 = ecdsa_key(&ECDSA_P384_SHA384_ASN1_SIGNING);
    let reason = refusal_of(&p384.public_key_pem).await;
    assert_eq!(reason, "uses an unsupported curve; use P-256 or secp256k1");

    let x25519 = agreement::PrivateKey::generate(&agreement::X25519).unwrap();
    let x25519_der = x25519.compute_public_key().unwrap().as_der().unwrap();
    let reason = refusal_of(&to_pem("PUBLIC KEY", x25519_der.as_ref())).await;
    assert_eq!(
        reason,
        "uses an unsupported algorithm; use ECDSA (P-256 or secp256k1), Ed25519 or RSA"
    );
}

#[tokio::test]
async fn rsa_keys_under_2048_bits_are_refused() {
    let reason = refusal_of(RSA_1024_PEM).await;
    assert_eq!(reason, "is an RSA key of 1024 bits; at least 2048 are required");

    let error = KeyVerifier.verify(RSA_1024_PEM, MESSAGE, &[0; 128]).await.unwrap_err();
    assert_eq!(error.to_string(), format!("publicKey {reason}"));
}

#[tokio::test]
async fn verifying_with_an_unusable_key_says_so() {
    let error = KeyVerifier.verify("garbage", MESSAGE, &[1, 2, 3]).await.unwrap_err();
    assert!(matches!(error, VerifyError::PublicKey(_)), "{error:?}");
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
}

proptest! {
    #[test]
    fn any_signature_bytes_are_answered_without_a_panic(
        signature in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let keys = [p256_key(), ed25519_key()];
        for key in &keys {
            let verified = block_on(verify(key, MESSAGE, &signature));
            prop_assert_eq!(verified, Err(VerifyError::InvalidSignature));
        }
    }

    #[test]
    fn any_key_text_is_answered_without_a_panic(
        text in "(-----(BEGIN|END) PUBLIC KEY-----|[A-Za-z0-9+/=\n -]){0,80}",
    ) {
        let checked = block_on(KeyVerifier.check_public_key(&text));
        prop_assert!(checked.is_err());
        let verified = block_on(KeyVerifier.verify(&text, MESSAGE, &[0; 64]));
        prop_assert!(verified.is_err());
    }
}
