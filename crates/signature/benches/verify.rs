//! What one verification costs through the port, PEM parsing included,
//! next to aws-lc-rs verifying the same signature from pre-decoded bytes,
//! and what the parsing alone costs.
//!
//! Run with `cargo bench -p signature@0.1.0`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, UnparsedPublicKey, VerificationAlgorithm,
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

fn p256_case() -> Case {
    let key_pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let spki = key_pair.public_key().as_der().unwrap();
    Case {
        name: "p256",
        algorithm: &ECDSA_P256_SHA256_ASN1,
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

fn verify(c: &mut Criterion) {
    let verifier = KeyVerifier;
    for case in [p256_case(), ed25519_case()] {
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
