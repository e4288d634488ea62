//! Archiving a user: terminal, and the end of everything the user held.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestApp, error};

const AUTH_REFUSED: &str = "authentication token is missing or invalid";

#[tokio::test]
async fn an_archive_signed_as_the_typescript_sdk_signs_it_succeeds() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_admin(&admin, "second.admin@a.example").await;
    let path = format!("/auth/users/{}", target.id);
    let (_, before) = app.get_user(&admin, &target.id).await;
    assert_eq!(before["permissionAssignments"].as_array().unwrap().len(), 1);

    let user_action = app.user_action(&admin, Method::DELETE, &path, "{}").await;
    let (status, archived) =
        app.call(Method::DELETE, &path, Some(&admin.token), Some(&user_action), "{}").await;

    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["userId"], target.id.as_str());
    assert_eq!(archived["isActive"], false);
    assert_eq!(archived["permissionAssignments"], json!([]));
    let stored = app.stored_user(&target.id).await;
    assert!(stored.is_archived());
    assert!(stored.assignments.is_empty());
}

#[tokio::test]
async fn an_archive_signed_as_the_python_and_go_sdks_sign_it_succeeds() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    let path = format!("/auth/users/{}", target.id);

    let user_action = app.user_action(&admin, Method::DELETE, &path, "").await;
    let (status, archived) =
        app.call(Method::DELETE, &path, Some(&admin.token), Some(&user_action), "").await;

    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["isActive"], false);
    assert_eq!(archived["permissionAssignments"], json!([]));
    assert!(app.stored_user(&target.id).await.is_archived());
}

#[tokio::test]
async fn an_archived_user_is_gone_from_reads_lists_and_archives() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    assert!(app.listed_ids(&admin).await.contains(&target.id));
    let (status, _) = app.archive(&admin, &target.id).await;
    assert_eq!(status, StatusCode::OK);

    let read = app.get_user(&admin, &target.id).await;
    let listed = app.listed_ids(&admin).await;
    let archived_again = app.archive(&admin, &target.id).await;

    assert_eq!(read, error(StatusCode::NOT_FOUND, "user not found"));
    assert_eq!(listed, vec![app.admin_a.id.clone()]);
    assert_eq!(archived_again, error(StatusCode::NOT_FOUND, "user not found"));
}

#[tokio::test]
async fn a_new_user_may_take_an_archived_users_email_and_gets_a_new_id() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let archived = app.create_user(&admin, "jane@a.example").await;
    let (status, _) = app.archive(&admin, &archived.id).await;
    assert_eq!(status, StatusCode::OK);

    let successor = app.create_user(&admin, "Jane@A.example").await;

    assert_ne!(successor.id, archived.id);
    app.login(&successor).await;
    let listed = app.listed_ids(&admin).await;
    assert!(listed.contains(&successor.id) && !listed.contains(&archived.id));
}

#[tokio::test]
async fn an_archived_users_login_token_is_refused_on_its_next_request() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    let target_session = app.login(&target).await;
    // Any authenticated user may ask for a user-action challenge.
    let path = format!("/auth/users/{}", app.admin_a.id);
    let (status, _) = app.action_init(&target_session, Method::DELETE, &path, "{}").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.archive(&admin, &target.id).await;
    assert_eq!(status, StatusCode::OK);

    let reply = app.action_init(&target_session, Method::DELETE, &path, "{}").await;

    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, AUTH_REFUSED));
}

#[tokio::test]
async fn an_archived_users_key_can_no_longer_start_a_login() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    let (status, _) = app.archive(&admin, &target.id).await;
    assert_eq!(status, StatusCode::OK);

    let reply = app.login_init(&target).await;

    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "user not found"));
}

#[tokio::test]
async fn a_login_challenge_opened_before_the_archive_cannot_be_completed() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    let challenge = app.login_challenge(&target).await;
    let (status, _) = app.archive(&admin, &target.id).await;
    assert_eq!(status, StatusCode::OK);

    let reply = app.complete_login(&challenge, target.key.answer(&challenge)).await;

    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "user not found"));
}

#[tokio::test]
async fn a_user_action_earned_before_the_archive_cannot_be_spent() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let archived = app.create_admin(&admin, "second.admin@a.example").await;
    let archived_session = app.login(&archived).await;
    let victim = app.create_user(&admin, "jane@a.example").await;
    let path = format!("/auth/users/{}", victim.id);
    let user_action = app.user_action(&archived_session, Method::DELETE, &path, "{}").await;
    let (status, _) = app.archive(&admin, &archived.id).await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = app.get_user(&admin, &victim.id).await;

    let reply = app
        .call(Method::DELETE, &path, Some(&archived_session.token), Some(&user_action), "{}")
        .await;

    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, AUTH_REFUSED));
    assert_eq!(app.get_user(&admin, &victim.id).await, (StatusCode::OK, before));
}

#[tokio::test]
async fn a_user_cannot_archive_itself() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;

    let reply = app.archive(&admin, &app.admin_a.id).await;

    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "a user cannot archive itself"));
    let (status, user) = app.get_user(&admin, &app.admin_a.id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["isActive"], true);
}

#[tokio::test]
async fn a_user_without_the_delete_permission_cannot_archive() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let caller = app.create_user(&admin, "jane@a.example").await;
    let caller_session = app.login(&caller).await;
    let target = app.create_user(&admin, "john@a.example").await;
    let (_, before) = app.get_user(&admin, &target.id).await;

    let reply = app.archive(&caller_session, &target.id).await;

    let message = format!(
        "CustomerEmployee {} is not authorized to perform operation (Auth:Users:Delete)",
        caller.id
    );
    assert_eq!(reply, error(StatusCode::FORBIDDEN, &message));
    assert_eq!(app.get_user(&admin, &target.id).await, (StatusCode::OK, before));
}
