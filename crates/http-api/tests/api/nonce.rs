//! The legacy request nonce, `X-DFNS-NONCE`: base64url of
//! `{"uuid", "date"}`, checked after authentication and before anything
//! else, accepted once, within five minutes of the server's clock.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use domain::{Duration, Timestamp};
use http_api::ApiOptions;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower::ServiceExt;

use crate::harness::{Reply, TestApp, error};

const INVALID: &str = "request nonce is missing or invalid";
const USED: &str = "request nonce has already been used";

/// Just over the five minutes a nonce's date may be off by.
const TOO_FAR: Duration = Duration::from_millis(5 * 60 * 1000 + 1);

/// A fresh uuid, as a client makes one per request.
fn uuid() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An RFC 3339 date, as `new Date().toISOString()` writes one.
fn iso_date(at: Timestamp) -> String {
    let nanos = i128::from(at.unix_millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap().format(&Rfc3339).unwrap()
}

/// The header a client sends: base64url of the JSON.
fn encode(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// A valid nonce for the moment `at`.
fn nonce_at(at: Timestamp) -> String {
    encode(&json!({"uuid": uuid(), "date": iso_date(at)}))
}

fn shifted(at: Timestamp, millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(at.unix_millis() + millis)
}

/// Sends a request with any headers, and checks the answer as the
/// harness's `call` does: never a 5xx, always JSON, errors in the
/// contract's body.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut request = Request::builder().method(method.clone()).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if !body.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();

    let response = app.router().oneshot(request).await.unwrap();

    let status = response.status();
    assert!(!status.is_server_error(), "{method} {path} answered {status}");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(body, error(status, message).1, "{method} {path}: not an error body");
    }
    (status, body)
}

/// `GET /auth/users/{the admin's own id}` as admin A, with `nonce` if any.
async fn read_self(app: &TestApp, token: &str, nonce: Option<&str>) -> Reply {
    let path = format!("/auth/users/{}", app.admin_a.id);
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    if let Some(nonce) = nonce {
        headers.push(("x-dfns-nonce", nonce));
    }
    send(app, Method::GET, &path, &headers, "").await
}

#[tokio::test]
async fn a_request_without_a_nonce_is_served_when_none_is_required() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;

    let (status, body) = read_self(&app, &admin.token, None).await;

    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_fresh_nonce_is_accepted_padded_or_not() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let padded = URL_SAFE.encode(json!({"uuid": uuid(), "date": iso_date(app.now())}).to_string());

    for nonce in [nonce_at(app.now()), padded] {
        let (status, body) = read_self(&app, &admin.token, Some(&nonce)).await;
        assert_eq!(status, StatusCode::OK, "{nonce}: {body}");
    }
}

#[tokio::test]
async fn a_nonce_is_accepted_once() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let uuid = uuid();
    let date = iso_date(app.now());
    let nonce = encode(&json!({"uuid": uuid, "date": date}));
    // The same uuid in another spelling, keys in another order, with
    // padding, is the same nonce.
    let respelled = URL_SAFE.encode(format!(r#"{{"date":"{date}","uuid":"{uuid}"}}"#));

    let first = read_self(&app, &admin.token, Some(&nonce)).await;
    let again = read_self(&app, &admin.token, Some(&nonce)).await;
    let respelled = read_self(&app, &admin.token, Some(&respelled)).await;

    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(again, error(StatusCode::BAD_REQUEST, USED));
    assert_eq!(respelled, error(StatusCode::BAD_REQUEST, USED));
}

#[tokio::test]
async fn a_nonce_is_accepted_up_to_five_minutes_either_side_of_the_clock() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let window = 5 * 60 * 1000;

    for at in [shifted(app.now(), -window), shifted(app.now(), window)] {
        let (status, body) = read_self(&app, &admin.token, Some(&nonce_at(at))).await;
        assert_eq!(status, StatusCode::OK, "{at}: {body}");
    }
}

#[tokio::test]
async fn a_nonce_dated_more_than_five_minutes_away_is_refused() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let stale = nonce_at(shifted(app.now(), -TOO_FAR.millis()));
    let future = nonce_at(shifted(app.now(), TOO_FAR.millis()));
    // A nonce that was fresh when it was made goes stale as the clock
    // moves on.
    let made_now = nonce_at(app.now());

    let stale = read_self(&app, &admin.token, Some(&stale)).await;
    let future = read_self(&app, &admin.token, Some(&future)).await;
    app.advance(TOO_FAR);
    let late = read_self(&app, &admin.token, Some(&made_now)).await;

    assert_eq!(stale, error(StatusCode::BAD_REQUEST, INVALID));
    assert_eq!(future, error(StatusCode::BAD_REQUEST, INVALID));
    assert_eq!(late, error(StatusCode::BAD_REQUEST, INVALID));
}

#[tokio::test]
async fn a_malformed_nonce_is_refused() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let date = iso_date(app.now());
    let malformed = [
        ("empty", String::new()),
        ("not base64url", "this is not base64!".to_owned()),
        ("not JSON", URL_SAFE_NO_PAD.encode("uuid=abcdefghijklmnop")),
        ("not an object", encode(&json!([uuid(), date]))),
        ("short uuid", encode(&json!({"uuid": "abcdefghijkl", "date": date}))),
        ("no uuid", encode(&json!({"date": date}))),
        ("uuid not a string", encode(&json!({"uuid": 12345678901234_u64, "date": date}))),
        ("bad date", encode(&json!({"uuid": uuid(), "date": "last tuesday"}))),
        ("no time zone", encode(&json!({"uuid": uuid(), "date": "2023-11-14T22:13:20"}))),
        ("no date", encode(&json!({"uuid": uuid()}))),
        ("uuid with a NUL", encode(&json!({"uuid": format!("{}\u{0}", uuid()), "date": date}))),
        ("uuid with a newline", encode(&json!({"uuid": format!("a\n{}", uuid()), "date": date}))),
    ];

    for (what, nonce) in malformed {
        let reply = read_self(&app, &admin.token, Some(&nonce)).await;
        assert_eq!(reply, error(StatusCode::BAD_REQUEST, INVALID), "{what}");
    }
}

#[tokio::test]
async fn a_required_nonce_must_be_sent_with_every_authenticated_request() {
    let app = TestApp::with_options(ApiOptions { require_nonce: true }).await;
    let admin = app.login(&app.admin_a).await;
    let bearer = format!("Bearer {}", admin.token);
    let action_init = json!({
        "userActionPayload": "{}",
        "userActionHttpMethod": "DELETE",
        "userActionHttpPath": format!("/auth/users/{}", app.admin_b.id),
    })
    .to_string();

    let missing = read_self(&app, &admin.token, None).await;
    let missing_on_action =
        send(&app, Method::POST, "/auth/action/init", &[("authorization", &bearer)], &action_init)
            .await;
    let sent = read_self(&app, &admin.token, Some(&nonce_at(app.now()))).await;

    assert_eq!(missing, error(StatusCode::BAD_REQUEST, INVALID));
    assert_eq!(missing_on_action, error(StatusCode::BAD_REQUEST, INVALID));
    assert_eq!(sent.0, StatusCode::OK, "{}", sent.1);
}

#[tokio::test]
async fn a_login_never_needs_a_nonce_but_a_sent_one_is_checked() {
    let app = TestApp::with_options(ApiOptions { require_nonce: true }).await;
    let login_init = json!({"username": app.admin_a.email, "orgId": app.admin_a.org_id});
    let login_init = login_init.to_string();
    let stale = nonce_at(shifted(app.now(), -TOO_FAR.millis()));

    // The harness logs in without a nonce.
    app.login(&app.admin_a).await;
    let refused =
        send(&app, Method::POST, "/auth/login/init", &[("x-dfns-nonce", &stale)], &login_init)
            .await;

    assert_eq!(refused, error(StatusCode::BAD_REQUEST, INVALID));
}

#[tokio::test]
async fn a_nonce_whose_uuid_has_a_control_character_is_refused_before_a_login() {
    let app = TestApp::new().await;
    let login_init = json!({"username": app.admin_a.email, "orgId": app.admin_a.org_id});
    let login_init = login_init.to_string();
    let date = iso_date(app.now());

    for controlled in [format!("{}\u{0}", uuid()), format!("\u{7f}{}", uuid())] {
        let nonce = encode(&json!({"uuid": controlled, "date": date}));
        let headers = [("x-dfns-nonce", nonce.as_str())];

        let refused = send(&app, Method::POST, "/auth/login/init", &headers, &login_init).await;

        assert_eq!(refused, error(StatusCode::BAD_REQUEST, INVALID), "{controlled:?}");
    }
}

#[tokio::test]
async fn authentication_is_checked_before_the_nonce() {
    let app = TestApp::with_options(ApiOptions { require_nonce: true }).await;
    let path = format!("/auth/users/{}", app.admin_a.id);
    let unauthenticated =
        error(StatusCode::UNAUTHORIZED, "authentication token is missing or invalid");

    let no_bearer = send(&app, Method::GET, &path, &[("x-dfns-nonce", "garbage")], "").await;
    let bad_bearer = send(
        &app,
        Method::GET,
        &path,
        &[("authorization", "Bearer not.a.token"), ("x-dfns-nonce", "garbage")],
        "",
    )
    .await;
    let neither = send(&app, Method::GET, &path, &[], "").await;

    assert_eq!(no_bearer, unauthenticated);
    assert_eq!(bad_bearer, unauthenticated);
    assert_eq!(neither, unauthenticated);
}

#[tokio::test]
async fn the_nonce_is_checked_before_the_permission() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let user = app.create_user(&admin, "no.rights@a.example").await;
    let session = app.login(&user).await;
    let path = format!("/auth/users/{}", user.id);
    let bearer = format!("Bearer {}", session.token);

    let without = send(&app, Method::GET, &path, &[("authorization", &bearer)], "").await;
    let with_bad = send(
        &app,
        Method::GET,
        &path,
        &[("authorization", &bearer), ("x-dfns-nonce", "garbage")],
        "",
    )
    .await;

    assert_eq!(without.0, StatusCode::FORBIDDEN, "{}", without.1);
    assert_eq!(with_bad, error(StatusCode::BAD_REQUEST, INVALID));
}

#[tokio::test]
async fn a_refused_nonce_leaves_the_user_action_unspent() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "target@a.example").await;
    let path = format!("/auth/users/{}", target.id);
    let user_action = app.user_action(&admin, Method::DELETE, &path, "{}").await;
    let bearer = format!("Bearer {}", admin.token);
    let stale = nonce_at(shifted(app.now(), -TOO_FAR.millis()));
    let fresh = nonce_at(app.now());

    let refused = send(
        &app,
        Method::DELETE,
        &path,
        &[
            ("authorization", &bearer),
            ("x-dfns-useraction", &user_action),
            ("x-dfns-nonce", &stale),
        ],
        "{}",
    )
    .await;
    let archived = send(
        &app,
        Method::DELETE,
        &path,
        &[
            ("authorization", &bearer),
            ("x-dfns-useraction", &user_action),
            ("x-dfns-nonce", &fresh),
        ],
        "{}",
    )
    .await;

    assert_eq!(refused, error(StatusCode::BAD_REQUEST, INVALID));
    assert_eq!(archived.0, StatusCode::OK, "{}", archived.1);
    assert_eq!(archived.1["isActive"], false);
}

#[tokio::test]
async fn an_app_id_header_is_accepted_and_ignored() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let path = format!("/auth/users/{}", app.admin_a.id);
    let bearer = format!("Bearer {}", admin.token);

    let (status, body) = send(
        &app,
        Method::GET,
        &path,
        &[("authorization", &bearer), ("x-dfns-appid", "ap-legacy-app-id")],
        "",
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["userId"], app.admin_a.id);
}
