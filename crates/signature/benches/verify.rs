//! What one verification costs through the port, next to aws-lc-rs
//! verifying the same signature from pre-decoded bytes, and what reading a
//! PEM public key alone costs, for each algorithm the port accepts: ECDSA
//! P-256 and secp256k1 (SHA-256, ASN.1 DER), Ed25519, and RSA PKCS#1 v1.5
//! SHA-256 with a 2048-bit key. One criterion group per algorithm.
//!
//! The names of the port's benchmarks predate the cache of parsed keys:
//! `port verify` reads its PEM only the first time it sees it, while
//! `check_public_key` reads it on every call.
//!
//! Run with `cargo bench -p signature@0.1.0 --bench verify`;
//! `docs/benchmarks.md` reports each algorithm as a ratio to the bare P-256
//! verify of the same run.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256K1_SHA256_ASN1,
    ECDSA_P256K1_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair, EcdsaSigningAlgorithm,
    EcdsaVerificationAlgorithm, Ed25519KeyPair, KeyPair, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey, VerificationAlgorithm,
};
use criterion::Criterion;
use ports::SignatureVerifier;
use signature::KeyVerifier;

const MESSAGE: &[u8] = br#"{"type":"key.get","challenge":"Y2hhbGxlbmdlIGJ5dGVzIGZvciBhIGJlbmNo"}"#;

/// Runs a future that never waits, as `KeyVerifier`'s never do, without
/// an executor whose cost would blur the figures.
fn ready<F: Future>(future: F) -> F::Output {
    let mut context = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the verifier waited"),
    }
}

/// A public key as PEM and as the bytes aws-lc-rs takes, and a signature.
struct Case {
    name: &'static str,
    algorithm: &'static dyn VerificationAlgorithm,
    public_key_pem: String,
    public_key_bytes: Vec<u8>,
    signature: Vec<u8>,
}

/// An ECDSA key of one curve, signing with SHA-256 in ASN.1 DER as the
/// SDKs' key signers do.
fn ecdsa_case(
    name: &'static str,
    signing: &'static EcdsaSigningAlgorithm,
    verifying: &'static EcdsaVerificationAlgorithm,
) -> Case {
    let key_pair = EcdsaKeyPair::generate(signing).unwrap();
    let spki = key_pair.public_key().as_der().unwrap();
    Case {
        name,
        algorithm: verifying,
        public_key_pem: pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref())),
        public_key_bytes: key_pair.public_key().as_ref().to_vec(),
        signature: key_pair.sign(&SystemRandom::new(), MESSAGE).unwrap().as_ref().to_vec(),
    }
}

fn ed25519_case() -> Case {
    let key_pair = Ed25519KeyPair::generate().unwrap();
    let spki = key_pair.public_key().as_der().unwrap();
    Case {
        name: "ed25519",
        algorithm: &ED25519,
        public_key_pem: pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref())),
        public_key_bytes: key_pair.public_key().as_ref().to_vec(),
        signature: key_pair.sign(MESSAGE).as_ref().to_vec(),
    }
}

/// A 2048-bit RSA key, the smallest the verifier accepts, signing with
/// PKCS#1 v1.5 and SHA-256.
fn rsa_case() -> Case {
    let key_pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let spki = key_pair.public_key().as_der().unwrap();
    let mut signature = vec![0; key_pair.public_modulus_len()];
    key_pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), MESSAGE, &mut signature).unwrap();
    Case {
        name: "rsa2048",
        algorithm: &RSA_PKCS1_2048_8192_SHA256,
        public_key_pem: pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref())),
        public_key_bytes: key_pair.public_key().as_ref().to_vec(),
        signature,
    }
}

fn verify(c: &mut Criterion) {
    let verifier = KeyVerifier;
    let cases = [
        ecdsa_case("p256", &ECDSA_P256_SHA256_ASN1_SIGNING, &ECDSA_P256_SHA256_ASN1),
        ecdsa_case("secp256k1", &ECDSA_P256K1_SHA256_ASN1_SIGNING, &ECDSA_P256K1_SHA256_ASN1),
        ed25519_case(),
        rsa_case(),
    ];
    for case in cases {
        let mut group = c.benchmark_group(case.name);

        group.bench_function("port verify (pem + spki + verify)", |b| {
            b.iter(|| {
                let verified = ready(verifier.verify(
                    black_box(&case.public_key_pem),
                    black_box(MESSAGE),
                    black_box(&case.signature),
                ));
                assert!(verified.is_ok());
            })
        });

        // The parsing alone: the port's overhead over the bare verify.
        group.bench_function("port check_public_key (pem + spki)", |b| {
            b.iter(|| {
                let checked = ready(verifier.check_public_key(black_box(&case.public_key_pem)));
                assert!(checked.is_ok());
            })
        });

        group.bench_function("bare aws-lc-rs verify", |b| {
            b.iter(|| {
                let key = UnparsedPublicKey::new(case.algorithm, black_box(&case.public_key_bytes));
                assert!(key.verify(black_box(MESSAGE), black_box(&case.signature)).is_ok());
            })
        });

        group.finish();
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    verify(&mut criterion);
    criterion.final_summary();
}
