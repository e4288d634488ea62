//! The login-token contract, checked through the `AuthTokens` port.

use auth_token::{APP_METADATA_CLAIM, JwtTokens, SigningKeyError, generate_signing_key};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{OrgId, Timestamp, UserId};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ports::{AuthClaims, AuthTokens, TokenError};
use proptest::prelude::*;
use serde_json::{Value, json};

const USER: &str = "us-3v9kq-2m1c8-7tq0d5l3h2b9a8xw";
const OTHER_USER: &str = "us-00000-00000-0000000000000000";
const ORG: &str = "or-8d2k1-x0p4z-5n7m2q9r3s1t6u4v";
const ISSUED: i64 = 1_700_000_000;
const EXPIRES: i64 = ISSUED + 3600;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_millis(seconds * 1000)
}

fn claims() -> AuthClaims {
    AuthClaims {
        user_id: UserId::parse(USER).unwrap(),
        org_id: OrgId::parse(ORG).unwrap(),
        token_id: "tk-5e1a0c2b9d8f7e6a".to_owned(),
        issued_at: at(ISSUED),
        expires_at: at(EXPIRES),
    }
}

/// Breaks one rule in the claims of a token.
type ChangeClaims = fn(&mut Value);

/// The token service and the PKCS#8 key it signs with.
fn new_tokens() -> (JwtTokens, Vec<u8>) {
    let key = generate_signing_key();
    (JwtTokens::from_pkcs8(&key).unwrap(), key)
}

/// The claims part of a token, as JSON.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A token with `header` and `claims`, signed by `key`.
fn forge(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
}

#[tokio::test]
async fn an_issued_token_verifies_to_its_claims() {
    let (tokens, _) = new_tokens();
    let token = tokens.issue(&claims()).await.unwrap();

    assert_eq!(token.split('.').count(), 3);
    assert_eq!(tokens.verify(&token, at(ISSUED + 1)).await, Ok(claims()));
}

#[tokio::test]
async fn every_instance_with_the_stored_key_accepts_the_token() {
    let (tokens, key) = new_tokens();
    let token = tokens.issue(&claims()).await.unwrap();

    let other_instance = JwtTokens::from_pkcs8(&key).unwrap();
    assert_eq!(other_instance.verify(&token, at(ISSUED)).await, Ok(claims()));
}

#[tokio::test]
async fn times_travel_as_whole_seconds_rounded_down() {
    let (tokens, _) = new_tokens();
    let mut precise = claims();
    precise.issued_at = Timestamp::from_unix_millis(ISSUED * 1000 + 999);
    precise.expires_at = Timestamp::from_unix_millis(EXPIRES * 1000 + 999);

    let token = tokens.issue(&precise).await.unwrap();
    let verified = tokens.verify(&token, at(ISSUED)).await.unwrap();

    assert_eq!(payload(&token)["iat"], json!(ISSUED));
    assert_eq!(payload(&token)["exp"], json!(EXPIRES));
    assert_eq!(verified.issued_at, at(ISSUED));
    assert_eq!(verified.expires_at, at(EXPIRES));
}

#[tokio::test]
async fn a_token_expires_at_its_exp_by_the_given_clock() {
    let (tokens, _) = new_tokens();
    let token = tokens.issue(&claims()).await.unwrap();
    let just_before = Timestamp::from_unix_millis(EXPIRES * 1000 - 1);

    assert!(tokens.verify(&token, just_before).await.is_ok());
    assert_eq!(tokens.verify(&token, at(EXPIRES)).await, Err(TokenError::Invalid));
    assert_eq!(tokens.verify(&token, at(EXPIRES + 1)).await, Err(TokenError::Invalid));
}

#[tokio::test]
async fn the_app_metadata_claim_decodes_as_the_sdk_reads_it() {
    let (tokens, _) = new_tokens();
    let token = tokens.issue(&claims()).await.unwrap();
    let claims = payload(&token);

    assert_eq!(claims[APP_METADATA_CLAIM]["orgId"], json!(ORG));
    assert_eq!(claims["https://custom/app_metadata"]["userId"], json!(USER));
    assert_eq!(claims["https://custom/app_metadata"]["tokenKind"], json!("Employee"));
    assert_eq!(claims["sub"], json!(USER));
    assert_eq!(claims["iss"], json!("orgusers"));
    assert_eq!(claims["jti"], json!("tk-5e1a0c2b9d8f7e6a"));
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_rejected() {
    let (tokens, _) = new_tokens();
    let (other, _) = new_tokens();
    let token = other.issue(&claims()).await.unwrap();

    assert_eq!(tokens.verify(&token, at(ISSUED)).await, Err(TokenError::Invalid));
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_rejected() {
    let (tokens, _) = new_tokens();
    let token = tokens.issue(&claims()).await.unwrap();
    let mut parts = token.split('.');
    let (_, body, signature) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    let none = b64(&json!({"alg": "none", "typ": "JWT"}));

    for forged in [format!("{none}.{body}."), format!("{none}.{body}.{signature}")] {
        assert_eq!(tokens.verify(&forged, at(ISSUED)).await, Err(TokenError::Invalid));
    }
}

#[tokio::test]
async fn an_hs256_token_is_rejected_even_keyed_with_our_own_bytes() {
    let (tokens, key) = new_tokens();
    let claims = payload(&tokens.issue(&claims()).await.unwrap());

    // The classic confusion: an HMAC keyed with what the verifier holds.
    let forged = forge(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&key));
    assert_eq!(tokens.verify(&forged, at(ISSUED)).await, Err(TokenError::Invalid));
}

#[tokio::test]
async fn a_tampered_payload_is_rejected() {
    let (tokens, _) = new_tokens();
    let token = tokens.issue(&claims()).await.unwrap();
    let mut claims = payload(&token);
    claims[APP_METADATA_CLAIM]["orgId"] = json!("or-00000-00000-0000000000000000");
    claims["exp"] = json!(EXPIRES + 86_400);

    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert_eq!(tokens.verify(&tampered, at(ISSUED)).await, Err(TokenError::Invalid));
}

#[tokio::test]
async fn signed_claims_that_break_the_rules_are_rejected() {
    let (tokens, key) = new_tokens();
    let ours = EncodingKey::from_ed_der(&key);
    let header = Header::new(Algorithm::EdDSA);
    let good = payload(&tokens.issue(&claims()).await.unwrap());
    assert!(tokens.verify(&forge(&header, &good, &ours), at(ISSUED)).await.is_ok());

    let changes: [(&str, ChangeClaims); 10] = [
        ("sub differs from userId", |c| c["sub"] = json!(OTHER_USER)),
        ("userId differs from sub", |c| c[APP_METADATA_CLAIM]["userId"] = json!(OTHER_USER)),
        ("sub is not a user id", |c| {
            c["sub"] = json!("nobody");
            c[APP_METADATA_CLAIM]["userId"] = json!("nobody");
        }),
        ("orgId is not an org id", |c| c[APP_METADATA_CLAIM]["orgId"] = json!(USER)),
        ("another issuer", |c| c["iss"] = json!("someone-else")),
        ("another token kind", |c| c[APP_METADATA_CLAIM]["tokenKind"] = json!("EndUser")),
        ("no app_metadata", |c| _ = c.as_object_mut().unwrap().remove(APP_METADATA_CLAIM)),
        ("no exp", |c| _ = c.as_object_mut().unwrap().remove("exp")),
        ("exp is text", |c| c["exp"] = json!("never")),
        ("no jti", |c| _ = c.as_object_mut().unwrap().remove("jti")),
    ];
    for (what, change) in changes {
        let mut claims = good.clone();
        change(&mut claims);
        let token = forge(&header, &claims, &ours);
        assert_eq!(tokens.verify(&token, at(ISSUED)).await, Err(TokenError::Invalid), "{what}");
    }
}

#[tokio::test]
async fn strings_that_are_not_tokens_are_rejected() {
    let (tokens, _) = new_tokens();
    let token = tokens.issue(&claims()).await.unwrap();

    for garbage in [
        String::new(),
        "abc".to_owned(),
        ".".to_owned(),
        "..".to_owned(),
        "a.b.c".to_owned(),
        format!("{token}.extra"),
        token.replacen('.', "", 1),
        format!("{token}!"),
        format!("{token}=="),
        format!(" {token}"),
        "eyJhbGciOiJFZERTQSJ9.%%%.***".to_owned(),
        "Bearer x.y.z".to_owned(),
    ] {
        assert_eq!(
            tokens.verify(&garbage, at(ISSUED)).await,
            Err(TokenError::Invalid),
            "{garbage}"
        );
    }
}

#[test]
fn a_signing_key_must_be_an_ed25519_pkcs8_document() {
    let p256 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .unwrap();

    for bad in [&b""[..], b"not a key", p256.as_ref()] {
        assert_eq!(JwtTokens::from_pkcs8(bad).unwrap_err(), SigningKeyError);
    }
}

#[test]
fn generated_signing_keys_differ_and_stay_out_of_debug_output() {
    let (first, second) = (generate_signing_key(), generate_signing_key());
    assert_ne!(first, second);

    let tokens = JwtTokens::from_pkcs8(&first).unwrap();
    assert_eq!(format!("{tokens:?}"), "JwtTokens { .. }");
}

proptest! {
    #[test]
    fn any_string_is_answered_without_a_panic(token in "[A-Za-z0-9_.=+/-]{0,200}") {
        let (tokens, _) = new_tokens();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let verified = runtime.block_on(tokens.verify(&token, at(ISSUED)));
        prop_assert_eq!(verified, Err(TokenError::Invalid));
    }
}
