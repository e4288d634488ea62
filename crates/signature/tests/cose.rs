//! COSE_Keys of new WebAuthn credentials, turned into PEM keys through the
//! `SignatureVerifier` port, with keys that aws-lc-rs generates on the spot
//! and COSE_Keys that coset builds.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256K1_SHA256_ASN1_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use coset::cbor::value::Value;
use coset::iana::{self, EnumI64};
use coset::{CborSerializable, CoseKey, CoseKeyBuilder, KeyType};
use pkcs1::RsaPublicKey;
use ports::{KeyAlgorithm, SignatureVerifier};
use proptest::prelude::*;
use signature::KeyVerifier;
use spki::SubjectPublicKeyInfoRef;
use spki::der::Decode;

const MESSAGE: &[u8] = br#"{"type":"key.get","challenge":"Y2hhbGxlbmdl"}"#;

/// A 1024-bit RSA public key, made once with `openssl genpkey`.
const RSA_1024_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDT6Bmpz2kdQ20ogBiCB4iD2owR
PGcI6chmzjbCE3Oo288MvwpqsEDmmHhVuRPs6bBSEFGq5gNiX7l6QNtnEDJGElg8
lBGcFbaYOON2wB8v47oz4B1sPhkAdqjnPRoiCPDbZjBmiymi8sXyX/t6ld2OtynS
6agerFaEY4It7ES2YwIDAQAB
-----END PUBLIC KEY-----
";

const ACCEPTED_ALGORITHMS: &str =
    "use ES256 (-7), ESP256 (-9), ES256K (-47), EdDSA (-8), Ed25519 (-19) or RS256 (-257)";

/// Signs a message with a test key's private key.
type Sign = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A signer, and its public key as aws-lc-rs encodes it (SPKI DER) and as
/// coset builds it (a COSE_Key without `alg`, to be given one).
struct TestKey {
    spki_der: Vec<u8>,
    cose: CoseKeyBuilder,
    sign: Sign,
}

fn ecdsa_key(alg: &'static EcdsaSigningAlgorithm, curve: iana::EllipticCurve) -> TestKey {
    let key_pair = EcdsaKeyPair::generate(alg).unwrap();
    let spki_der = key_pair.public_key().as_der().unwrap().as_ref().to_vec();
    let (x, y) = coordinates(key_pair.public_key().as_ref());
    let cose = CoseKeyBuilder::new_ec2_pub_key(curve, x, y);
    let sign = move |message: &[u8]| {
        key_pair.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec()
    };
    TestKey { spki_der, cose, sign: Box::new(sign) }
}

/// `x` and `y` of an uncompressed SEC 1 point.
fn coordinates(point: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(point.len(), 65);
    assert_eq!(point[0], 0x04);
    (point[1..33].to_vec(), point[33..].to_vec())
}

fn p256_key() -> TestKey {
    ecdsa_key(&ECDSA_P256_SHA256_ASN1_SIGNING, iana::EllipticCurve::P_256)
}

fn secp256k1_key() -> TestKey {
    ecdsa_key(&ECDSA_P256K1_SHA256_ASN1_SIGNING, iana::EllipticCurve::Secp256k1)
}

fn okp_key(curve: i64, x: Vec<u8>) -> CoseKeyBuilder {
    CoseKeyBuilder::new_okp_key()
        .param(iana::OkpKeyParameter::Crv.to_i64(), Value::from(curve))
        .param(iana::OkpKeyParameter::X.to_i64(), Value::Bytes(x))
}

fn ed25519_key() -> TestKey {
    let key_pair = Ed25519KeyPair::generate().unwrap();
    let spki_der = key_pair.public_key().as_der().unwrap().as_ref().to_vec();
    let x = key_pair.public_key().as_ref().to_vec();
    let cose = okp_key(iana::EllipticCurve::Ed25519.to_i64(), x);
    let sign = move |message: &[u8]| key_pair.sign(message).as_ref().to_vec();
    TestKey { spki_der, cose, sign: Box::new(sign) }
}

fn rsa_cose_key(n: &[u8], e: &[u8]) -> CoseKeyBuilder {
    CoseKeyBuilder::new()
        .key_type(iana::KeyType::RSA)
        .param(iana::RsaKeyParameter::N.to_i64(), Value::Bytes(n.to_vec()))
        .param(iana::RsaKeyParameter::E.to_i64(), Value::Bytes(e.to_vec()))
}

fn rsa_key() -> TestKey {
    let key_pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let spki_der = key_pair.public_key().as_der().unwrap().as_ref().to_vec();
    let components = PublicKeyComponents::<Vec<u8>>::from(key_pair.public_key());
    let cose = rsa_cose_key(&components.n, &components.e);
    let sign = move |message: &[u8]| {
        let mut signature = vec![0; key_pair.public_modulus_len()];
        key_pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature).unwrap();
        signature
    };
    TestKey { spki_der, cose, sign: Box::new(sign) }
}

fn encode(key: CoseKey) -> Vec<u8> {
    key.to_vec().unwrap()
}

async fn refusal_of(cose_key: &[u8]) -> String {
    KeyVerifier.public_key_from_cose(cose_key).await.unwrap_err().reason
}

/// A P-256 COSE_Key that declares ES256, as most authenticators report.
fn es256_key() -> CoseKey {
    p256_key().cose.algorithm(iana::Algorithm::ES256).build()
}

/// The COSE_Key as a CBOR map, to change what coset would not build.
fn cbor_map(key: CoseKey) -> Vec<(Value, Value)> {
    match coset::AsCborValue::to_cbor_value(key).unwrap() {
        Value::Map(entries) => entries,
        other => panic!("not a map: {other:?}"),
    }
}

fn cbor_bytes(value: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    coset::cbor::ser::into_writer(value, &mut bytes).unwrap();
    bytes
}

#[tokio::test]
async fn each_algorithm_gives_the_same_key_which_verifies_what_the_private_key_signs() {
    for (key, alg, algorithm) in [
        (p256_key(), iana::Algorithm::ES256, KeyAlgorithm::EcdsaP256),
        (p256_key(), iana::Algorithm::ESP256, KeyAlgorithm::EcdsaP256),
        (secp256k1_key(), iana::Algorithm::ES256K, KeyAlgorithm::EcdsaSecp256k1),
        (ed25519_key(), iana::Algorithm::EdDSA, KeyAlgorithm::Ed25519),
        (ed25519_key(), iana::Algorithm::Ed25519, KeyAlgorithm::Ed25519),
        (rsa_key(), iana::Algorithm::RS256, KeyAlgorithm::RsaPkcs1Sha256),
    ] {
        let cose_key = encode(key.cose.algorithm(alg).build());
        let pem = KeyVerifier.public_key_from_cose(&cose_key).await.unwrap();

        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert_eq!(KeyVerifier.check_public_key(&pem).await, Ok(algorithm));
        // The very SPKI aws-lc-rs gives for the key pair, byte for byte.
        assert_eq!(pem::parse(&pem).unwrap().into_contents(), key.spki_der, "{alg:?}");

        let signature = (key.sign)(MESSAGE);
        assert_eq!(KeyVerifier.verify(&pem, MESSAGE, &signature).await, Ok(()), "{alg:?}");
        let other = (key.sign)(b"another message");
        assert!(KeyVerifier.verify(&pem, MESSAGE, &other).await.is_err(), "{alg:?}");
    }
}

#[tokio::test]
async fn an_esp256_key_gives_the_same_pem_key_as_es256_and_verifies() {
    let key = p256_key();
    let mut cose_key = key.cose.build();
    cose_key.alg = Some(coset::Algorithm::Assigned(iana::Algorithm::ES256));
    let es256 = encode(cose_key.clone());
    cose_key.alg = Some(coset::Algorithm::Assigned(iana::Algorithm::ESP256));
    let esp256 = encode(cose_key);
    assert_ne!(es256, esp256);

    let pem = KeyVerifier.public_key_from_cose(&esp256).await.unwrap();
    assert_eq!(pem, KeyVerifier.public_key_from_cose(&es256).await.unwrap());
    assert_eq!(KeyVerifier.check_public_key(&pem).await, Ok(KeyAlgorithm::EcdsaP256));
    assert_eq!(KeyVerifier.verify(&pem, MESSAGE, &(key.sign)(MESSAGE)).await, Ok(()));
}

#[tokio::test]
async fn a_key_that_carries_its_private_key_is_refused() {
    let d = Value::Bytes(vec![7; 32]);
    let ec2_d = iana::Ec2KeyParameter::D.to_i64();
    let okp_d = iana::OkpKeyParameter::D.to_i64();
    let with_d = [
        p256_key().cose.param(ec2_d, d.clone()).algorithm(iana::Algorithm::ES256).build(),
        p256_key().cose.param(ec2_d, d.clone()).algorithm(iana::Algorithm::ESP256).build(),
        secp256k1_key().cose.param(ec2_d, d.clone()).algorithm(iana::Algorithm::ES256K).build(),
        ed25519_key().cose.param(okp_d, d.clone()).algorithm(iana::Algorithm::EdDSA).build(),
        rsa_key()
            .cose
            .param(iana::RsaKeyParameter::D.to_i64(), d.clone())
            .algorithm(iana::Algorithm::RS256)
            .build(),
        // Refused for carrying `d` whatever `d` holds, and before anything
        // else is looked at.
        p256_key().cose.param(ec2_d, Value::Null).algorithm(iana::Algorithm::ES256).build(),
        p256_key().cose.param(ec2_d, d.clone()).algorithm(iana::Algorithm::EdDSA).build(),
    ];
    for cose_key in with_d {
        assert_eq!(
            refusal_of(&encode(cose_key)).await,
            "carries a private key (d), which an authenticator must never send"
        );
    }

    // A real P-256 private key, as coset builds it, is refused all the same.
    let private = CoseKeyBuilder::new_ec2_priv_key(
        iana::EllipticCurve::P_256,
        vec![1; 32],
        vec![2; 32],
        vec![3; 32],
    )
    .algorithm(iana::Algorithm::ES256)
    .build();
    let reason = refusal_of(&encode(private)).await;
    assert_eq!(reason, "carries a private key (d), which an authenticator must never send");

    // The other private parameters of an RSA key: its primes and CRT values.
    for (parameter, name) in [
        (iana::RsaKeyParameter::P, "p"),
        (iana::RsaKeyParameter::Q, "q"),
        (iana::RsaKeyParameter::DP, "dP"),
        (iana::RsaKeyParameter::DQ, "dQ"),
        (iana::RsaKeyParameter::QInv, "qInv"),
        (iana::RsaKeyParameter::Other, "other"),
        (iana::RsaKeyParameter::RI, "r_i"),
        (iana::RsaKeyParameter::DI, "d_i"),
        (iana::RsaKeyParameter::TI, "t_i"),
    ] {
        let cose_key = rsa_key()
            .cose
            .param(parameter.to_i64(), Value::Bytes(vec![7; 128]))
            .algorithm(iana::Algorithm::RS256)
            .build();
        assert_eq!(
            refusal_of(&encode(cose_key)).await,
            format!(
                "carries a part of its private key ({name}), which an authenticator must never send"
            )
        );
    }
}

#[tokio::test]
async fn other_parameters_of_the_key_do_not_matter() {
    let key = p256_key();
    let cose_key = key
        .cose
        .algorithm(iana::Algorithm::ES256)
        .key_id(b"kid".to_vec())
        .add_key_op(iana::KeyOperation::Verify)
        .param(-70_000, Value::Text("private use".to_owned()))
        .build();
    let pem = KeyVerifier.public_key_from_cose(&encode(cose_key)).await.unwrap();
    let signature = (key.sign)(MESSAGE);
    assert_eq!(KeyVerifier.verify(&pem, MESSAGE, &signature).await, Ok(()));
}

#[tokio::test]
async fn an_rsa_modulus_with_a_leading_zero_is_the_same_key() {
    let key = rsa_key();
    let spki = SubjectPublicKeyInfoRef::from_der(&key.spki_der).unwrap();
    let rsa = RsaPublicKey::from_der(spki.subject_public_key.raw_bytes()).unwrap();
    let padded_n = [&[0u8][..], rsa.modulus.as_bytes()].concat();
    let cose_key = rsa_cose_key(&padded_n, rsa.public_exponent.as_bytes())
        .algorithm(iana::Algorithm::RS256)
        .build();

    let pem = KeyVerifier.public_key_from_cose(&encode(cose_key)).await.unwrap();
    assert_eq!(pem::parse(&pem).unwrap().into_contents(), key.spki_der);
}

#[tokio::test]
async fn an_algorithm_that_does_not_fit_the_key_is_refused() {
    let cases = [
        (
            ed25519_key().cose.algorithm(iana::Algorithm::ES256).build(),
            "declares COSE algorithm -7 for an OKP key on curve Ed25519, \
             which needs EdDSA (-8) or Ed25519 (-19)",
        ),
        (
            p256_key().cose.algorithm(iana::Algorithm::EdDSA).build(),
            "declares COSE algorithm -8 for an EC2 key on curve P-256, \
             which needs ES256 (-7) or ESP256 (-9)",
        ),
        (
            p256_key().cose.algorithm(iana::Algorithm::ES256K).build(),
            "declares COSE algorithm -47 for an EC2 key on curve P-256, \
             which needs ES256 (-7) or ESP256 (-9)",
        ),
        (
            secp256k1_key().cose.algorithm(iana::Algorithm::ES256).build(),
            "declares COSE algorithm -7 for an EC2 key on curve secp256k1, \
             which needs ES256K (-47)",
        ),
        (
            p256_key().cose.algorithm(iana::Algorithm::RS256).build(),
            "declares COSE algorithm -257 for an EC2 key on curve P-256, \
             which needs ES256 (-7) or ESP256 (-9)",
        ),
        (
            rsa_key().cose.algorithm(iana::Algorithm::ES256).build(),
            "declares COSE algorithm -7 for an RSA key, which needs RS256 (-257)",
        ),
        (
            secp256k1_key().cose.algorithm(iana::Algorithm::ESP256).build(),
            "declares COSE algorithm -9 for an EC2 key on curve secp256k1, \
             which needs ES256K (-47)",
        ),
        (
            ed25519_key().cose.algorithm(iana::Algorithm::ESP256).build(),
            "declares COSE algorithm -9 for an OKP key on curve Ed25519, \
             which needs EdDSA (-8) or Ed25519 (-19)",
        ),
    ];
    for (cose_key, reason) in cases {
        assert_eq!(refusal_of(&encode(cose_key)).await, reason);
    }
}

#[tokio::test]
async fn a_key_without_alg_is_refused() {
    for key in [p256_key(), ed25519_key()] {
        let reason = refusal_of(&encode(key.cose.build())).await;
        assert_eq!(reason, "names no COSE algorithm (alg), which WebAuthn requires");
    }
}

#[tokio::test]
async fn algorithms_this_server_does_not_verify_are_refused() {
    let p384 =
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_384, vec![1; 48], vec![2; 48])
            .algorithm(iana::Algorithm::ES384)
            .build();
    let reason = refusal_of(&encode(p384)).await;
    assert_eq!(
        reason,
        format!(
            "uses COSE algorithm -35, which this server does not accept; {ACCEPTED_ALGORITHMS}"
        )
    );

    let ps256 = rsa_key().cose.algorithm(iana::Algorithm::PS256).build();
    let reason = refusal_of(&encode(ps256)).await;
    assert!(reason.starts_with("uses COSE algorithm -37, which"), "{reason}");

    let mut text_alg = es256_key();
    text_alg.alg = Some(coset::Algorithm::Text("ES256".to_owned()));
    let reason = refusal_of(&encode(text_alg)).await;
    assert!(reason.starts_with("uses COSE algorithm \"ES256\", which"), "{reason}");
}

#[tokio::test]
async fn other_key_types_and_curves_are_refused() {
    let symmetric =
        CoseKeyBuilder::new_symmetric_key(vec![7; 32]).algorithm(iana::Algorithm::ES256).build();
    assert_eq!(
        refusal_of(&encode(symmetric)).await,
        "has COSE key type 4, which this server does not accept; use EC2 (2), OKP (1) or RSA (3)"
    );

    let mut text_kty = es256_key();
    text_kty.kty = KeyType::Text("EC2".to_owned());
    let reason = refusal_of(&encode(text_kty)).await;
    assert!(reason.starts_with("has COSE key type \"EC2\", which"), "{reason}");

    let p384 =
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_384, vec![1; 48], vec![2; 48])
            .algorithm(iana::Algorithm::ES256)
            .build();
    assert_eq!(
        refusal_of(&encode(p384)).await,
        "uses COSE curve 2, which this server does not accept for EC2 keys; \
         use P-256 (1) or secp256k1 (8)"
    );

    let (x, y) = (vec![1; 32], vec![2; 32]);
    let ed25519_on_ec2 = CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::Ed25519, x, y)
        .algorithm(iana::Algorithm::ES256)
        .build();
    let reason = refusal_of(&encode(ed25519_on_ec2)).await;
    assert!(reason.starts_with("uses COSE curve 6, which this server does not accept"));

    let x25519 = okp_key(iana::EllipticCurve::X25519.to_i64(), vec![9; 32])
        .algorithm(iana::Algorithm::EdDSA)
        .build();
    assert_eq!(
        refusal_of(&encode(x25519)).await,
        "uses COSE curve 4, which this server does not accept for OKP keys; use Ed25519 (6)"
    );

    let unknown_curve = okp_key(99_999, vec![9; 32]).algorithm(iana::Algorithm::EdDSA).build();
    let reason = refusal_of(&encode(unknown_curve)).await;
    assert!(reason.starts_with("uses COSE curve 99999, which"), "{reason}");
}

#[tokio::test]
async fn a_curve_that_is_missing_or_not_a_number_is_refused() {
    let crv = Value::from(iana::Ec2KeyParameter::Crv.to_i64());

    let mut entries = cbor_map(es256_key());
    entries.retain(|(label, _)| *label != crv);
    assert_eq!(
        refusal_of(&cbor_bytes(&Value::Map(entries))).await,
        "names no curve (crv); use P-256 (1) or secp256k1 (8)"
    );

    let mut entries = cbor_map(es256_key());
    for (label, value) in &mut entries {
        if *label == crv {
            *value = Value::Text("P-256".to_owned());
        }
    }
    assert_eq!(
        refusal_of(&cbor_bytes(&Value::Map(entries))).await,
        "names its curve (crv) other than by a COSE curve number; use P-256 (1) or secp256k1 (8)"
    );
}

#[tokio::test]
async fn ec2_coordinates_must_be_32_bytes_each() {
    let (x, y) = coordinates(&cose_key_point(&p256_key().cose.build()));
    let p256 = |x: Vec<u8>, y: Vec<u8>| {
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, x, y)
            .algorithm(iana::Algorithm::ES256)
            .build()
    };

    let cases = [
        (
            p256(x[1..].to_vec(), y.clone()),
            "has an x coordinate (x) of 31 bytes; a P-256 key needs 32",
        ),
        (
            p256(x.clone(), [&[0u8][..], &y].concat()),
            "has a y coordinate (y) of 33 bytes; a P-256 key needs 32",
        ),
        (p256(Vec::new(), Vec::new()), "has an x coordinate (x) of 0 bytes; a P-256 key needs 32"),
    ];
    for (cose_key, reason) in cases {
        assert_eq!(refusal_of(&encode(cose_key)).await, reason);
    }

    let secp256k1 =
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::Secp256k1, vec![1; 33], vec![2; 33])
            .algorithm(iana::Algorithm::ES256K)
            .build();
    assert_eq!(
        refusal_of(&encode(secp256k1)).await,
        "has an x coordinate (x) of 33 bytes; a secp256k1 key needs 32"
    );
}

/// The uncompressed point of an EC2 COSE_Key.
fn cose_key_point(cose_key: &CoseKey) -> Vec<u8> {
    cose_key.to_sec1_octet_string().unwrap()
}

#[tokio::test]
async fn a_compressed_point_is_refused() {
    let key = p256_key().cose.build();
    let (x, y) = coordinates(&cose_key_point(&key));
    let compressed =
        CoseKeyBuilder::new_ec2_pub_key_y_sign(iana::EllipticCurve::P_256, x, y[31] & 1 == 1)
            .algorithm(iana::Algorithm::ES256)
            .build();
    assert_eq!(
        refusal_of(&encode(compressed)).await,
        "has a compressed point, which this server does not accept; \
         a P-256 key needs both coordinates (x and y) of 32 bytes"
    );
}

#[tokio::test]
async fn missing_or_mistyped_key_material_is_refused() {
    let x_label = Value::from(iana::Ec2KeyParameter::X.to_i64());
    let y_label = Value::from(iana::Ec2KeyParameter::Y.to_i64());

    let mut entries = cbor_map(es256_key());
    entries.retain(|(label, _)| *label != y_label);
    assert_eq!(refusal_of(&cbor_bytes(&Value::Map(entries))).await, "lacks a y coordinate (y)");

    let mut entries = cbor_map(es256_key());
    for (label, value) in &mut entries {
        if *label == x_label {
            *value = Value::Text("not bytes".to_owned());
        }
    }
    assert_eq!(
        refusal_of(&cbor_bytes(&Value::Map(entries))).await,
        "has an x coordinate (x) that is not a byte string"
    );

    let no_x = CoseKeyBuilder::new_okp_key()
        .param(iana::OkpKeyParameter::Crv.to_i64(), Value::from(6))
        .algorithm(iana::Algorithm::EdDSA)
        .build();
    assert_eq!(refusal_of(&encode(no_x)).await, "lacks an Ed25519 public key (x)");

    let short_x = okp_key(6, vec![1; 31]).algorithm(iana::Algorithm::EdDSA).build();
    assert_eq!(
        refusal_of(&encode(short_x)).await,
        "has an Ed25519 public key (x) of 31 bytes; an Ed25519 key needs 32"
    );

    let no_e = CoseKeyBuilder::new()
        .key_type(iana::KeyType::RSA)
        .param(iana::RsaKeyParameter::N.to_i64(), Value::Bytes(vec![0xc5; 256]))
        .algorithm(iana::Algorithm::RS256)
        .build();
    assert_eq!(refusal_of(&encode(no_e)).await, "lacks an RSA public exponent (e)");

    let no_n = CoseKeyBuilder::new()
        .key_type(iana::KeyType::RSA)
        .param(iana::RsaKeyParameter::E.to_i64(), Value::Bytes(vec![1, 0, 1]))
        .algorithm(iana::Algorithm::RS256)
        .build();
    assert_eq!(refusal_of(&encode(no_n)).await, "lacks an RSA modulus (n)");

    for (n, e) in [(&[][..], &[1u8, 0, 1][..]), (&[0xc5; 256][..], &[][..])] {
        let empty = rsa_cose_key(n, e).algorithm(iana::Algorithm::RS256).build();
        assert_eq!(refusal_of(&encode(empty)).await, "is not a valid RSA key");
    }
}

#[tokio::test]
async fn a_point_off_the_curve_is_refused() {
    for (key, curve, alg) in [
        (p256_key(), iana::EllipticCurve::P_256, iana::Algorithm::ES256),
        (secp256k1_key(), iana::EllipticCurve::Secp256k1, iana::Algorithm::ES256K),
    ] {
        let (x, mut y) = coordinates(&cose_key_point(&key.cose.build()));
        // (x, y + 1) or (x, y - 1) is on the curve only if it is (x, -y),
        // which it is not but for one y in some 2^255.
        y[31] ^= 0x01;
        let off_curve = CoseKeyBuilder::new_ec2_pub_key(curve, x, y).algorithm(alg).build();

        let reason = refusal_of(&encode(off_curve)).await;
        assert_eq!(reason, "is not a valid key for its algorithm");
    }
}

#[tokio::test]
async fn rsa_keys_under_2048_bits_are_refused() {
    let der = pem::parse(RSA_1024_PEM).unwrap().into_contents();
    let spki = SubjectPublicKeyInfoRef::from_der(&der).unwrap();
    let rsa = RsaPublicKey::from_der(spki.subject_public_key.raw_bytes()).unwrap();
    let cose_key = rsa_cose_key(rsa.modulus.as_bytes(), rsa.public_exponent.as_bytes())
        .algorithm(iana::Algorithm::RS256)
        .build();

    let error = KeyVerifier.public_key_from_cose(&encode(cose_key)).await.unwrap_err();
    assert_eq!(error.reason, "is an RSA key of 1024 bits; at least 2048 are required");
    assert_eq!(
        error.to_string(),
        "publicKey is an RSA key of 1024 bits; at least 2048 are required"
    );
}

#[tokio::test]
async fn bytes_that_are_not_exactly_one_cose_key_are_refused() {
    let valid = encode(es256_key());
    let trailing = [&valid[..], &[0x00]].concat();
    let twice = [&valid[..], &valid[..]].concat();
    let truncated = &valid[..valid.len() - 1];
    let array = cbor_bytes(&Value::Array(vec![Value::from(2), Value::from(1)]));
    let no_kty = cbor_bytes(&Value::Map(vec![(Value::from(3), Value::from(-7))]));
    let mut repeated = cbor_map(es256_key());
    repeated.push(repeated[0].clone());
    let repeated = cbor_bytes(&Value::Map(repeated));
    let tagged = cbor_bytes(&Value::Tag(24, Box::new(Value::Bytes(valid.clone()))));

    for bad in [
        &[][..],
        b"garbage",
        &trailing,
        &twice,
        truncated,
        &array,
        &no_kty,
        &repeated,
        &tagged,
        &[0xa0],
    ] {
        assert_eq!(
            refusal_of(bad).await,
            "is not a COSE_Key, one CBOR map with a key type (kty)",
            "{bad:02x?}"
        );
    }
}

#[tokio::test]
async fn a_refusal_reads_as_a_public_key_error() {
    let error = KeyVerifier.public_key_from_cose(&[]).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "publicKey is not a COSE_Key, one CBOR map with a key type (kty)"
    );
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
}

proptest! {
    #[test]
    fn any_bytes_are_answered_without_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let converted = block_on(KeyVerifier.public_key_from_cose(&bytes));
        prop_assert!(converted.is_err());
    }

    #[test]
    fn any_change_to_one_byte_of_a_key_gives_a_refusal_or_a_usable_key(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut cose_key = encode(es256_key());
        let at = at.index(cose_key.len());
        cose_key[at] = byte;
        if let Ok(pem) = block_on(KeyVerifier.public_key_from_cose(&cose_key)) {
            let checked = block_on(KeyVerifier.check_public_key(&pem));
            prop_assert_eq!(checked, Ok(KeyAlgorithm::EcdsaP256));
        }
    }
}
