//! Fresh key pairs, for the server to hand out when it bootstraps an org's
//! first admin.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use pem::{EncodeConfig, LineEnding, Pem};

/// A key pair as PEM text: what a client stores and what the server keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The private key, PKCS#8 (`-----BEGIN PRIVATE KEY-----`), which
    /// node.js `crypto.createPrivateKey` and OpenSSL read as they are.
    pub private_key_pem: String,
    /// The public key, SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key must never reach a log through `{:?}`.
        f.debug_struct("GeneratedKey")
            .field("public_key_pem", &self.public_key_pem)
            .finish_non_exhaustive()
    }
}

/// Occurs when a key pair cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key pair could not be generated")]
pub struct GenerateKeyError;

/// A fresh ECDSA P-256 key pair from the system's random generator.
pub fn generate_p256_key() -> Result<GeneratedKey, GenerateKeyError> {
    let key_pair =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(|_| GenerateKeyError)?;
    let private_der = key_pair.to_pkcs8v1().map_err(|_| GenerateKeyError)?;
    let public_der = key_pair.public_key().as_der().map_err(|_| GenerateKeyError)?;

    Ok(GeneratedKey {
        private_key_pem: to_pem("PRIVATE KEY", private_der.as_ref()),
        public_key_pem: to_pem("PUBLIC KEY", public_der.as_ref()),
    })
}

/// `der` as PEM text under `tag`, with LF line ends.
pub(crate) fn to_pem(tag: &str, der: &[u8]) -> String {
    let config = EncodeConfig::new().set_line_ending(LineEnding::LF);
    pem::encode_config(&Pem::new(tag, der), config)
}
