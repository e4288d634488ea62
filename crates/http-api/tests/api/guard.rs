//! The guard: an org always keeps an active user who holds
//! `Permissions:Assign`. A revoke, a permission update or archive, a
//! deactivation or an archive that would leave none is refused, and
//! changes nothing; the same change goes through once someone else active
//! can assign.

use axum::http::{Method, StatusCode};

use serde_json::json;

use crate::harness::{Reply, Session, TestApp, error};

const LAST_ASSIGNER: &str = "the org would lose its last user who can assign permissions";

/// A permission that lets its holders assign, manage permissions including
/// itself, create the users a test needs, and read what a snapshot reads.
const KEEPER: &[&str] = &[
    "Auth:Users:Create",
    "Auth:Users:Read",
    "Permissions:Read",
    "Permissions:Update",
    "Permissions:Archive",
    "Permissions:Assign",
    "Permissions:Revoke",
    "Permissions:Assignments:Read",
];

/// The rights of someone who manages users but cannot assign.
const USER_MANAGER: &[&str] =
    &["Auth:Users:Read", "Auth:Users:Activate", "Auth:Users:Deactivate", "Auth:Users:Delete"];

/// A body of `PUT /permissions/{id}` that keeps KEEPER but for
/// `Permissions:Assign`.
fn keeper_without_assign() -> String {
    let operations: Vec<&str> =
        KEEPER.iter().copied().filter(|o| *o != "Permissions:Assign").collect();
    json!({"operations": operations}).to_string()
}

fn last_assigner() -> Reply {
    error(StatusCode::BAD_REQUEST, LAST_ASSIGNER)
}

/// Revokes the `OrgAdmin` that the first admin of org A holds.
async fn revoke_first_admins_org_admin(app: &TestApp, by: &Session) -> Reply {
    let org_admin = app.org_admin_id(&app.admin_a).await;
    let assignment = app.assignment_id(&org_admin, &app.admin_a.id).await;
    app.revoke(by, &org_admin, &assignment).await
}

/// Org A with its first admin, logged in, holding only `Keepers` (which
/// grants KEEPER): the one permission that lets anyone assign. Answers the
/// admin and the id of `Keepers`.
async fn keeper_alone(app: &TestApp) -> (Session, String) {
    let admin = app.login(&app.admin_a).await;
    let keepers = app.new_permission(&admin, "Keepers", KEEPER).await;
    app.grant(&admin, &keepers, &admin.user.id).await;
    let (status, body) = revoke_first_admins_org_admin(app, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (admin, keepers)
}

/// Org A where B, holding `OrgAdmin`, is the last user who can assign (B
/// revoked the first admin's `OrgAdmin`), and C manages users but cannot
/// assign. Answers B and C, logged in.
async fn last_assigner_and_user_manager(app: &TestApp) -> (Session, Session) {
    let admin = app.login(&app.admin_a).await;
    let b = app.create_admin(&admin, "b@a.example").await;
    let c = app.create_user_holding(&admin, "c@a.example", USER_MANAGER).await;
    let (b, c) = (app.login(&b).await, app.login(&c).await);
    let (status, body) = revoke_first_admins_org_admin(app, &b).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (b, c)
}

/// Gives the first admin of org A `OrgAdmin` again.
async fn restore_first_admin(app: &TestApp, by: &Session) {
    let org_admin = app.org_admin_id(&app.admin_a).await;
    app.grant(by, &org_admin, &app.admin_a.id).await;
}

#[tokio::test]
async fn revoking_the_last_assigners_own_org_admin_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let before = app.org_snapshot(&admin).await;

    let reply = revoke_first_admins_org_admin(&app, &admin).await;

    assert_eq!(reply, last_assigner());
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn revoking_the_last_assigners_right_is_refused_whoever_revokes() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let revoker = app.create_user_holding(&admin, "r@a.example", &["Permissions:Revoke"]).await;
    let revoker = app.login(&revoker).await;
    let before = app.org_snapshot(&admin).await;

    let reply = revoke_first_admins_org_admin(&app, &revoker).await;

    assert_eq!(reply, last_assigner());
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn a_revoke_is_allowed_once_another_active_user_can_assign() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let b = app.create_admin(&admin, "b@a.example").await;
    let b = app.login(&b).await;

    let (status, ended) = revoke_first_admins_org_admin(&app, &admin).await;

    assert_eq!(status, StatusCode::OK, "{ended}");
    let (status, _) = app.get(&admin, "/permissions").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let org_admin = app.org_admin_id(&app.admin_a).await;
    let (status, body) = app.assign(&b, &org_admin, &app.admin_a.id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_revoke_that_leaves_the_holder_another_right_to_assign_is_allowed() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let keepers = app.new_permission(&admin, "Keepers", KEEPER).await;
    let keeper_assignment = app.grant(&admin, &keepers, &admin.user.id).await;

    let (status, ended) = revoke_first_admins_org_admin(&app, &admin).await;
    let before = app.org_snapshot(&admin).await;
    let last = app.revoke(&admin, &keepers, &keeper_assignment).await;

    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(last, last_assigner());
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn updating_away_the_last_assigners_right_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let (admin, keepers) = keeper_alone(&app).await;
    let before = app.org_snapshot(&admin).await;

    let path = format!("/permissions/{keepers}");
    let reply = app.signed(&admin, Method::PUT, &path, &keeper_without_assign()).await;

    assert_eq!(reply, last_assigner());
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn an_update_that_keeps_assign_is_allowed_for_the_last_assigner() {
    let app = TestApp::new().await;
    let (admin, keepers) = keeper_alone(&app).await;

    let path = format!("/permissions/{keepers}");
    let (status, updated) = app.signed(&admin, Method::PUT, &path, r#"{"name":"Guardians"}"#).await;

    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Guardians");
}

#[tokio::test]
async fn updating_away_assign_is_refused_when_every_assigner_holds_it_through_that_permission() {
    let app = TestApp::new().await;
    let (admin, keepers) = keeper_alone(&app).await;
    let b = app.create_user(&admin, "b@a.example").await;
    app.grant(&admin, &keepers, &b.id).await;
    let before = app.org_snapshot(&admin).await;

    let path = format!("/permissions/{keepers}");
    let reply = app.signed(&admin, Method::PUT, &path, &keeper_without_assign()).await;

    assert_eq!(reply, last_assigner());
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn updating_away_assign_is_allowed_once_another_active_user_can_assign_otherwise() {
    let app = TestApp::new().await;
    let (admin, keepers) = keeper_alone(&app).await;
    let b = app.create_user(&admin, "b@a.example").await;
    let org_admin = app.org_admin_id(&app.admin_a).await;
    app.grant(&admin, &org_admin, &b.id).await;

    let path = format!("/permissions/{keepers}");
    let (status, updated) = app.signed(&admin, Method::PUT, &path, &keeper_without_assign()).await;
    let assign = app.assign(&admin, &keepers, &app.admin_a.id).await;

    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(!updated["operations"].as_array().unwrap().contains(&"Permissions:Assign".into()));
    assert_eq!(assign.0, StatusCode::FORBIDDEN, "{}", assign.1);
}

#[tokio::test]
async fn archiving_the_last_assigners_permission_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let (admin, keepers) = keeper_alone(&app).await;
    let before = app.org_snapshot(&admin).await;

    let path = format!("/permissions/{keepers}/archive");
    let reply = app.signed(&admin, Method::PUT, &path, "{}").await;

    assert_eq!(reply, last_assigner());
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn archiving_a_permission_that_grants_assign_is_allowed_once_another_user_can_assign() {
    let app = TestApp::new().await;
    let (admin, keepers) = keeper_alone(&app).await;
    let b = app.create_user(&admin, "b@a.example").await;
    let org_admin = app.org_admin_id(&app.admin_a).await;
    app.grant(&admin, &org_admin, &b.id).await;

    let path = format!("/permissions/{keepers}/archive");
    let (status, archived) = app.signed(&admin, Method::PUT, &path, "{}").await;
    let (after_status, _) = app.get(&admin, "/permissions").await;

    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["isArchived"], true);
    assert_eq!(after_status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn deactivating_the_last_assigner_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let (b, c) = last_assigner_and_user_manager(&app).await;
    let before = app.org_snapshot(&b).await;

    let reply = app.deactivate(&c, &b.user.id).await;

    assert_eq!(reply, last_assigner());
    assert_eq!(app.org_snapshot(&b).await, before);
}

#[tokio::test]
async fn deactivating_an_assigner_is_allowed_once_another_active_user_can_assign() {
    let app = TestApp::new().await;
    let (b, c) = last_assigner_and_user_manager(&app).await;
    restore_first_admin(&app, &b).await;

    let (status, deactivated) = app.deactivate(&c, &b.user.id).await;

    assert_eq!(status, StatusCode::OK, "{deactivated}");
    assert_eq!(deactivated["isActive"], false);
}

#[tokio::test]
async fn archiving_the_last_assigner_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let (b, c) = last_assigner_and_user_manager(&app).await;
    let before = app.org_snapshot(&b).await;

    let reply = app.archive(&c, &b.user.id).await;

    assert_eq!(reply, last_assigner());
    assert_eq!(app.org_snapshot(&b).await, before);
}

#[tokio::test]
async fn archiving_an_assigner_is_allowed_once_another_active_user_can_assign() {
    let app = TestApp::new().await;
    let (b, c) = last_assigner_and_user_manager(&app).await;
    restore_first_admin(&app, &b).await;

    let (status, archived) = app.archive(&c, &b.user.id).await;

    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["permissionAssignments"], json!([]));
}

#[tokio::test]
async fn an_inactive_holder_of_assign_does_not_count_as_an_assigner() {
    let app = TestApp::new().await;
    let (b, c) = last_assigner_and_user_manager(&app).await;
    restore_first_admin(&app, &b).await;
    let (status, body) = app.deactivate(&c, &app.admin_a.id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = app.org_snapshot(&b).await;

    let deactivate = app.deactivate(&c, &b.user.id).await;
    let archive = app.archive(&c, &b.user.id).await;
    let org_admin = app.org_admin_id(&app.admin_a).await;
    let own = app.assignment_id(&org_admin, &b.user.id).await;
    let revoke = app.revoke(&b, &org_admin, &own).await;

    for reply in [deactivate, archive, revoke] {
        assert_eq!(reply, last_assigner());
    }
    assert_eq!(app.org_snapshot(&b).await, before);
    let (status, body) = app.activate(&c, &app.admin_a.id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.deactivate(&c, &b.user.id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_inactive_holder_does_not_let_a_permission_stop_granting_assign() {
    let app = TestApp::new().await;
    let (admin, keepers) = keeper_alone(&app).await;
    let b = app.create_user(&admin, "b@a.example").await;
    let org_admin = app.org_admin_id(&app.admin_a).await;
    app.grant(&admin, &org_admin, &b.id).await;
    let b = app.login(&b).await;
    let c = app.create_user(&b, "c@a.example").await;
    let users = app.new_permission(&b, "User managers", USER_MANAGER).await;
    app.grant(&b, &users, &c.id).await;
    let c = app.login(&c).await;
    let (status, body) = app.deactivate(&c, &b.user.id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = app.org_snapshot(&admin).await;
    let path = format!("/permissions/{keepers}");

    let update = app.signed(&admin, Method::PUT, &path, &keeper_without_assign()).await;
    let archive = app.signed(&admin, Method::PUT, &format!("{path}/archive"), "").await;

    assert_eq!(update, last_assigner());
    assert_eq!(archive, last_assigner());
    assert_eq!(app.org_snapshot(&admin).await, before);
    let (status, body) = app.activate(&c, &b.user.id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.signed(&admin, Method::PUT, &path, &keeper_without_assign()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
