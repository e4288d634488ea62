//! Who may touch which user, and in which order a protected request is
//! checked.

use axum::http::{Method, StatusCode};

use crate::harness::{TestApp, error, unknown_user_id};

const AUTH_REFUSED: &str = "authentication token is missing or invalid";
const MISSING_OR_INVALID: &str = "user action signature is missing or invalid";

fn not_authorized(user_id: &str, operation: &str) -> String {
    format!("CustomerEmployee {user_id} is not authorized to perform operation ({operation})")
}

#[tokio::test]
async fn another_orgs_user_is_answered_exactly_like_an_unknown_one() {
    let app = TestApp::new().await;
    let admin_a = app.login(&app.admin_a).await;
    let admin_b = app.login(&app.admin_b).await;
    let target = app.create_user(&admin_a, "jane@a.example").await;
    let unknown = unknown_user_id();
    let before = (app.get_user(&admin_a, &target.id).await, app.audit_event_count(&target).await);
    let not_found = error(StatusCode::NOT_FOUND, "user not found");

    let read = [app.get_user(&admin_b, &target.id).await, app.get_user(&admin_b, &unknown).await];
    let archive = [app.archive(&admin_b, &target.id).await, app.archive(&admin_b, &unknown).await];
    let deactivate =
        [app.deactivate(&admin_b, &target.id).await, app.deactivate(&admin_b, &unknown).await];

    for reply in read.into_iter().chain(archive).chain(deactivate) {
        assert_eq!(reply, not_found);
    }
    let after = (app.get_user(&admin_a, &target.id).await, app.audit_event_count(&target).await);
    assert_eq!(after, before);
    assert_eq!(before.0.1["isActive"], true);
}

#[tokio::test]
async fn malformed_user_ids_are_answered_user_not_found() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let long = format!("us-{}", "a".repeat(1021));
    let not_found = error(StatusCode::NOT_FOUND, "user not found");

    for id in ["us-x", "..%2Fx", "..", long.as_str(), "%ff%fe%00", "us-%00"] {
        let read = app.get_user(&admin, id).await;
        let archive = app.archive(&admin, id).await;
        let deactivate = app.deactivate(&admin, id).await;

        assert_eq!(read, not_found, "GET {id}");
        assert_eq!(archive, not_found, "DELETE {id}");
        assert_eq!(deactivate, not_found, "deactivate {id}");
    }
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_before_its_body_is_read() {
    let app = TestApp::new().await;
    let garbage = b"\xff{not json".to_vec();
    let path = format!("/auth/users/{}", app.admin_b.id);

    let create = app.call(Method::POST, "/auth/users", None, Some("x"), garbage.clone()).await;
    let archive = app.call(Method::DELETE, &path, None, None, garbage).await;
    let forged = app.call(Method::GET, "/auth/users", Some("a.b.c"), None, "").await;

    assert_eq!(create, error(StatusCode::UNAUTHORIZED, AUTH_REFUSED));
    assert_eq!(archive, error(StatusCode::UNAUTHORIZED, AUTH_REFUSED));
    assert_eq!(forged, error(StatusCode::UNAUTHORIZED, AUTH_REFUSED));
}

#[tokio::test]
async fn a_caller_without_the_permission_is_refused_before_its_user_action_is_looked_at() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let caller = app.create_user(&admin, "jane@a.example").await;
    let session = app.login(&caller).await;
    let path = format!("/auth/users/{}", app.admin_a.id);
    let token = Some(session.token.as_str());

    let archive = app.call(Method::DELETE, &path, token, None, "{}").await;
    let create = app.call(Method::POST, "/auth/users", token, None, "{not json").await;
    let read = app.get_user(&session, &app.admin_a.id).await;

    let delete = not_authorized(&caller.id, "Auth:Users:Delete");
    assert_eq!(archive, error(StatusCode::FORBIDDEN, &delete));
    let create_message = not_authorized(&caller.id, "Auth:Users:Create");
    assert_eq!(create, error(StatusCode::FORBIDDEN, &create_message));
    let read_message = not_authorized(&caller.id, "Auth:Users:Read");
    assert_eq!(read, error(StatusCode::FORBIDDEN, &read_message));
}

#[tokio::test]
async fn a_caller_without_the_permission_is_refused_before_an_undecodable_id_is_looked_at() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let caller = app.create_user(&admin, "jane@a.example").await;
    let session = app.login(&caller).await;

    let archive = app.archive(&session, "%ff%fe").await;
    let read = app.get_user(&session, "%ff%fe").await;

    let delete = not_authorized(&caller.id, "Auth:Users:Delete");
    assert_eq!(archive, error(StatusCode::FORBIDDEN, &delete));
    assert_eq!(read, error(StatusCode::FORBIDDEN, &not_authorized(&caller.id, "Auth:Users:Read")));
}

#[tokio::test]
async fn a_bad_user_action_is_refused_before_the_target_is_looked_up() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let path = format!("/auth/users/{}", unknown_user_id());
    let token = Some(admin.token.as_str());

    let bogus = app.call(Method::DELETE, &path, token, Some("bogus"), "{}").await;
    let undecodable = app.call(Method::DELETE, "/auth/users/%ff", token, None, "{}").await;

    assert_eq!(bogus, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    assert_eq!(undecodable, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
}

#[tokio::test]
async fn a_valid_user_action_for_an_unknown_target_is_answered_user_not_found() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;

    let reply = app.archive(&admin, &unknown_user_id()).await;

    assert_eq!(reply, error(StatusCode::NOT_FOUND, "user not found"));
}

#[tokio::test]
async fn a_bad_external_id_is_refused_after_the_permission_and_before_the_user_action() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let reader = app.create_user_holding(&admin, "r@a.example", &["Auth:Users:Read"]).await;
    let reader = app.login(&reader).await;
    let body = serde_json::json!({
        "email": "jane@a.example",
        "kind": "EndUser",
        "externalId": "crm\u{0}42",
    })
    .to_string();
    let before = app.org_snapshot(&admin).await;

    let denied =
        app.call(Method::POST, "/auth/users", Some(&reader.token), None, body.clone()).await;
    let unsigned = app.call(Method::POST, "/auth/users", Some(&admin.token), None, body).await;

    let operation = "Auth:Users:Create";
    assert_eq!(denied, error(StatusCode::FORBIDDEN, &not_authorized(&reader.user.id, operation)));
    let bad = "externalId must not contain control characters";
    assert_eq!(unsigned, error(StatusCode::BAD_REQUEST, bad));
    assert_eq!(app.org_snapshot(&admin).await, before);
}
