//! Deactivating and activating a user.

use axum::http::{Method, StatusCode};

use crate::harness::{TestApp, error};

const AUTH_REFUSED: &str = "authentication token is missing or invalid";

#[tokio::test]
async fn a_deactivated_user_can_neither_act_nor_log_in_until_it_is_activated() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    let session = app.login(&target).await;
    let path = format!("/auth/users/{}", app.admin_a.id);
    let (status, deactivated) = app.deactivate(&admin, &target.id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deactivated["isActive"], false);

    let while_inactive = app.call(Method::GET, &path, Some(&session.token), None, "").await;
    let login_while_inactive = app.login_init(&target).await;
    let (status, activated) = app.activate(&admin, &target.id).await;
    let after = app.action_challenge(&session, Method::DELETE, &path, "{}").await;

    assert_eq!(while_inactive, error(StatusCode::UNAUTHORIZED, AUTH_REFUSED));
    assert_eq!(login_while_inactive, error(StatusCode::UNAUTHORIZED, "user not found"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(activated["isActive"], true);
    assert!(after["challenge"].is_string(), "the token works again");
    app.login(&target).await;
}

#[tokio::test]
async fn asking_for_the_state_a_user_is_in_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    let (status, _) = app.deactivate(&admin, &target.id).await;
    assert_eq!(status, StatusCode::OK);
    let events = app.audit_event_count(&target).await;

    let (deactivate_status, deactivated) = app.deactivate(&admin, &target.id).await;
    let inactive_events = app.audit_event_count(&target).await;
    let (status, _) = app.activate(&admin, &target.id).await;
    assert_eq!(status, StatusCode::OK);
    let (activate_status, activated) = app.activate(&admin, &target.id).await;

    assert_eq!(deactivate_status, StatusCode::OK);
    assert_eq!(deactivated["isActive"], false);
    assert_eq!(inactive_events, events);
    assert_eq!(activate_status, StatusCode::OK);
    assert_eq!(activated["isActive"], true);
    assert_eq!(app.audit_event_count(&target).await, events + 1);
}

#[tokio::test]
async fn a_user_cannot_deactivate_itself() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;

    let reply = app.deactivate(&admin, &app.admin_a.id).await;

    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "a user cannot deactivate itself"));
    let (status, user) = app.get_user(&admin, &app.admin_a.id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["isActive"], true);
}
