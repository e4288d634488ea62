//! Login tokens: EdDSA-signed JWTs.
//!
//! [`JwtTokens`] is the [`ports::AuthTokens`] the server uses. A token is a
//! compact JWT signed with one Ed25519 key that every server instance of a
//! database shares (see [`generate_signing_key`]). Its claims are those of
//! Dfns login tokens:
//!
//! ```json
//! {
//!   "sub": "us-…", "iat": 1700000000, "exp": 1700003600,
//!   "jti": "…", "iss": "orgusers",
//!   "https://custom/app_metadata": {
//!     "orgId": "or-…", "userId": "us-…", "tokenKind": "Employee"
//!   }
//! }
//! ```
//!
//! The official TypeScript SDK decodes the `app_metadata` claim to learn
//! the org; the server itself trusts a token only once its signature, its
//! expiry and its ids check out, and even then checks the stored user on
//! every request.

use std::fmt;

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use domain::{OrgId, Timestamp, UserId};
use jsonwebtoken::crypto::{CryptoProvider, aws_lc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ports::{AuthClaims, AuthTokens, StoreError, TokenError};
use serde::{Deserialize, Serialize};

/// The `iss` of every token this server issues.
pub const ISSUER: &str = "orgusers";

/// The name of the claim that carries the org and the user.
pub const APP_METADATA_CLAIM: &str = "https://custom/app_metadata";

/// The only `tokenKind` this server issues: a login of an org's user.
const TOKEN_KIND: &str = "Employee";

/// Occurs when a stored signing key is not an Ed25519 PKCS#8 document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token signing key is not an Ed25519 PKCS#8 document")]
pub struct SigningKeyError;

/// A new Ed25519 signing key, as a PKCS#8 document, from the system's
/// random generator. The server stores it once, so that every instance
/// signs and checks tokens with the same key.
///
/// # Panics
///
/// When the system's random generator fails, which leaves the server
/// nothing sound to do.
pub fn generate_signing_key() -> Vec<u8> {
    Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .expect("the system random generator failed")
        .as_ref()
        .to_vec()
}

/// Issues and checks login tokens with one Ed25519 key, EdDSA only.
pub struct JwtTokens {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    header: Header,
    validation: Validation,
}

impl fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signing key must never reach a log through `{:?}`.
        f.debug_struct("JwtTokens").finish_non_exhaustive()
    }
}

impl JwtTokens {
    /// Signs and checks with the Ed25519 key in this PKCS#8 document (v1
    /// or v2), such as one [`generate_signing_key`] made.
    pub fn from_pkcs8(signing_key: &[u8]) -> Result<JwtTokens, SigningKeyError> {
        let key_pair = Ed25519KeyPair::from_pkcs8(signing_key).map_err(|_| SigningKeyError)?;

        // jsonwebtoken picks its crypto backend from its features; should
        // feature unification ever enable a second one, it would panic on
        // use instead. Naming ours first keeps it working; a backend that
        // was installed earlier stays, which is why the answer is ignored.
        let _ = CryptoProvider::install_default(&aws_lc::DEFAULT_PROVIDER);

        // jsonwebtoken checks `exp` against the system clock with leeway;
        // `verify` compares it with the `now` it is given instead.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();

        Ok(JwtTokens {
            encoding_key: EncodingKey::from_ed_der(signing_key),
            decoding_key: DecodingKey::from_ed_der(key_pair.public_key().as_ref()),
            header: Header::new(Algorithm::EdDSA),
            validation,
        })
    }
}

/// The claims as they travel in the token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    jti: String,
    iss: String,
    #[serde(rename = "https://custom/app_metadata")]
    app_metadata: AppMetadata,
}

/// What the SDKs read: the org, the user and the kind of token.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppMetadata {
    org_id: String,
    user_id: String,
    token_kind: String,
}

impl Claims {
    /// `iat` and `exp` are whole seconds, rounded down, so a token never
    /// outlives the `expires_at` it was issued with.
    fn new(claims: &AuthClaims) -> Claims {
        Claims {
            sub: claims.user_id.to_string(),
            iat: claims.issued_at.unix_seconds(),
            exp: claims.expires_at.unix_seconds(),
            jti: claims.token_id.clone(),
            iss: ISSUER.to_owned(),
            app_metadata: AppMetadata {
                org_id: claims.org_id.to_string(),
                user_id: claims.user_id.to_string(),
                token_kind: TOKEN_KIND.to_owned(),
            },
        }
    }

    fn check(self, now: Timestamp) -> Result<AuthClaims, TokenError> {
        let expires_at = seconds(self.exp);
        if now >= expires_at
            || self.iss != ISSUER
            || self.app_metadata.token_kind != TOKEN_KIND
            || self.sub != self.app_metadata.user_id
        {
            return Err(TokenError::Invalid);
        }

        Ok(AuthClaims {
            user_id: UserId::parse(&self.sub).map_err(|_| TokenError::Invalid)?,
            org_id: OrgId::parse(&self.app_metadata.org_id).map_err(|_| TokenError::Invalid)?,
            token_id: self.jti,
            issued_at: seconds(self.iat),
            expires_at,
        })
    }
}

fn seconds(seconds: i64) -> Timestamp {
    Timestamp::from_unix_millis(seconds.saturating_mul(1000))
}

#[async_trait]
impl AuthTokens for JwtTokens {
    async fn issue(&self, claims: &AuthClaims) -> Result<String, StoreError> {
        jsonwebtoken::encode(&self.header, &Claims::new(claims), &self.encoding_key)
            .map_err(StoreError::new)
    }

    async fn verify(&self, token: &str, now: Timestamp) -> Result<AuthClaims, TokenError> {
        let decoded = jsonwebtoken::decode::<Claims>(token, &self.decoding_key, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        decoded.claims.check(now)
    }
}
