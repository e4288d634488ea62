//! Bad input: a 400 that names what is wrong, and nothing created.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Reply, Session, TestApp, error};

/// `POST /auth/users` with `body`, signed for exactly that body when it is
/// small enough to sign.
async fn create_user_with(app: &TestApp, admin: &Session, body: Vec<u8>) -> Reply {
    let payload = String::from_utf8(body.clone()).ok().filter(|p| p.len() < 1024);
    let user_action = match payload {
        Some(payload) => Some(app.user_action(admin, Method::POST, "/auth/users", &payload).await),
        None => None,
    };
    let token = Some(admin.token.as_str());
    app.call(Method::POST, "/auth/users", token, user_action.as_deref(), body).await
}

#[tokio::test]
async fn a_bad_create_user_body_is_refused_with_a_message_naming_the_problem() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let long_id = "x".repeat(http_api::MAX_BODY_BYTES);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            br#"{"email": "jane@a.example", "kind": "#.to_vec(),
            "request body is not valid JSON: EOF while parsing a value",
        ),
        (
            br#"{"kind": "CustomerEmployee"}"#.to_vec(),
            "invalid request body: missing field `email`",
        ),
        (
            br#"{"email": 5, "kind": "CustomerEmployee"}"#.to_vec(),
            "invalid email: invalid type: integer `5`, expected a string",
        ),
        (
            br#"{"email": "jane@a.example", "kind": "Robot"}"#.to_vec(),
            "invalid kind: unknown variant `Robot`, expected one of `CustomerEmployee`, `EndUser`, `DfnsStaff`",
        ),
        (
            br#"{"email": "jane@a.example", "kind": "EndUser", "isSSORequired": "yes"}"#.to_vec(),
            "invalid isSSORequired: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"email": "jane@a.example", "kind": "EndUser", "externalId": long_id})
                .to_string()
                .into_bytes(),
            "request body is larger than 65536 bytes",
        ),
        (
            b"{\"email\": \"jane\xff@a.example\", \"kind\": \"EndUser\"}".to_vec(),
            "request body is not valid JSON: invalid unicode code point",
        ),
        (Vec::new(), "request body is empty; a JSON object is expected"),
    ];
    let users_before = app.listed_ids(&admin).await;
    let events_before = app.audit_event_count(&app.admin_a).await;

    for (body, message) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();

        let reply = create_user_with(&app, &admin, body).await;

        assert_eq!(reply, error(StatusCode::BAD_REQUEST, message), "{shown}");
    }
    assert_eq!(app.listed_ids(&admin).await, users_before);
    assert_eq!(app.audit_event_count(&app.admin_a).await, events_before);
}

#[tokio::test]
async fn a_bad_login_body_is_refused_with_a_message_naming_the_field() {
    let app = TestApp::new().await;
    let challenge = app.login_challenge(&app.admin_a).await;
    let mut bad_signature = app.admin_a.key.answer(&challenge);
    bad_signature["credentialAssertion"]["signature"] = json!("not base64url!");
    let totp = json!({"kind": "Totp", "otpCode": "123456"});

    let init = app.post("/auth/login/init", None, &json!({"username": "jane@a.example"})).await;
    let kind = app.complete_login(&challenge, totp).await;
    let signature = app.complete_login(&challenge, bad_signature).await;

    assert_eq!(init, error(StatusCode::BAD_REQUEST, "invalid request body: missing field `orgId`"));
    let message = "invalid firstFactor.kind: unknown variant `Totp`, expected `Key` or `Fido2`";
    assert_eq!(kind, error(StatusCode::BAD_REQUEST, message));
    let message = "firstFactor.credentialAssertion.signature is not valid base64url";
    assert_eq!(signature, error(StatusCode::BAD_REQUEST, message));
}

#[tokio::test]
async fn an_unknown_route_is_answered_404_in_json() {
    let app = TestApp::new().await;

    let reply = app.call(Method::GET, "/auth/nothing/here", None, None, "").await;

    assert_eq!(reply, error(StatusCode::NOT_FOUND, "not found"));
}

#[tokio::test]
async fn a_known_route_with_a_wrong_method_is_answered_405_in_json() {
    let app = TestApp::new().await;
    let path = format!("/auth/users/{}", app.admin_a.id);

    let patch = app.call(Method::PATCH, &path, None, None, "{}").await;
    let get_login = app.call(Method::GET, "/auth/login", None, None, "").await;

    assert_eq!(patch, error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
    assert_eq!(get_login, error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
}

/// serde's words for Rust types, and the names of the types bodies are
/// read into: none may reach a client.
const RUST_WORDS: [&str; 21] = [
    "struct",
    "enum",
    "tagged",
    "LoginInitBody",
    "SignedChallengeBody",
    "FirstFactor",
    "KeyAssertion",
    "Fido2Assertion",
    "WireMethod",
    "ServerKind",
    "ActionInitBody",
    "WireUserKind",
    "CreateUserBody",
    "WireCredentialKind",
    "CredentialInitBody",
    "CreateCredentialBody",
    "CredentialInfo",
    "CreatePermissionBody",
    "UpdatePermissionBody",
    "ArchivePermissionBody",
    "CreateAssignmentBody",
];

#[tokio::test]
async fn a_value_of_the_wrong_shape_is_described_in_client_words() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let token = Some(admin.token.as_str());
    let login = |first_factor: serde_json::Value| {
        json!({"challengeIdentifier": "x", "firstFactor": first_factor}).to_string()
    };
    let registration = |info: serde_json::Value| {
        json!({
            "credentialKind": "Key",
            "credentialInfo": info,
            "credentialName": "n",
            "challengeIdentifier": "x",
        })
        .to_string()
    };
    let cases = [
        (
            "/auth/login",
            login(json!([])),
            "invalid firstFactor: invalid type: sequence, expected a JSON object with kind and \
             credentialAssertion",
        ),
        (
            "/auth/login",
            login(json!({"kind": "Key", "credentialAssertion": 5})),
            "invalid firstFactor: invalid type: integer `5`, expected a JSON object with credId, \
             clientData and signature",
        ),
        (
            "/auth/action",
            login(json!({"kind": "Fido2", "credentialAssertion": ["c", "d", "a", "s", null]})),
            "invalid firstFactor: invalid type: sequence, expected a JSON object with credId, \
             clientData, authenticatorData and signature",
        ),
        (
            "/auth/credentials",
            registration(json!("x")),
            "invalid credentialInfo: invalid type: string \"x\", expected a JSON object with \
             credId, clientData and attestationData",
        ),
    ];

    for (path, body, message) in cases {
        let reply = app.call(Method::POST, path, token, None, body.clone()).await;

        assert_eq!(reply, error(StatusCode::BAD_REQUEST, message), "{path} {body}");
    }
}

#[tokio::test]
async fn no_message_about_a_body_names_a_rust_type() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let token = Some(admin.token.as_str());
    let permission = app.new_permission(&admin, "Readers", &["Auth:Users:Read"]).await;
    let endpoints = [
        (Method::POST, "/auth/login/init".to_owned(), vec!["username", "orgId"]),
        (Method::POST, "/auth/login".to_owned(), vec!["challengeIdentifier", "firstFactor"]),
        (Method::POST, "/auth/action".to_owned(), vec!["firstFactor"]),
        (
            Method::POST,
            "/auth/action/init".to_owned(),
            vec!["userActionHttpMethod", "userActionServerKind", "userActionPayload"],
        ),
        (Method::POST, "/auth/users".to_owned(), vec!["kind", "email", "externalId"]),
        (Method::POST, "/auth/credentials/init".to_owned(), vec!["kind"]),
        (
            Method::POST,
            "/auth/credentials".to_owned(),
            vec!["credentialKind", "credentialInfo", "credentialName"],
        ),
        (Method::POST, "/permissions".to_owned(), vec!["name", "operations"]),
        (Method::PUT, format!("/permissions/{permission}"), vec!["operations"]),
        (Method::PUT, format!("/permissions/{permission}/archive"), vec!["isArchived"]),
        (Method::POST, format!("/permissions/{permission}/assignments"), vec!["identityId"]),
    ];
    let shapes = [json!([]), json!(["Key", {}]), json!(5), json!("x"), json!({"Key": null})];
    let nested = [
        json!({"kind": "Key", "credentialAssertion": []}),
        json!({"kind": "Fido2", "credentialAssertion": 5}),
        json!({"kind": [], "credentialAssertion": {}}),
    ];

    for (method, path, fields) in &endpoints {
        for field in fields {
            let values =
                shapes.iter().chain(if *field == "firstFactor" { &nested[..] } else { &[] });
            for value in values {
                let body = json!({ *field: value }).to_string();

                let (status, answer) =
                    app.call(method.clone(), path, token, None, body.clone()).await;

                assert!(status.is_client_error(), "{method} {path} {body}: {answer}");
                let message = answer["error"]["message"].as_str().unwrap();
                let mut words = message.split(|c: char| !c.is_ascii_alphanumeric());
                assert!(
                    !words.any(|word| RUST_WORDS.contains(&word)),
                    "{method} {path} {body}: {message:?}"
                );
            }
        }
    }
}
