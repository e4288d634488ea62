//! Deterministic doubles for the ports the kit does not test.
//!
//! The kit runs the real use cases over the store under test; signatures,
//! login tokens, the clock and randomness come from these doubles, so that
//! a run depends on nothing but the store and the generated sequence. They
//! are public because they are just as handy for an embedder's own tests of
//! `app::Service`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use base64::Engine;
use domain::{Duration, OrgId, Timestamp, UserId};
use ports::{
    AuthClaims, AuthTokens, Clock, KeyAlgorithm, PublicKeyError, Randomness, SignatureVerifier,
    StoreError, TokenError, VerifyError,
};

/// The signature [`MarkerVerifier`] accepts, whatever the key and message.
pub const VALID_SIGNATURE: &[u8] = b"valid";

/// A [`SignatureVerifier`] that accepts any non-empty public key and exactly
/// the signature [`VALID_SIGNATURE`].
///
/// No cryptography runs: what the kit checks is that the use cases find the
/// right credential in the store and spend the right challenge, not that
/// signatures are sound (the `signature` crate has its own tests). A COSE
/// key is not parsed either: [`MarkerVerifier::public_key_from_cose`]
/// wraps its bytes in a PEM block, so that each COSE key gives its own
/// "public key", and this verifier accepts it like any other.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkerVerifier;

#[async_trait]
impl SignatureVerifier for MarkerVerifier {
    async fn check_public_key(&self, pem: &str) -> Result<KeyAlgorithm, PublicKeyError> {
        if pem.trim().is_empty() {
            return Err(PublicKeyError { reason: "is empty".to_owned() });
        }
        Ok(KeyAlgorithm::Ed25519)
    }

    async fn public_key_from_cose(&self, cose_key: &[u8]) -> Result<String, PublicKeyError> {
        if cose_key.is_empty() {
            return Err(PublicKeyError { reason: "is empty".to_owned() });
        }
        Ok(cose_marker_pem(cose_key))
    }

    async fn verify(
        &self,
        _public_key_pem: &str,
        _message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        if signature == VALID_SIGNATURE { Ok(()) } else { Err(VerifyError::InvalidSignature) }
    }
}

/// The PEM block [`MarkerVerifier`] makes of a COSE key: its bytes in
/// standard base64 under a `COSE KEY` label, which no real key has, so a
/// test can tell where a stored key came from.
pub fn cose_marker_pem(cose_key: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(cose_key);
    format!("-----BEGIN COSE KEY-----\n{body}\n-----END COSE KEY-----\n")
}

/// [`AuthTokens`] that write the claims in plain text, dot-separated, and
/// read them back; expiry is checked against the `now` the use case passes.
///
/// Unforgeable tokens are the `auth-token` crate's business; here anyone
/// could mint one, which is fine for a test that only uses tokens it was
/// issued.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTokens;

#[async_trait]
impl AuthTokens for PlainTokens {
    async fn issue(&self, claims: &AuthClaims) -> Result<String, StoreError> {
        // Ids and base64url token ids never contain a dot.
        Ok(format!(
            "{}.{}.{}.{}.{}",
            claims.user_id,
            claims.org_id,
            claims.issued_at.unix_millis(),
            claims.expires_at.unix_millis(),
            claims.token_id
        ))
    }

    async fn verify(&self, token: &str, now: Timestamp) -> Result<AuthClaims, TokenError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [user_id, org_id, issued_at, expires_at, token_id] = parts[..] else {
            return Err(TokenError::Invalid);
        };
        let millis = |text: &str| text.parse().map(Timestamp::from_unix_millis);
        let claims = AuthClaims {
            user_id: UserId::parse(user_id).map_err(|_| TokenError::Invalid)?,
            org_id: OrgId::parse(org_id).map_err(|_| TokenError::Invalid)?,
            token_id: token_id.to_owned(),
            issued_at: millis(issued_at).map_err(|_| TokenError::Invalid)?,
            expires_at: millis(expires_at).map_err(|_| TokenError::Invalid)?,
        };
        if now >= claims.expires_at {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

/// A [`Clock`] that only moves when told to; clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock that reads `start` until it is moved.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock { millis: Arc::new(AtomicI64::new(start.unix_millis())) }
    }

    /// Moves the clock forward by `span`.
    pub fn advance(&self, span: Duration) {
        self.millis.fetch_add(span.millis(), Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: Timestamp) {
        self.millis.store(now.unix_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// A [`Randomness`] that draws from SplitMix64 with a fixed seed: the same
/// seed gives the same ids, tokens and challenges.
///
/// Not a cryptographic generator; it only has to make distinct ids.
#[derive(Debug)]
pub struct SeededRandom {
    state: Mutex<u64>,
}

impl SeededRandom {
    /// A generator that starts from `seed`.
    pub fn new(seed: u64) -> SeededRandom {
        SeededRandom { state: Mutex::new(seed) }
    }

    fn next(&self) -> u64 {
        // A panic elsewhere cannot leave a `u64` half-written.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Randomness for SeededRandom {
    fn fill(&self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_at: i64) -> AuthClaims {
        AuthClaims {
            user_id: UserId::from_random(&[1; 26]),
            org_id: OrgId::from_random(&[2; 26]),
            token_id: "abc-_x".to_owned(),
            issued_at: Timestamp::from_unix_millis(10),
            expires_at: Timestamp::from_unix_millis(expires_at),
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(future)
    }

    #[test]
    fn plain_tokens_round_trip_until_they_expire() {
        let issued = block_on(PlainTokens.issue(&claims(100))).unwrap();
        let read = block_on(PlainTokens.verify(&issued, Timestamp::from_unix_millis(99)));
        assert_eq!(read, Ok(claims(100)));
        let late = block_on(PlainTokens.verify(&issued, Timestamp::from_unix_millis(100)));
        assert_eq!(late, Err(TokenError::Invalid));
        let garbage = block_on(PlainTokens.verify("a.b", Timestamp::from_unix_millis(0)));
        assert_eq!(garbage, Err(TokenError::Invalid));
    }

    #[test]
    fn the_marker_verifier_accepts_only_the_marker() {
        assert_eq!(block_on(MarkerVerifier.verify("k", b"m", VALID_SIGNATURE)), Ok(()));
        assert_eq!(
            block_on(MarkerVerifier.verify("k", b"m", b"forged")),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn the_marker_verifier_turns_each_cose_key_into_its_own_pem() {
        let one = block_on(MarkerVerifier.public_key_from_cose(&[0xa1, 1, 2])).unwrap();
        let two = block_on(MarkerVerifier.public_key_from_cose(&[0xa1, 1, 3])).unwrap();
        assert_eq!(one, cose_marker_pem(&[0xa1, 1, 2]));
        assert_ne!(one, two);
        assert_eq!(block_on(MarkerVerifier.check_public_key(&one)), Ok(KeyAlgorithm::Ed25519));
        assert!(block_on(MarkerVerifier.public_key_from_cose(&[])).is_err());
    }

    #[test]
    fn one_seed_gives_one_stream_and_two_seeds_two() {
        let draw = |seed| {
            let mut bytes = [0; 13];
            SeededRandom::new(seed).fill(&mut bytes);
            bytes
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn the_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix_millis(5));
        let shared = clock.clone();
        clock.advance(Duration::from_millis(10));
        assert_eq!(shared.now(), Timestamp::from_unix_millis(15));
        shared.set(Timestamp::from_unix_millis(1));
        assert_eq!(clock.now(), Timestamp::from_unix_millis(1));
    }
}
