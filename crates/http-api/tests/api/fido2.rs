//! `Fido2` credentials end to end: a software authenticator registers a
//! passkey through `/auth/credentials`, then logs in and signs user
//! actions with it, and every WebAuthn rule is seen refusing what breaks
//! it: the relying party, the origin, user presence and verification, the
//! signature counter, the signature itself.

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Duration, RelyingParty};
use passkey_crypto::iana;
use serde_json::{Value, json};

use crate::harness::{Reply, Session, TestApp, TestUser, error};
use crate::passkey::SoftAuthenticator;

/// The origin of the pages that use the default relying party, `localhost`.
const LOCAL_ORIGIN: &str = "http://localhost:3000";

/// `POST /auth/credentials/init` for `kind`.
pub(crate) async fn credential_init(app: &TestApp, session: &Session, kind: &str) -> Reply {
    app.post("/auth/credentials/init", Some(&session.token), &json!({"kind": kind})).await
}

/// A registration challenge for `kind`, which must be issued.
pub(crate) async fn registration_challenge(app: &TestApp, session: &Session, kind: &str) -> Value {
    let (status, challenge) = credential_init(app, session, kind).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");
    challenge
}

/// `POST /auth/credentials` with a user action signed by the session's
/// key, registering `info` as a credential of `kind` named `name`.
pub(crate) async fn create_credential(
    app: &TestApp,
    session: &Session,
    kind: &str,
    challenge: &Value,
    info: Value,
) -> Reply {
    let body = json!({
        "credentialKind": kind,
        "credentialInfo": info,
        "credentialName": "my passkey",
        "challengeIdentifier": challenge["challengeIdentifier"],
    });
    app.signed(session, Method::POST, "/auth/credentials", &body.to_string()).await
}

/// Registers `authenticator`'s new passkey to the session's user; it must
/// be accepted. Answers the credential.
pub(crate) async fn register(
    app: &TestApp,
    session: &Session,
    authenticator: &mut SoftAuthenticator,
) -> Value {
    let challenge = registration_challenge(app, session, "Fido2").await;
    let info = authenticator.register(&challenge).await;
    let (status, credential) = create_credential(app, session, "Fido2", &challenge, info).await;
    assert_eq!(status, StatusCode::OK, "{credential}");
    credential
}

/// Logs `user` in with `authenticator`.
async fn login(app: &TestApp, user: &TestUser, authenticator: &mut SoftAuthenticator) -> Reply {
    let challenge = app.login_challenge(user).await;
    let first_factor = authenticator.answer(&challenge).await;
    app.complete_login(&challenge, first_factor).await
}

/// A user action for `method path` with `payload`, signed by
/// `authenticator`.
async fn user_action(
    app: &TestApp,
    session: &Session,
    authenticator: &mut SoftAuthenticator,
    method: Method,
    path: &str,
    payload: &str,
) -> Reply {
    let challenge = app.action_challenge(session, method, path, payload).await;
    let first_factor = authenticator.answer(&challenge).await;
    app.complete_action(session, &challenge, first_factor).await
}

/// An admin of org A, logged in with its key, and a fresh passkey of its
/// own registered on the default relying party.
async fn admin_with_passkey(app: &TestApp, authenticator: &mut SoftAuthenticator) -> Session {
    let admin = app.login(&app.admin_a).await;
    register(app, &admin, authenticator).await;
    admin
}

#[tokio::test]
async fn a_passkey_registers_then_logs_in_and_archives_a_user() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "target@a.example").await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN);

    let credential = register(&app, &admin, &mut passkey).await;
    assert_eq!(credential["kind"], "Fido2");
    assert_eq!(credential["name"], "my passkey");
    assert_eq!(credential["relyingPartyId"], "localhost");
    assert_eq!(credential["origin"], LOCAL_ORIGIN);
    assert_eq!(credential["isActive"], true);
    assert!(credential["publicKey"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(credential["credentialUuid"].as_str().unwrap().starts_with("cr-"));

    let challenge = app.login_challenge(&app.admin_a).await;
    assert_eq!(challenge["rp"], json!({"id": "localhost", "name": "orgusers"}));
    assert_eq!(
        challenge["allowCredentials"]["webauthn"],
        json!([{"type": "public-key", "id": credential["credentialId"]}])
    );
    assert_eq!(challenge["allowCredentials"]["key"].as_array().unwrap().len(), 1);
    let first_factor = passkey.answer(&challenge).await;
    let (status, body) = app.complete_login(&challenge, first_factor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session =
        Session { user: app.admin_a.clone(), token: body["token"].as_str().unwrap().into() };

    let path = format!("/auth/users/{}", target.id);
    let (status, body) =
        user_action(&app, &session, &mut passkey, Method::DELETE, &path, "{}").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["userAction"].as_str().unwrap();
    let (status, archived) =
        app.call(Method::DELETE, &path, Some(&session.token), Some(token), "{}").await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["isActive"], false);
}

#[tokio::test]
async fn an_ed25519_passkey_works_as_well() {
    let app = TestApp::new().await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN).with_algorithm(iana::Algorithm::EdDSA);
    let credential = register(&app, &app.login(&app.admin_a).await, &mut passkey).await;
    assert!(credential["publicKey"].as_str().unwrap().contains("MCowBQYDK2Vw"), "{credential}");

    let (status, body) = login(&app, &app.admin_a, &mut passkey).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_signature_counter_must_grow_so_a_cloned_authenticator_is_refused() {
    let app = TestApp::new().await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN).with_counter();
    let credential = register(&app, &app.login(&app.admin_a).await, &mut passkey).await;
    let mut clone = passkey.clone();

    for _ in 0..2 {
        let (status, body) = login(&app, &app.admin_a, &mut passkey).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let uuid = credential["credentialUuid"].as_str().unwrap();
    let stored = app.stored_credential(&app.admin_a, uuid).await;
    assert!(stored.sign_count >= 2, "{stored:?}");

    // The copy's counter is where the original's was when it was copied.
    let reply = login(&app, &app.admin_a, &mut clone).await;
    let refused = "the authenticator's signature counter did not increase";
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, refused));
    assert_eq!(app.stored_credential(&app.admin_a, uuid).await.sign_count, stored.sign_count);

    let (status, body) = login(&app, &app.admin_a, &mut passkey).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_assertion_without_user_verification_is_refused() {
    let app = TestApp::new().await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN);
    let admin = admin_with_passkey(&app, &mut passkey).await;
    let mut unverified = passkey.clone().without_verification();

    let reply = login(&app, &app.admin_a, &mut unverified).await;
    assert_eq!(
        reply,
        error(StatusCode::UNAUTHORIZED, "authenticatorData does not show the user verified")
    );
    let path = format!("/auth/users/{}", app.admin_a.id);
    let reply = user_action(&app, &admin, &mut unverified, Method::DELETE, &path, "{}").await;
    assert_eq!(
        reply,
        error(StatusCode::UNAUTHORIZED, "authenticatorData does not show the user verified")
    );
}

#[tokio::test]
async fn a_registration_without_user_verification_is_refused() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let mut unverified = SoftAuthenticator::new(LOCAL_ORIGIN).without_verification();
    let events = app.audit_event_count(&app.admin_a).await;

    let challenge = registration_challenge(&app, &admin, "Fido2").await;
    let info = unverified.register(&challenge).await;
    let reply = create_credential(&app, &admin, "Fido2", &challenge, info).await;
    assert_eq!(
        reply,
        error(StatusCode::UNAUTHORIZED, "authenticatorData does not show the user verified")
    );
    assert_eq!(app.audit_event_count(&app.admin_a).await, events);
    assert_eq!(app.listed_credentials(&admin).await.len(), 1);
}

#[tokio::test]
async fn ceremonies_on_an_origin_of_another_domain_are_refused() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let mut phished = SoftAuthenticator::new("https://evil.example");

    // The page of another domain can only ask for its own relying party.
    let mut challenge = registration_challenge(&app, &admin, "Fido2").await;
    challenge["rp"]["id"] = json!("evil.example");
    let info = phished.register(&challenge).await;
    let reply = create_credential(&app, &admin, "Fido2", &challenge, info).await;
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "clientData origin is not allowed"));

    // An assertion whose client data names another origin, or a frame of
    // another origin, is refused for that before its signature is read.
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN);
    register(&app, &admin, &mut passkey).await;
    for (member, value) in [("origin", json!("https://evil.example")), ("crossOrigin", json!(true))]
    {
        let challenge = app.login_challenge(&app.admin_a).await;
        let mut first_factor = passkey.answer(&challenge).await;
        let client_data = &mut first_factor["credentialAssertion"]["clientData"];
        let bytes = URL_SAFE_NO_PAD.decode(client_data.as_str().unwrap()).unwrap();
        let mut json: Value = serde_json::from_slice(&bytes).unwrap();
        json[member] = value;
        *client_data = json!(URL_SAFE_NO_PAD.encode(json.to_string()));
        let reply = app.complete_login(&challenge, first_factor).await;
        assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "clientData origin is not allowed"));
    }
}

#[tokio::test]
async fn client_data_whose_origin_has_a_control_character_is_malformed() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let malformed =
        error(StatusCode::BAD_REQUEST, "clientData origin must not contain control characters");
    let with_origin = |encoded: &Value, origin: &str| {
        let bytes = URL_SAFE_NO_PAD.decode(encoded.as_str().unwrap()).unwrap();
        let mut json: Value = serde_json::from_slice(&bytes).unwrap();
        json["origin"] = json!(origin);
        json!(URL_SAFE_NO_PAD.encode(json.to_string()))
    };
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN);
    let before = app.org_snapshot(&admin).await;

    // A registration stores the origin it was made on: a NUL in it is
    // refused before anything is stored.
    let challenge = registration_challenge(&app, &admin, "Fido2").await;
    let mut info = passkey.register(&challenge).await;
    info["clientData"] = with_origin(&info["clientData"], "http://localhost:3000\u{0}");
    let reply = create_credential(&app, &admin, "Fido2", &challenge, info).await;
    assert_eq!(reply, malformed);
    assert_eq!(app.org_snapshot(&admin).await, before);

    register(&app, &admin, &mut passkey).await;
    let challenge = app.login_challenge(&app.admin_a).await;
    let mut first_factor = passkey.answer(&challenge).await;
    let client_data = &mut first_factor["credentialAssertion"]["clientData"];
    *client_data = with_origin(client_data, "http://localhost:3000\n");
    let reply = app.complete_login(&challenge, first_factor).await;
    assert_eq!(reply, malformed);
}

#[tokio::test]
async fn an_attestation_object_with_a_second_auth_data_is_refused() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN);
    let challenge = registration_challenge(&app, &admin, "Fido2").await;
    let mut info = passkey.register(&challenge).await;
    let encoded = info["attestationData"].as_str().unwrap();
    let mut object = URL_SAFE_NO_PAD.decode(encoded).unwrap();
    // A CBOR map of three entries (fmt, attStmt, authData) becomes one of
    // four, the last a second authData that no parser should choose.
    assert_eq!(object[0], 0xa3);
    object[0] = 0xa4;
    object.extend_from_slice(b"\x68authData\x41\x00");
    info["attestationData"] = json!(URL_SAFE_NO_PAD.encode(object));
    let before = app.org_snapshot(&admin).await;

    let reply = create_credential(&app, &admin, "Fido2", &challenge, info).await;

    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "attestationData has a duplicate key"));
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn a_credential_of_another_relying_party_is_refused() {
    // The server is the relying party `example.com`; a page of
    // `login.example.com` may run ceremonies for it, but an authenticator
    // told to scope the credential to `login.example.com` signs that id.
    let rp = RelyingParty::new("example.com", "Example").unwrap();
    let app = TestApp::with_relying_party(http_api::ApiOptions::default(), Some(rp)).await;
    let admin = app.login(&app.admin_a).await;
    let origin = "https://login.example.com";

    let mut scoped = SoftAuthenticator::new(origin);
    let mut challenge = registration_challenge(&app, &admin, "Fido2").await;
    assert_eq!(challenge["rp"]["id"], "example.com");
    challenge["rp"]["id"] = json!("login.example.com");
    let info = scoped.register(&challenge).await;
    let reply = create_credential(&app, &admin, "Fido2", &challenge, info).await;
    let mismatch = "authenticatorData is for another relying party";
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, mismatch));

    let mut passkey = SoftAuthenticator::new(origin);
    let credential = register(&app, &admin, &mut passkey).await;
    assert_eq!(credential["relyingPartyId"], "example.com");
    assert_eq!(credential["origin"], origin);
    let (status, body) = login(&app, &app.admin_a, &mut passkey).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Changes the bytes of one member of an assertion.
type Edit = dyn Fn(&mut Vec<u8>);

#[tokio::test]
async fn tampered_assertions_are_refused() {
    let app = TestApp::new().await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN).with_counter();
    admin_with_passkey(&app, &mut passkey).await;

    let tamper = |first_factor: &mut Value, field: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let value = &mut first_factor["credentialAssertion"][field];
        let mut bytes = URL_SAFE_NO_PAD.decode(value.as_str().unwrap()).unwrap();
        edit(&mut bytes);
        *value = json!(URL_SAFE_NO_PAD.encode(bytes));
    };
    let cases: Vec<(&str, Box<Edit>, Reply)> = vec![
        // A higher counter: the signature no longer covers the data.
        (
            "authenticatorData",
            Box::new(|b| b[36] ^= 0x40),
            error(StatusCode::UNAUTHORIZED, "invalid signature"),
        ),
        (
            "authenticatorData",
            Box::new(|b| b.truncate(20)),
            error(StatusCode::BAD_REQUEST, "authenticatorData is too short"),
        ),
        (
            "authenticatorData",
            Box::new(|b| b.push(0)),
            error(StatusCode::BAD_REQUEST, "authenticatorData has trailing bytes"),
        ),
        (
            "clientData",
            Box::new(|b| b.insert(1, b' ')),
            error(StatusCode::UNAUTHORIZED, "invalid signature"),
        ),
        (
            "signature",
            Box::new(|b| *b.last_mut().unwrap() ^= 1),
            error(StatusCode::UNAUTHORIZED, "invalid signature"),
        ),
        (
            "signature",
            Box::new(|b| b.truncate(10)),
            error(StatusCode::UNAUTHORIZED, "invalid signature"),
        ),
    ];
    for (field, edit, expected) in cases {
        let challenge = app.login_challenge(&app.admin_a).await;
        let mut first_factor = passkey.answer(&challenge).await;
        tamper(&mut first_factor, field, edit.as_ref());
        let reply = app.complete_login(&challenge, first_factor).await;
        assert_eq!(reply, expected, "{field}");
    }
    let (status, body) = login(&app, &app.admin_a, &mut passkey).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_answer_of_the_other_kind_than_its_credential_is_refused() {
    let app = TestApp::new().await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN);
    let credential = register(&app, &app.login(&app.admin_a).await, &mut passkey).await;

    // The key signer's answer, presented as the passkey's.
    let challenge = app.login_challenge(&app.admin_a).await;
    let mut first_factor = app.admin_a.key.answer(&challenge);
    first_factor["credentialAssertion"]["credId"] = credential["credentialId"].clone();
    let reply = app.complete_login(&challenge, first_factor).await;
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "invalid signature"));

    // The passkey's answer, presented as the key's.
    let challenge = app.login_challenge(&app.admin_a).await;
    let mut first_factor = passkey.answer(&challenge).await;
    first_factor["credentialAssertion"]["credId"] =
        challenge["allowCredentials"]["key"][0]["id"].clone();
    let reply = app.complete_login(&challenge, first_factor).await;
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "invalid signature"));
}

#[tokio::test]
async fn a_passkey_answer_is_good_for_its_challenge_once() {
    let app = TestApp::new().await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN);
    admin_with_passkey(&app, &mut passkey).await;

    let challenge = app.login_challenge(&app.admin_a).await;
    let first_factor = passkey.answer(&challenge).await;
    let (status, body) = app.complete_login(&challenge, first_factor.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let replay = app.complete_login(&challenge, first_factor).await;
    assert_eq!(replay, error(StatusCode::BAD_REQUEST, "challenge is not valid"));

    // An answer to another challenge does not answer this one.
    let first = app.login_challenge(&app.admin_a).await;
    let second = app.login_challenge(&app.admin_a).await;
    let answer_to_first = passkey.answer(&first).await;
    let reply = app.complete_login(&second, answer_to_first).await;
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "invalid signature"));

    // Nor once the challenge expired.
    let challenge = app.login_challenge(&app.admin_a).await;
    let first_factor = passkey.answer(&challenge).await;
    app.advance(Duration::from_seconds(5 * 60));
    let reply = app.complete_login(&challenge, first_factor).await;
    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "challenge is not valid"));
}

#[tokio::test]
async fn a_deactivated_or_archived_user_cannot_use_its_passkey() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let user = app.create_user(&admin, "holder@a.example").await;
    let session = app.login(&user).await;
    let mut passkey = SoftAuthenticator::new(LOCAL_ORIGIN);
    register(&app, &session, &mut passkey).await;
    let (status, body) = login(&app, &user, &mut passkey).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let challenge = app.login_challenge(&user).await;
    let (status, _) = app.deactivate(&admin, &user.id).await;
    assert_eq!(status, StatusCode::OK);
    let first_factor = passkey.answer(&challenge).await;
    let reply = app.complete_login(&challenge, first_factor).await;
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "user not found"));

    let (status, _) = app.archive(&admin, &user.id).await;
    assert_eq!(status, StatusCode::OK);
    let reply = app.login_init(&user).await;
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "user not found"));
}
