//! Bad input as a table, for every endpoint that reads a body or a
//! credential assertion: each case gets a 4xx in the contract's error body
//! with a message that names the problem, and changes nothing. The harness
//! itself fails any 5xx and any answer that is not such a body.
//! `docs/bad-input.md` lists the cases.

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::{Reply, Session, TestApp, error};

/// A body and what it must be answered.
struct Case {
    body: Vec<u8>,
    status: StatusCode,
    message: String,
}

fn case(body: impl Into<Vec<u8>>, status: StatusCode, message: &str) -> Case {
    Case { body: body.into(), status, message: message.to_owned() }
}

fn bad(body: impl Into<Vec<u8>>, message: &str) -> Case {
    case(body, StatusCode::BAD_REQUEST, message)
}

/// What every endpoint that takes a JSON object refuses, whatever its
/// fields: no body, not JSON, not UTF-8, not an object, too large.
fn malformed_bodies() -> Vec<Case> {
    let large = format!("{{\"name\": \"{}\"}}", "x".repeat(http_api::MAX_BODY_BYTES));
    vec![
        bad("", "request body is empty; a JSON object is expected"),
        bad("{", "request body is not valid JSON: EOF while parsing an object"),
        bad("{\"a\": }", "request body is not valid JSON: expected value"),
        bad(
            b"{\"a\": \"\xff\"}".to_vec(),
            "request body is not valid JSON: invalid unicode code point",
        ),
        bad("[]", "request body must be a JSON object"),
        bad("[\"a\", \"b\"]", "request body must be a JSON object"),
        bad("\"text\"", "request body must be a JSON object"),
        bad("null", "request body must be a JSON object"),
        bad(large, &format!("request body is larger than {} bytes", http_api::MAX_BODY_BYTES)),
    ]
}

/// Whether `reply` is the error `case` expects.
fn matches(reply: &Reply, case: &Case) -> bool {
    *reply == error(case.status, &case.message)
}

/// Sends `body` to `method path` as `session`, with a user action signed
/// for exactly that body when the endpoint needs one and the body can be
/// signed (a UTF-8 string small enough to send in `action/init`).
async fn send(app: &TestApp, session: &Session, method: &Method, path: &str, body: &[u8]) -> Reply {
    let signable = std::str::from_utf8(body).ok().filter(|p| p.len() < 1024);
    let user_action = match signable {
        Some(payload) if *method != Method::GET && !path.starts_with("/auth/action") => {
            Some(app.user_action(session, method.clone(), path, payload).await)
        }
        _ => None,
    };
    let token = Some(session.token.as_str());
    app.call(method.clone(), path, token, user_action.as_deref(), body.to_vec()).await
}

/// Checks each case against `method path`, then that org A is as it was.
async fn check(app: &TestApp, admin: &Session, method: Method, path: &str, cases: Vec<Case>) {
    let before = app.org_snapshot(admin).await;

    for case in &cases {
        let reply = send(app, admin, &method, path, &case.body).await;

        let shown = String::from_utf8_lossy(&case.body[..case.body.len().min(80)]).into_owned();
        assert!(
            matches(&reply, case),
            "{method} {path} with {shown:?}: {reply:?}, expected {} {:?}",
            case.status,
            case.message
        );
    }
    assert_eq!(app.org_snapshot(admin).await, before, "{method} {path} changed the org");
}

/// Org A's admin logged in, and a permission `Readers` it created.
async fn fixture(app: &TestApp) -> (Session, String) {
    let admin = app.login(&app.admin_a).await;
    let readers = app.new_permission(&admin, "Readers", &["Auth:Users:Read"]).await;
    (admin, readers)
}

#[tokio::test]
async fn every_endpoint_with_a_body_refuses_a_malformed_one() {
    let app = TestApp::new().await;
    let (admin, readers) = fixture(&app).await;
    let endpoints = [
        (Method::POST, "/auth/action/init".to_owned()),
        (Method::POST, "/auth/action".to_owned()),
        (Method::POST, "/auth/users".to_owned()),
        (Method::POST, "/auth/credentials/init".to_owned()),
        (Method::POST, "/auth/credentials".to_owned()),
        (Method::POST, "/permissions".to_owned()),
        (Method::PUT, format!("/permissions/{readers}")),
        (Method::POST, format!("/permissions/{readers}/assignments")),
    ];

    for (method, path) in endpoints {
        check(&app, &admin, method, &path, malformed_bodies()).await;
    }
}

#[tokio::test]
async fn the_login_endpoints_refuse_a_malformed_body() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let before = app.org_snapshot(&admin).await;

    for path in ["/auth/login/init", "/auth/login"] {
        for case in malformed_bodies() {
            let reply = app.call(Method::POST, path, None, None, case.body.clone()).await;

            assert!(matches(&reply, &case), "{path}: {reply:?}, expected {:?}", case.message);
        }
    }
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn bad_fields_of_a_new_user_are_named() {
    let app = TestApp::new().await;
    let (admin, _) = fixture(&app).await;
    let user = |extra: Value| {
        let mut body = json!({"email": "jane@a.example", "kind": "EndUser"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body.to_string()
    };
    let cases = vec![
        bad(r#"{"kind": "EndUser"}"#, "invalid request body: missing field `email`"),
        bad(r#"{"email": "jane@a.example"}"#, "invalid request body: missing field `kind`"),
        bad(
            r#"{"email": ["jane"], "kind": "EndUser"}"#,
            "invalid email: invalid type: sequence, expected a string",
        ),
        bad(
            user(json!({"kind": "Robot"})),
            "invalid kind: unknown variant `Robot`, expected one of `CustomerEmployee`, \
             `EndUser`, `DfnsStaff`",
        ),
        bad(
            user(json!({"kind": 1})),
            "invalid kind: invalid type: integer `1`, expected a user kind name as a string",
        ),
        // serde would read a unit variant from a map too.
        bad(
            user(json!({"kind": {"EndUser": null}})),
            "invalid kind: invalid type: map, expected a user kind name as a string",
        ),
        bad(
            user(json!({"publicKey": 42})),
            "invalid publicKey: invalid type: integer `42`, expected a string",
        ),
        bad(
            user(json!({"externalId": false})),
            "invalid externalId: invalid type: boolean `false`, expected a string",
        ),
        bad(
            user(json!({"isSSORequired": "no"})),
            "invalid isSSORequired: invalid type: string \"no\", expected a boolean",
        ),
        bad(user(json!({"email": "nobody"})), "email must have the form name@domain"),
        bad(user(json!({})) + " {}", "request body is not valid JSON: trailing characters"),
        bad(
            user(json!({"email": "ja\u{0}ne@a.example"})),
            "email must not contain white space or control characters",
        ),
        bad(
            user(json!({"email": "ja\u{200b}ne@a.example"})),
            "email must not contain Unicode format characters such as zero-width spaces, soft \
             hyphens or bidi controls",
        ),
        bad(
            user(json!({"externalId": "crm\u{0}42"})),
            "externalId must not contain control characters",
        ),
        bad(
            user(json!({"externalId": "crm\n42"})),
            "externalId must not contain control characters",
        ),
        bad(
            user(json!({"externalId": "crm\u{9b}42"})),
            "externalId must not contain control characters",
        ),
        bad(
            user(json!({"externalId": "x".repeat(257)})),
            "externalId is longer than 256 characters",
        ),
    ];

    check(&app, &admin, Method::POST, "/auth/users", cases).await;
}

#[tokio::test]
async fn bad_fields_of_a_user_action_request_are_named() {
    let app = TestApp::new().await;
    let (admin, _) = fixture(&app).await;
    let init = |extra: Value| {
        let mut body = json!({
            "userActionPayload": "{}",
            "userActionHttpMethod": "DELETE",
            "userActionHttpPath": "/auth/users/x",
        });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body.to_string()
    };
    let cases = vec![
        bad(
            r#"{"userActionHttpMethod": "DELETE", "userActionHttpPath": "/"}"#,
            "invalid request body: missing field `userActionPayload`",
        ),
        bad(
            init(json!({"userActionPayload": {}})),
            "invalid userActionPayload: invalid type: map, expected a string",
        ),
        bad(
            init(json!({"userActionHttpMethod": "PATCH"})),
            "invalid userActionHttpMethod: unknown variant `PATCH`, expected one of `POST`, \
             `PUT`, `DELETE`, `GET`",
        ),
        bad(
            init(json!({"userActionHttpPath": "auth/users"})),
            "userActionHttpPath must start with /",
        ),
        bad(
            init(json!({"userActionServerKind": "Other"})),
            "invalid userActionServerKind: unknown variant `Other`, expected `Api` or `Staff`",
        ),
        bad(
            init(json!({"userActionHttpMethod": {"DELETE": null}})),
            "invalid userActionHttpMethod: invalid type: map, expected an HTTP method name as a \
             string",
        ),
        bad(
            init(json!({"userActionServerKind": {"Api": null}})),
            "invalid userActionServerKind: invalid type: map, expected a server kind name as a \
             string",
        ),
        bad(
            init(json!({"userActionPayload": "{\"email\": \"\u{0}\"}"})),
            "userActionPayload must not contain NUL characters",
        ),
        bad(
            init(json!({"userActionHttpPath": "/auth/users/x\u{0}"})),
            "userActionHttpPath must not contain white space or control characters",
        ),
        bad(
            init(json!({"userActionHttpPath": "/auth/users/a b"})),
            "userActionHttpPath must not contain white space or control characters",
        ),
        bad(
            init(json!({"userActionHttpPath": "/auth/users\r\nX-Evil: 1"})),
            "userActionHttpPath must not contain white space or control characters",
        ),
    ];

    check(&app, &admin, Method::POST, "/auth/action/init", cases).await;
}

#[tokio::test]
async fn bad_fields_of_a_credential_registration_are_named() {
    let app = TestApp::new().await;
    let (admin, _) = fixture(&app).await;
    let init = vec![
        bad("{}", "invalid request body: missing field `kind`"),
        bad(
            r#"{"kind": "Retina"}"#,
            "invalid kind: unknown variant `Retina`, expected one of `Key`, `Fido2`, \
             `Password`, `Totp`, `RecoveryKey`, `PasswordProtectedKey`",
        ),
        bad(r#"{"kind": "Totp"}"#, "credential kind Totp is not supported; Key and Fido2 are"),
        bad(
            r#"{"kind": 2}"#,
            "invalid kind: invalid type: integer `2`, expected a credential kind name as a string",
        ),
        bad(
            r#"{"kind": {"Key": null}}"#,
            "invalid kind: invalid type: map, expected a credential kind name as a string",
        ),
    ];
    let create = |change: Value| {
        let mut body = json!({
            "credentialKind": "Fido2",
            "credentialInfo": {"credId": "abc", "clientData": "e30", "attestationData": "oA"},
            "credentialName": "passkey",
            "challengeIdentifier": "unknown",
        });
        body.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        body.to_string()
    };
    let info = |change: Value| {
        let mut info = json!({"credId": "abc", "clientData": "e30", "attestationData": "oA"});
        info.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        create(json!({"credentialInfo": info}))
    };
    let register = vec![
        bad(r#"{"credentialKind": "Key"}"#, "invalid request body: missing field `credentialInfo`"),
        bad(
            create(json!({"credentialKind": "Password"})),
            "credential kind Password is not supported; Key and Fido2 are",
        ),
        bad(
            create(json!({"credentialName": null})),
            "invalid credentialName: invalid type: null, expected a string",
        ),
        bad(
            create(json!({"credentialInfo": {"credId": "abc"}})),
            "invalid credentialInfo: missing field `clientData`",
        ),
        bad(info(json!({"clientData": "%%"})), "credentialInfo.clientData is not valid base64url"),
        bad(
            info(json!({"attestationData": "!"})),
            "credentialInfo.attestationData is not valid base64url",
        ),
        // serde would read a struct from an array of its fields in order.
        bad(
            create(json!({"credentialInfo": ["abc", "e30", "oA"]})),
            "invalid credentialInfo: invalid type: sequence, expected a JSON object with credId, \
             clientData and attestationData",
        ),
        bad(
            create(json!({"credentialKind": {"Fido2": null}})),
            "invalid credentialKind: invalid type: map, expected a credential kind name as a \
             string",
        ),
        // Well-formed, but for a challenge that was never issued.
        bad(create(json!({})), "challenge is not valid"),
        // Not even the shape of an identifier this server issues.
        bad(create(json!({"challengeIdentifier": "a\u{0}b"})), "challenge is not valid"),
        bad(create(json!({"challengeIdentifier": ""})), "challenge is not valid"),
        bad(create(json!({"challengeIdentifier": "abc="})), "challenge is not valid"),
        bad(create(json!({"challengeIdentifier": "x".repeat(129)})), "challenge is not valid"),
    ];

    check(&app, &admin, Method::POST, "/auth/credentials/init", init).await;
    check(&app, &admin, Method::POST, "/auth/credentials", register).await;
}

#[tokio::test]
async fn bad_fields_of_a_permission_are_named() {
    let app = TestApp::new().await;
    let (admin, readers) = fixture(&app).await;
    let create = vec![
        bad(r#"{"name": "P"}"#, "invalid request body: missing field `operations`"),
        bad(r#"{"operations": ["Auth:Users:Read"]}"#, "invalid request body: missing field `name`"),
        bad(
            r#"{"name": "P", "operations": "Auth:Users:Read"}"#,
            "invalid operations: invalid type: string \"Auth:Users:Read\", expected a sequence",
        ),
        bad(
            r#"{"name": "P", "operations": ["Auth:Users:Fly"]}"#,
            "unknown operation \"Auth:Users:Fly\"",
        ),
        bad(
            r#"{"name": 3, "operations": []}"#,
            "invalid name: invalid type: integer `3`, expected a string",
        ),
    ];
    let update = vec![
        bad(
            r#"{"operations": [1]}"#,
            "invalid operations[0]: invalid type: integer `1`, expected a string",
        ),
        bad(r#"{"operations": ["Nope"]}"#, "unknown operation \"Nope\""),
    ];
    let assign = vec![
        bad("{}", "invalid request body: missing field `identityId`"),
        bad(
            r#"{"identityId": 7}"#,
            "invalid identityId: invalid type: integer `7`, expected a string",
        ),
        case(r#"{"identityId": "us-nope"}"#, StatusCode::NOT_FOUND, "user not found"),
    ];

    check(&app, &admin, Method::POST, "/permissions", create).await;
    check(&app, &admin, Method::PUT, &format!("/permissions/{readers}"), update).await;
    let assignments = format!("/permissions/{readers}/assignments");
    check(&app, &admin, Method::POST, &assignments, assign).await;
}

/// A first factor answering `challenge` with `assertion` members replaced
/// by `changes`, signed by `session`'s key over the client data it names.
fn assertion(session: &Session, challenge: &Value, changes: Value) -> Value {
    let mut first_factor = session.user.key.answer(challenge);
    let members = first_factor["credentialAssertion"].as_object_mut().unwrap();
    members.extend(changes.as_object().unwrap().clone());
    first_factor
}

/// `first_factor` with its `kind` replaced by `kind`.
fn with_kind(mut first_factor: Value, kind: Value) -> Value {
    first_factor["kind"] = kind;
    first_factor
}

/// The credential assertions that are malformed or do not verify, with
/// what each must be answered.
fn bad_assertions(session: &Session, challenge: &Value) -> Vec<(Value, Reply)> {
    let b64 = |bytes: &[u8]| Value::from(URL_SAFE_NO_PAD.encode(bytes));
    let invalid = error(StatusCode::UNAUTHORIZED, "invalid signature");
    let client_data = "clientData is not a JSON object with type and challenge";
    let signature = session.user.key.answer(challenge)["credentialAssertion"]["signature"].clone();
    let der = URL_SAFE_NO_PAD.decode(signature.as_str().unwrap()).unwrap();
    let with_trailing = [der.as_slice(), &[0]].concat();
    let field =
        |name: &str| format!("firstFactor.credentialAssertion.{name} is not valid base64url");
    let not_ours = json!({"type": "key.get", "challenge": "not the challenge"}).to_string();
    let nul_origin =
        json!({"type": "key.get", "challenge": challenge["challenge"], "origin": "https://a\u{0}"})
            .to_string();
    let members = |first_factor: Value| {
        let assertion = &first_factor["credentialAssertion"];
        json!([assertion["credId"], assertion["clientData"], assertion["signature"], null])
    };
    let first_factor = "a JSON object with kind and credentialAssertion";
    vec![
        (
            assertion(session, challenge, json!({"signature": "not base64url!"})),
            error(StatusCode::BAD_REQUEST, &field("signature")),
        ),
        (
            assertion(session, challenge, json!({"clientData": "%%%"})),
            error(StatusCode::BAD_REQUEST, &field("clientData")),
        ),
        // A credential id is opaque: one the caller does not hold, whatever
        // its spelling, fails like a signature that does not verify.
        (assertion(session, challenge, json!({"credId": "***"})), invalid.clone()),
        (
            assertion(session, challenge, json!({"signature": b64(&der[..der.len() - 3])})),
            invalid.clone(),
        ),
        (assertion(session, challenge, json!({"signature": b64(&with_trailing)})), invalid.clone()),
        (assertion(session, challenge, json!({"signature": b64(b"\x30\x00")})), invalid.clone()),
        (assertion(session, challenge, json!({"signature": b64(&[])})), invalid.clone()),
        (
            assertion(session, challenge, json!({"clientData": b64(b"not json")})),
            error(StatusCode::BAD_REQUEST, client_data),
        ),
        (
            assertion(session, challenge, json!({"clientData": b64(b"[1, 2]")})),
            error(StatusCode::BAD_REQUEST, client_data),
        ),
        (session.user.key.answer_with(challenge, &not_ours), invalid.clone()),
        (
            json!({"kind": "Key"}),
            error(
                StatusCode::BAD_REQUEST,
                "invalid firstFactor: missing field `credentialAssertion`",
            ),
        ),
        (
            json!({"kind": "Password", "credentialAssertion": {}}),
            error(
                StatusCode::BAD_REQUEST,
                "invalid firstFactor.kind: unknown variant `Password`, expected `Key` or `Fido2`",
            ),
        ),
        (
            session.user.key.answer_with(challenge, &nul_origin),
            error(StatusCode::BAD_REQUEST, "clientData origin must not contain control characters"),
        ),
        // serde would read a struct from an array of its fields in order,
        // and an internally tagged enum from an array led by its tag.
        (
            json!({"kind": "Key", "credentialAssertion": members(session.user.key.answer(challenge))}),
            error(
                StatusCode::BAD_REQUEST,
                "invalid firstFactor: invalid type: sequence, expected a JSON object with credId, \
                 clientData and signature",
            ),
        ),
        (
            json!(["Key", session.user.key.answer(challenge)["credentialAssertion"]]),
            error(
                StatusCode::BAD_REQUEST,
                &format!("invalid firstFactor: invalid type: sequence, expected {first_factor}"),
            ),
        ),
        // The tag is read by serde's own code, which names no Rust type.
        (
            with_kind(session.user.key.answer(challenge), json!({"Key": null})),
            error(
                StatusCode::BAD_REQUEST,
                "invalid firstFactor.kind: invalid type: map, expected variant identifier",
            ),
        ),
        (
            with_kind(session.user.key.answer(challenge), json!(0)),
            error(
                StatusCode::BAD_REQUEST,
                "invalid firstFactor.kind: invalid type: integer `0`, expected variant identifier",
            ),
        ),
    ]
}

#[tokio::test]
async fn a_malformed_or_unverifiable_login_assertion_is_refused_and_issues_no_token() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let probe = app.login_challenge(&app.admin_a).await;
    let count = bad_assertions(&admin, &probe).len();
    let before = app.org_snapshot(&admin).await;

    for i in 0..count {
        let challenge = app.login_challenge(&app.admin_a).await;
        let (first_factor, expected) = bad_assertions(&admin, &challenge).swap_remove(i);

        let reply = app.complete_login(&challenge, first_factor.clone()).await;

        assert_eq!(reply, expected, "{first_factor}");
    }
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn a_malformed_or_unverifiable_user_action_assertion_is_refused_and_earns_no_token() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "t@a.example").await;
    let path = format!("/auth/users/{}", target.id);
    let probe = app.action_challenge(&admin, Method::DELETE, &path, "{}").await;
    let count = bad_assertions(&admin, &probe).len();
    let before = app.org_snapshot(&admin).await;

    for i in 0..count {
        let challenge = app.action_challenge(&admin, Method::DELETE, &path, "{}").await;
        let (first_factor, expected) = bad_assertions(&admin, &challenge).swap_remove(i);

        let reply = app.complete_action(&admin, &challenge, first_factor.clone()).await;

        assert_eq!(reply, expected, "{first_factor}");
    }
    assert_eq!(app.org_snapshot(&admin).await, before);
}

/// The `Fido2` assertions that are malformed, with what each must be
/// answered. Nothing is registered: the shapes are refused before any
/// credential is looked up, or the unknown credential fails to verify.
fn bad_fido2_assertions() -> Vec<(Value, Reply)> {
    let assertion = |changes: Value| {
        let mut members = json!({
            "credId": "abc",
            "clientData": URL_SAFE_NO_PAD.encode(r#"{"type":"webauthn.get","challenge":"x"}"#),
            "authenticatorData": URL_SAFE_NO_PAD.encode([0; 37]),
            "signature": URL_SAFE_NO_PAD.encode([0x30, 0]),
        });
        members.as_object_mut().unwrap().extend(changes.as_object().unwrap().clone());
        json!({"kind": "Fido2", "credentialAssertion": members})
    };
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, message);
    vec![
        (
            assertion(json!({"authenticatorData": "not base64url!"})),
            bad("firstFactor.credentialAssertion.authenticatorData is not valid base64url"),
        ),
        (
            json!({"kind": "Fido2", "credentialAssertion": {"credId": "abc", "clientData": "e30",
                "signature": "MAA"}}),
            bad("invalid firstFactor: missing field `authenticatorData`"),
        ),
        (
            assertion(json!({"userHandle": 5})),
            bad("invalid firstFactor: invalid type: integer `5`, expected a string"),
        ),
        (assertion(json!({})), error(StatusCode::UNAUTHORIZED, "invalid signature")),
    ]
}

#[tokio::test]
async fn a_malformed_fido2_assertion_is_refused_and_issues_no_token() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let before = app.org_snapshot(&admin).await;

    for (first_factor, expected) in bad_fido2_assertions() {
        let challenge = app.login_challenge(&app.admin_a).await;
        let reply = app.complete_login(&challenge, first_factor.clone()).await;
        assert_eq!(reply, expected, "login: {first_factor}");

        let challenge = app.action_challenge(&admin, Method::POST, "/auth/users", "{}").await;
        let reply = app.complete_action(&admin, &challenge, first_factor.clone()).await;
        assert_eq!(reply, expected, "action: {first_factor}");
    }
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn bad_login_requests_are_named() {
    let app = TestApp::new().await;
    let org = app.admin_a.org_id.clone();
    let cases = [
        (json!({"orgId": org}), "invalid request body: missing field `username`"),
        (json!({"username": "admin@a.example"}), "invalid request body: missing field `orgId`"),
        (
            json!({"username": 1, "orgId": org}),
            "invalid username: invalid type: integer `1`, expected a string",
        ),
        (json!({"challengeIdentifier": "x"}), "invalid request body: missing field `firstFactor`"),
    ];

    for (body, message) in cases {
        let path = if body.get("challengeIdentifier").is_some() {
            "/auth/login"
        } else {
            "/auth/login/init"
        };

        let reply = app.post(path, None, &body).await;

        assert_eq!(reply, error(StatusCode::BAD_REQUEST, message), "{body}");
    }
}

/// Identifiers no challenge this server issues could have, among them the
/// issued `identifier` with a NUL after it, which a store that cuts text
/// at a NUL would take for the issued one.
fn impossible_challenge_ids(identifier: &Value) -> Vec<String> {
    let issued = identifier.as_str().unwrap();
    vec![
        format!("{issued}\u{0}"),
        "a\u{0}b".to_owned(),
        String::new(),
        format!("{issued} "),
        format!("{issued}="),
        "é".to_owned(),
        "x".repeat(domain::MAX_CHALLENGE_ID_CHARS + 1),
    ]
}

#[tokio::test]
async fn a_challenge_identifier_no_challenge_could_have_is_not_valid_and_takes_nothing() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let login = app.login_challenge(&app.admin_a).await;
    let action = app.action_challenge(&admin, Method::POST, "/auth/users", "{}").await;
    let not_valid = error(StatusCode::BAD_REQUEST, "challenge is not valid");
    let before = app.org_snapshot(&admin).await;

    for identifier in impossible_challenge_ids(&login["challengeIdentifier"]) {
        let mut answered = login.clone();
        answered["challengeIdentifier"] = json!(identifier);
        let reply = app.complete_login(&answered, admin.user.key.answer(&login)).await;
        assert_eq!(reply, not_valid, "login with {identifier:?}");
    }
    for identifier in impossible_challenge_ids(&action["challengeIdentifier"]) {
        let mut answered = action.clone();
        answered["challengeIdentifier"] = json!(identifier);
        let reply = app.complete_action(&admin, &answered, admin.user.key.answer(&action)).await;
        assert_eq!(reply, not_valid, "action with {identifier:?}");
    }

    // Neither issued challenge was taken by the attempts.
    let (status, body) = app.complete_login(&login, admin.user.key.answer(&login)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.complete_action(&admin, &action, admin.user.key.answer(&action)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.org_snapshot(&admin).await, before);
}
