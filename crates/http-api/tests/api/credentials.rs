//! `/auth/credentials`: registering a `Key` as the SDKs' key signers do,
//! listing, and every refusal of a registration, each leaving the user's
//! credentials and the audit log as they were.

use aws_lc_rs::digest::{SHA256, digest};
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::fido2::{create_credential, credential_init, register, registration_challenge};
use crate::harness::{Session, TestApp, TestUser, UserKey, error};
use crate::passkey::SoftAuthenticator;

/// The `credentialInfo` of a `Key` registration, as the SDKs' key signers
/// make it: `key` signs `{"clientDataHash", "publicKey"}` over the client
/// data `{"type": "key.create", "challenge"}`, and sends the signature in
/// hex.
fn key_registration(key: &UserKey, cred_id: &str, challenge: &Value) -> Value {
    let client_data =
        json!({"type": "key.create", "challenge": challenge["challenge"]}).to_string();
    key_registration_with(key, cred_id, &client_data)
}

fn key_registration_with(key: &UserKey, cred_id: &str, client_data: &str) -> Value {
    let public_key = key.public_key_pem();
    let fingerprint = json!({
        "clientDataHash": hex::encode(digest(&SHA256, client_data.as_bytes())),
        "publicKey": public_key,
    });
    let attestation = json!({
        "publicKey": public_key,
        "signature": hex::encode(key.sign(fingerprint.to_string().as_bytes())),
    });
    json!({
        "credId": cred_id,
        "clientData": URL_SAFE_NO_PAD.encode(client_data),
        "attestationData": URL_SAFE_NO_PAD.encode(attestation.to_string()),
    })
}

/// What a user's credentials and the org's audit log look like; a refused
/// registration must leave both as they were.
async fn snapshot(app: &TestApp, session: &Session) -> (Vec<Value>, usize) {
    (app.listed_credentials(session).await, app.audit_event_count(&session.user).await)
}

#[tokio::test]
async fn a_key_registered_as_the_sdks_do_logs_in_and_is_listed() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let events = app.audit_event_count(&app.admin_a).await;
    let new_key = UserKey::generate();

    let challenge = registration_challenge(&app, &admin, "Key").await;
    assert_eq!(challenge["kind"], "Key");
    assert_eq!(challenge["user"]["id"], app.admin_a.id);
    assert_eq!(challenge["user"]["name"], app.admin_a.email);
    assert_eq!(challenge["attestation"], "none");
    assert!(challenge.get("authenticatorSelection").is_none(), "{challenge}");
    let info = key_registration(&new_key, "second-key", &challenge);
    let (status, credential) = create_credential(&app, &admin, "Key", &challenge, info).await;
    assert_eq!(status, StatusCode::OK, "{credential}");
    assert_eq!(credential["kind"], "Key");
    assert_eq!(credential["credentialId"], "second-key");
    assert_eq!(credential["publicKey"], new_key.public_key_pem());
    assert_eq!(credential["relyingPartyId"], "");
    assert_eq!(app.audit_event_count(&app.admin_a).await, events + 1);

    let listed = app.listed_credentials(&admin).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], credential);
    assert_eq!(listed[0]["kind"], "Key");
    assert_eq!(listed[0]["name"], "");

    // The new key logs in as the user, whose primary credential stays.
    let with_new_key = TestUser { key: new_key, ..app.admin_a.clone() };
    let login = app.login_challenge(&with_new_key).await;
    let ids: Vec<&Value> =
        login["allowCredentials"]["key"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(ids.len(), 2);
    let mut first_factor = with_new_key.key.answer(&login);
    first_factor["credentialAssertion"]["credId"] = json!("second-key");
    let (status, body) = app.complete_login(&login, first_factor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, user) = app.get_user(&admin, &app.admin_a.id).await;
    assert_eq!(user["credentialUuid"], listed[0]["credentialUuid"]);
}

#[tokio::test]
async fn a_second_credential_keeps_the_primary_one() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let user = app.create_user(&admin, "someone@a.example").await;
    let session = app.login(&user).await;
    let (_, before) = app.get_user(&admin, &user.id).await;
    assert_eq!(before["isRegistered"], true);

    let mut passkey = SoftAuthenticator::new("http://localhost:8080");
    let credential = register(&app, &session, &mut passkey).await;
    let (_, after) = app.get_user(&admin, &user.id).await;
    assert_eq!(after["isRegistered"], true);
    assert_eq!(after["credentialUuid"], before["credentialUuid"]);
    assert_ne!(after["credentialUuid"], credential["credentialUuid"]);
    assert_eq!(app.listed_credentials(&session).await.len(), 2);
}

#[tokio::test]
async fn every_refused_registration_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let other = app.login(&app.admin_b).await;
    let key = UserKey::generate();
    let before = snapshot(&app, &admin).await;

    let bad = StatusCode::BAD_REQUEST;
    let invalid_signature = error(StatusCode::UNAUTHORIZED, "invalid signature");
    let not_valid = error(bad, "challenge is not valid");

    // A challenge of another user.
    let foreign = registration_challenge(&app, &other, "Key").await;
    let info = key_registration(&key, "k1", &foreign);
    assert_eq!(create_credential(&app, &admin, "Key", &foreign, info).await, not_valid);

    // A challenge for another kind.
    let fido2 = registration_challenge(&app, &admin, "Fido2").await;
    let info = key_registration(&key, "k1", &fido2);
    assert_eq!(create_credential(&app, &admin, "Key", &fido2, info).await, not_valid);

    // A login or user-action challenge.
    let login = app.login_challenge(&app.admin_a).await;
    let info = key_registration(&key, "k1", &login);
    assert_eq!(create_credential(&app, &admin, "Key", &login, info).await, not_valid);

    // A used challenge: the first attempt spends it, even when refused.
    let challenge = registration_challenge(&app, &admin, "Key").await;
    let wrong_type = json!({"type": "key.get", "challenge": challenge["challenge"]}).to_string();
    let info = key_registration_with(&key, "k1", &wrong_type);
    assert_eq!(create_credential(&app, &admin, "Key", &challenge, info).await, invalid_signature);
    let info = key_registration(&key, "k1", &challenge);
    assert_eq!(create_credential(&app, &admin, "Key", &challenge, info).await, not_valid);

    // An expired challenge.
    let challenge = registration_challenge(&app, &admin, "Key").await;
    app.advance(domain::Duration::from_seconds(5 * 60));
    let info = key_registration(&key, "k1", &challenge);
    assert_eq!(create_credential(&app, &admin, "Key", &challenge, info).await, not_valid);
    let admin = app.login(&app.admin_a).await;
    let first_cred_id =
        app.listed_credentials(&admin).await[0]["credentialId"].as_str().unwrap().to_owned();

    let cases: Vec<(&str, Box<MakeInfo>, _)> = vec![
        (
            "signed by another key",
            Box::new(|challenge: &Value| {
                let mut info = key_registration(&key, "k1", challenge);
                let forged = key_registration(&UserKey::generate(), "k1", challenge);
                let attestation = json!({
                    "publicKey": key.public_key_pem(),
                    "signature": attestation_of(&forged)["signature"],
                });
                info["attestationData"] = json!(URL_SAFE_NO_PAD.encode(attestation.to_string()));
                info
            }),
            invalid_signature.clone(),
        ),
        (
            "the client data of another challenge",
            Box::new(|_: &Value| {
                let client_data = json!({"type": "key.create", "challenge": "abc"}).to_string();
                key_registration_with(&key, "k1", &client_data)
            }),
            invalid_signature.clone(),
        ),
        (
            "a credential id that is not base64url",
            Box::new(|challenge: &Value| key_registration(&key, "not base64url!", challenge)),
            error(bad, "credentialInfo.credId is not a valid credential id"),
        ),
        (
            "the credential id of the user's first key",
            Box::new(|challenge: &Value| key_registration(&key, &first_cred_id, challenge)),
            error(bad, "a credential with this credId already exists"),
        ),
        (
            "attestation data that is not JSON",
            Box::new(|challenge: &Value| {
                let mut info = key_registration(&key, "k1", challenge);
                info["attestationData"] = json!(URL_SAFE_NO_PAD.encode("nope"));
                info
            }),
            error(bad, "credentialInfo.attestationData is not JSON with publicKey and signature"),
        ),
        (
            "attestation data as an array of its members",
            Box::new(|challenge: &Value| {
                let mut info = key_registration(&key, "k1", challenge);
                let members = attestation_of(&info);
                let array = json!([members["publicKey"], members["signature"]]);
                info["attestationData"] = json!(URL_SAFE_NO_PAD.encode(array.to_string()));
                info
            }),
            error(bad, "credentialInfo.attestationData is not JSON with publicKey and signature"),
        ),
        (
            "a signature that is not hex",
            Box::new(|challenge: &Value| {
                let mut info = key_registration(&key, "k1", challenge);
                let attestation = json!({"publicKey": key.public_key_pem(), "signature": "+f"});
                info["attestationData"] = json!(URL_SAFE_NO_PAD.encode(attestation.to_string()));
                info
            }),
            error(bad, "credentialInfo.attestationData signature is not hex"),
        ),
        (
            "a public key that is not PEM",
            Box::new(|challenge: &Value| {
                let mut info = key_registration(&key, "k1", challenge);
                let attestation = json!({"publicKey": "key", "signature": "00"});
                info["attestationData"] = json!(URL_SAFE_NO_PAD.encode(attestation.to_string()));
                info
            }),
            error(bad, "publicKey is not a PEM public key (-----BEGIN PUBLIC KEY-----)"),
        ),
        (
            "client data that is not JSON",
            Box::new(|challenge: &Value| {
                let mut info = key_registration(&key, "k1", challenge);
                info["clientData"] = json!(URL_SAFE_NO_PAD.encode("{"));
                info
            }),
            error(bad, "clientData is not a JSON object with type and challenge"),
        ),
        (
            "a Fido2 attestation that is not CBOR",
            Box::new(|challenge: &Value| {
                let mut info = key_registration(&key, "k1", challenge);
                info["clientData"] = json!(URL_SAFE_NO_PAD.encode(
                    json!({
                        "type": "webauthn.create",
                        "challenge": URL_SAFE_NO_PAD.encode(challenge["challenge"].as_str().unwrap()),
                        "origin": "http://localhost",
                    })
                    .to_string()
                ));
                info["attestationData"] = json!(URL_SAFE_NO_PAD.encode([0xff]));
                info
            }),
            error(bad, "attestationData is not CBOR"),
        ),
    ];
    for (what, info, expected) in cases {
        let fido2 = what.starts_with("a Fido2");
        let kind = if fido2 { "Fido2" } else { "Key" };
        let challenge = registration_challenge(&app, &admin, kind).await;
        let reply = create_credential(&app, &admin, kind, &challenge, info(&challenge)).await;
        assert_eq!(reply, expected, "{what}");
    }

    let (credentials, events) = snapshot(&app, &admin).await;
    assert_eq!(credentials, before.0);
    assert!(events == before.1, "the refusals wrote audit events");
}

/// Makes the `credentialInfo` of a case from the challenge it answers.
type MakeInfo<'a> = dyn Fn(&Value) -> Value + 'a;

fn attestation_of(info: &Value) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(info["attestationData"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_registration_needs_its_own_user_action_and_a_live_token() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let key = UserKey::generate();
    let challenge = registration_challenge(&app, &admin, "Key").await;
    let body = json!({
        "credentialKind": "Key",
        "credentialInfo": key_registration(&key, "k1", &challenge),
        "credentialName": "second",
        "challengeIdentifier": challenge["challengeIdentifier"],
    })
    .to_string();
    let path = "/auth/credentials";
    let forbidden = error(StatusCode::FORBIDDEN, "user action signature is missing or invalid");

    let reply = app.call(Method::POST, path, None, None, body.clone()).await;
    assert_eq!(
        reply,
        error(StatusCode::UNAUTHORIZED, "authentication token is missing or invalid")
    );
    let reply = app.call(Method::POST, path, Some(&admin.token), None, body.clone()).await;
    assert_eq!(reply, forbidden);

    // A user action signed for another body does not carry this one.
    let other_body = body.replace("second", "third");
    let action = app.user_action(&admin, Method::POST, path, &other_body).await;
    let reply = app.call(Method::POST, path, Some(&admin.token), Some(&action), body.clone()).await;
    assert_eq!(reply, forbidden);

    // Nor one of another user.
    let other = app.login(&app.admin_b).await;
    let action = app.user_action(&other, Method::POST, path, &body).await;
    let reply = app.call(Method::POST, path, Some(&admin.token), Some(&action), body.clone()).await;
    assert_eq!(reply, forbidden);

    let action = app.user_action(&admin, Method::POST, path, &body).await;
    let (status, credential) =
        app.call(Method::POST, path, Some(&admin.token), Some(&action), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{credential}");
    assert_eq!(credential["name"], "second");
    let replay = app.call(Method::POST, path, Some(&admin.token), Some(&action), body).await;
    assert_eq!(replay, error(StatusCode::BAD_REQUEST, "user action has already been used"));

    for (method, path) in [(Method::GET, path), (Method::POST, "/auth/credentials/init")] {
        let reply = app.call(method, path, Some("not-a-token"), None, "{\"kind\":\"Key\"}").await;
        assert_eq!(
            reply,
            error(StatusCode::UNAUTHORIZED, "authentication token is missing or invalid")
        );
    }
}

#[tokio::test]
async fn only_key_and_fido2_credentials_can_be_registered() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    for kind in ["Password", "Totp", "RecoveryKey", "PasswordProtectedKey"] {
        let reply = credential_init(&app, &admin, kind).await;
        let message = format!("credential kind {kind} is not supported; Key and Fido2 are");
        assert_eq!(reply, error(StatusCode::BAD_REQUEST, &message), "{kind}");
    }
    let reply = credential_init(&app, &admin, "Magic").await;
    assert_eq!(reply.0, StatusCode::BAD_REQUEST);
    assert!(
        reply.1["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid kind: unknown variant `Magic`"),
        "{:?}",
        reply
    );

    let challenge = registration_challenge(&app, &admin, "Fido2").await;
    assert_eq!(challenge["kind"], "Fido2");
    assert_eq!(challenge["rp"], json!({"id": "localhost", "name": "orgusers"}));
    assert_eq!(
        challenge["authenticatorSelection"],
        json!({"residentKey": "required", "requireResidentKey": true, "userVerification": "required"})
    );
    let algorithms: Vec<i64> = challenge["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert_eq!(algorithms, [-7, -8, -257]);
    assert_eq!(challenge["excludeCredentials"], json!([]));
}

#[tokio::test]
async fn a_credential_name_must_be_one_to_128_visible_characters() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let before = snapshot(&app, &admin).await;
    let message =
        "credentialName must be 1 to 128 characters, none of them control or format characters";

    for name in [String::new(), "line\nbreak".to_owned(), "yek\u{202e}".to_owned(), "n".repeat(129)]
    {
        let challenge = registration_challenge(&app, &admin, "Key").await;
        let body = json!({
            "credentialKind": "Key",
            "credentialInfo": key_registration(&UserKey::generate(), "named", &challenge),
            "credentialName": name,
            "challengeIdentifier": challenge["challengeIdentifier"],
        });
        let reply = app.signed(&admin, Method::POST, "/auth/credentials", &body.to_string()).await;
        assert_eq!(reply, error(StatusCode::BAD_REQUEST, message), "{name:?}");
    }
    assert_eq!(snapshot(&app, &admin).await, before);
}
