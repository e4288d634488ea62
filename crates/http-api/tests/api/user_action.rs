//! User actions: one token, one request, once, within five minutes.

use axum::http::{Method, StatusCode};
use domain::{Duration, USER_ACTION_LIFETIME};

use crate::harness::{Reply, Session, TestApp, TestUser, UserKey, error};

const MISSING_OR_INVALID: &str = "user action signature is missing or invalid";

/// What a refused request must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// The target, as its org's admin reads it.
    target: Reply,
    /// How many audit events the target's org has.
    audit_events: usize,
}

async fn snapshot(app: &TestApp, admin: &Session, target: &TestUser) -> Snapshot {
    Snapshot {
        target: app.get_user(admin, &target.id).await,
        audit_events: app.audit_event_count(target).await,
    }
}

/// An admin of org A, logged in, and a user of org A to act on.
async fn admin_and_target(app: &TestApp) -> (Session, TestUser) {
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    (admin, target)
}

fn user_path(user: &TestUser) -> String {
    format!("/auth/users/{}", user.id)
}

#[tokio::test]
async fn a_user_action_spent_once_is_refused_the_second_time() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let path = format!("/auth/users/{}/deactivate", target.id);
    let user_action = app.user_action(&admin, Method::PUT, &path, "").await;
    let (status, _) =
        app.call(Method::PUT, &path, Some(&admin.token), Some(&user_action), "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.activate(&admin, &target.id).await;
    assert_eq!(status, StatusCode::OK);
    let before = snapshot(&app, &admin, &target).await;

    let reply = app.call(Method::PUT, &path, Some(&admin.token), Some(&user_action), "").await;

    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "user action has already been used"));
    assert_eq!(snapshot(&app, &admin, &target).await, before);
    assert_eq!(before.target.1["isActive"], true);
}

#[tokio::test]
async fn a_user_action_signed_for_one_user_does_not_archive_another() {
    let app = TestApp::new().await;
    let (admin, signed_for) = admin_and_target(&app).await;
    let other = app.create_user(&admin, "john@a.example").await;
    let user_action = app.user_action(&admin, Method::DELETE, &user_path(&signed_for), "{}").await;
    let before = snapshot(&app, &admin, &other).await;

    let path = user_path(&other);
    let reply = app.call(Method::DELETE, &path, Some(&admin.token), Some(&user_action), "{}").await;

    assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    assert_eq!(snapshot(&app, &admin, &other).await, before);
    let path = user_path(&signed_for);
    let (status, _) =
        app.call(Method::DELETE, &path, Some(&admin.token), Some(&user_action), "{}").await;
    assert_eq!(status, StatusCode::OK, "the misbound attempt left the token unspent");
}

#[tokio::test]
async fn a_user_action_signed_for_an_archive_does_not_deactivate() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let user_action = app.user_action(&admin, Method::DELETE, &user_path(&target), "{}").await;
    let before = snapshot(&app, &admin, &target).await;

    let path = format!("/auth/users/{}/deactivate", target.id);
    let reply = app.call(Method::PUT, &path, Some(&admin.token), Some(&user_action), "{}").await;

    assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    assert_eq!(snapshot(&app, &admin, &target).await, before);
    let path = user_path(&target);
    let (status, _) =
        app.call(Method::DELETE, &path, Some(&admin.token), Some(&user_action), "{}").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_user_action_signed_for_one_body_does_not_authorise_another() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let path = user_path(&target);
    let user_action = app.user_action(&admin, Method::DELETE, &path, "{}").await;
    let before = snapshot(&app, &admin, &target).await;

    let reply =
        app.call(Method::DELETE, &path, Some(&admin.token), Some(&user_action), r#"{"a":1}"#).await;

    assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    assert_eq!(snapshot(&app, &admin, &target).await, before);
    let (status, _) =
        app.call(Method::DELETE, &path, Some(&admin.token), Some(&user_action), "{}").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_user_action_of_another_admin_does_not_authorise_the_caller() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let other_admin = app.create_admin(&admin, "second.admin@a.example").await;
    let other_session = app.login(&other_admin).await;
    let path = user_path(&target);
    let user_action = app.user_action(&other_session, Method::DELETE, &path, "{}").await;
    let before = snapshot(&app, &admin, &target).await;

    let reply = app.call(Method::DELETE, &path, Some(&admin.token), Some(&user_action), "{}").await;

    assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    assert_eq!(snapshot(&app, &admin, &target).await, before);
    let token = Some(other_session.token.as_str());
    let (status, _) = app.call(Method::DELETE, &path, token, Some(&user_action), "{}").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_state_change_without_a_user_action_is_refused() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let before = snapshot(&app, &admin, &target).await;

    let path = user_path(&target);
    let archive = app.call(Method::DELETE, &path, Some(&admin.token), None, "{}").await;
    let path = format!("/auth/users/{}/deactivate", target.id);
    let deactivate = app.call(Method::PUT, &path, Some(&admin.token), None, "").await;

    assert_eq!(archive, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    assert_eq!(deactivate, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    assert_eq!(snapshot(&app, &admin, &target).await, before);
}

#[tokio::test]
async fn a_user_action_expires_five_minutes_after_it_was_issued() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let deactivate_path = format!("/auth/users/{}/deactivate", target.id);
    let activate_path = format!("/auth/users/{}/activate", target.id);
    let deactivate = app.user_action(&admin, Method::PUT, &deactivate_path, "").await;
    let activate = app.user_action(&admin, Method::PUT, &activate_path, "").await;
    let token = Some(admin.token.as_str());
    app.advance(Duration::from_millis(USER_ACTION_LIFETIME.millis() - 1));
    let (status, _) = app.call(Method::PUT, &deactivate_path, token, Some(&deactivate), "").await;
    assert_eq!(status, StatusCode::OK, "still fresh a millisecond before its end");
    let before = snapshot(&app, &admin, &target).await;

    app.advance(Duration::from_millis(1));
    let reply = app.call(Method::PUT, &activate_path, token, Some(&activate), "").await;

    assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    assert_eq!(snapshot(&app, &admin, &target).await, before);
    assert_eq!(before.target.1["isActive"], false);
}

#[tokio::test]
async fn a_query_string_is_not_part_of_the_signed_path() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let path = user_path(&target);
    let user_action = app.user_action(&admin, Method::DELETE, &path, "{}").await;

    let with_query = format!("{path}?reason=left");
    let token = Some(admin.token.as_str());
    let (status, archived) =
        app.call(Method::DELETE, &with_query, token, Some(&user_action), "{}").await;

    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["isActive"], false);
}

#[tokio::test]
async fn a_user_action_challenge_cannot_be_answered_by_another_caller() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let other_admin = app.create_admin(&admin, "second.admin@a.example").await;
    let other_session = app.login(&other_admin).await;
    let path = user_path(&target);
    let challenge = app.action_challenge(&other_session, Method::DELETE, &path, "{}").await;

    let first_factor = admin.user.key.answer(&challenge);
    let reply = app.complete_action(&admin, &challenge, first_factor).await;

    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "challenge is not valid"));
}

#[tokio::test]
async fn a_user_action_challenge_signed_by_another_key_earns_no_token() {
    let app = TestApp::new().await;
    let (admin, target) = admin_and_target(&app).await;
    let challenge = app.action_challenge(&admin, Method::DELETE, &user_path(&target), "{}").await;

    let first_factor = UserKey::generate().answer(&challenge);
    let reply = app.complete_action(&admin, &challenge, first_factor).await;

    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "invalid signature"));
}
