//! Verification of the signatures that credentials make.
//!
//! [`KeyVerifier`] is the [`ports::SignatureVerifier`] the server uses: it
//! reads a PEM SubjectPublicKeyInfo, lets the key's own algorithm identifier
//! decide how to verify, and verifies with aws-lc-rs:
//!
//! | SPKI algorithm | signature |
//! |---|---|
//! | id-ecPublicKey, prime256v1 | ECDSA with SHA-256, strict ASN.1 DER |
//! | id-ecPublicKey, secp256k1 | ECDSA with SHA-256, strict ASN.1 DER |
//! | id-Ed25519 | Ed25519, the raw 64 bytes |
//! | rsaEncryption, 2048 to 8192 bits | RSA PKCS#1 v1.5 with SHA-256 |
//!
//! An Ed25519 key must be the canonical encoding of a point that is not of
//! small order: under a small-order key anyone can make a signature that
//! verifies. P-256 and secp256k1 have no such points, and aws-lc-rs refuses
//! degenerate RSA keys (an even modulus, an exponent of 1 or an even one).
//!
//! ECDSA signatures with a high S are accepted, since common signers
//! produce them and accepting both forms opens no forgery here: a signature
//! is only ever checked, never used as an identifier.
//!
//! [`SignatureVerifier::public_key_from_cose`] turns the COSE_Key of a new
//! WebAuthn credential into such a PEM key, for the algorithms above only
//! (ES256 or ESP256, ES256K, EdDSA or Ed25519, RS256), only when the key's
//! declared COSE algorithm fits its type and curve, and never when the key
//! carries its private part.
//!
//! [`generate_p256_key`] makes the key pair of an org's first admin.

mod cose;
mod generate;
mod public_key;

use async_trait::async_trait;
use ports::{KeyAlgorithm, PublicKeyError, SignatureVerifier, VerifyError};

pub use generate::{GenerateKeyError, GeneratedKey, generate_p256_key};

/// Verifies signatures with the PEM public keys of credentials.
///
/// It holds no state of its own. Keys it verified with are kept, parsed,
/// for every verifier of the process, a bounded number of them: a key is
/// read from its PEM once, not on every verification.
#[derive(Debug, Default, Clone)]
pub struct KeyVerifier;

impl KeyVerifier {
    /// A verifier.
    pub fn new() -> KeyVerifier {
        KeyVerifier
    }
}

#[async_trait]
impl SignatureVerifier for KeyVerifier {
    async fn check_public_key(&self, pem: &str) -> Result<KeyAlgorithm, PublicKeyError> {
        public_key::parse(pem).map(|key| key.algorithm)
    }

    async fn public_key_from_cose(&self, cose_key: &[u8]) -> Result<String, PublicKeyError> {
        cose::to_public_key_pem(cose_key)
    }

    async fn verify(
        &self,
        public_key_pem: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let key = public_key::parse_kept(public_key_pem)?;
        key.key.verify_sig(message, signature).map_err(|_| VerifyError::InvalidSignature)
    }
}
