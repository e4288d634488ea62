//! The `/permissions` endpoints: permissions (roles), their assignments,
//! who may touch them, and how a change shows on the very next request.

use axum::http::{Method, StatusCode};
use domain::{Duration, Operation, PermissionId};
use serde_json::{Value, json};

use crate::harness::{
    Reply, Session, TestApp, TestUser, error, unknown_assignment_id, unknown_permission_id,
    unknown_user_id,
};

const AUTH_REFUSED: &str = "authentication token is missing or invalid";
const MISSING_OR_INVALID: &str = "user action signature is missing or invalid";
const ALREADY_USED: &str = "user action has already been used";

/// When every test's clock starts, as the API writes it.
const START: &str = "2023-11-14T22:13:20Z";

fn not_authorized(user_id: &str, operation: &str) -> String {
    format!("CustomerEmployee {user_id} is not authorized to perform operation ({operation})")
}

fn every_operation() -> Vec<&'static str> {
    Operation::ALL.iter().map(|operation| operation.as_str()).collect()
}

/// Org A as most tests need it: its admin, logged in; `Readers`, a
/// permission that grants `Auth:Users:Read`, held by jane; john, who holds
/// nothing; and `Spare`, a permission nobody holds.
struct Fixture {
    admin: Session,
    readers: String,
    spare: String,
    jane: TestUser,
    jane_assignment: String,
    john: TestUser,
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.login(&app.admin_a).await;
    let readers = app.new_permission(&admin, "Readers", &["Auth:Users:Read"]).await;
    let spare = app.new_permission(&admin, "Spare", &["Permissions:Read"]).await;
    let jane = app.create_user(&admin, "jane@a.example").await;
    let jane_assignment = app.grant(&admin, &readers, &jane.id).await;
    let john = app.create_user(&admin, "john@a.example").await;
    Fixture { admin, readers, spare, jane, jane_assignment, john }
}

/// A state-changing request of `/permissions`, and a path and a body that
/// differ from its own, to sign instead.
struct Change {
    method: Method,
    path: String,
    body: String,
    other_path: String,
    other_body: String,
}

/// Every state-changing request of `/permissions`, each of which succeeds
/// once on a fresh fixture.
fn changes(f: &Fixture) -> Vec<Change> {
    let change = |method, path: String, body: Value, other_path: String, other_body: Value| {
        let text = |v: Value| if v.is_null() { String::new() } else { v.to_string() };
        Change { method, path, body: text(body), other_path, other_body: text(other_body) }
    };
    let readers = format!("/permissions/{}", f.readers);
    let spare = format!("/permissions/{}", f.spare);
    vec![
        change(
            Method::POST,
            "/permissions".to_owned(),
            json!({"name": "Auditors", "operations": ["Permissions:Read"]}),
            "/auth/users".to_owned(),
            json!({"name": "Auditors", "operations": ["Permissions:Create"]}),
        ),
        change(
            Method::PUT,
            readers.clone(),
            json!({"name": "Renamed"}),
            spare.clone(),
            json!({"name": "Other"}),
        ),
        change(
            Method::PUT,
            format!("{readers}/archive"),
            json!({}),
            format!("{spare}/archive"),
            json!({"isArchived": true}),
        ),
        change(
            Method::POST,
            format!("{readers}/assignments"),
            json!({"identityId": f.john.id}),
            format!("{spare}/assignments"),
            json!({"identityId": f.admin.user.id}),
        ),
        change(
            Method::DELETE,
            format!("{readers}/assignments/{}", f.jane_assignment),
            json!({}),
            format!("{spare}/assignments/{}", f.jane_assignment),
            Value::Null,
        ),
    ]
}

fn is_id(prefix: &str, id: &Value) -> bool {
    let id = id.as_str().unwrap_or_default();
    let groups: Vec<&str> = id.split('-').collect();
    let base36 = |g: &str| g.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    groups.len() == 4
        && groups[0] == prefix
        && [groups[1].len(), groups[2].len(), groups[3].len()] == [5, 5, 16]
        && groups[1..].iter().all(|g| base36(g))
}

#[tokio::test]
async fn a_new_permission_is_answered_with_the_contracts_shape() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;

    let (status, permission) =
        app.create_permission(&admin, "Readers", &["Auth:Users:Read", "Permissions:Read"]).await;

    assert_eq!(status, StatusCode::OK, "{permission}");
    assert!(is_id("pm", &permission["id"]), "{permission}");
    let expected = json!({
        "id": permission["id"],
        "name": "Readers",
        "operations": ["Auth:Users:Read", "Permissions:Read"],
        "status": "Active",
        "isImmutable": false,
        "isArchived": false,
        "dateCreated": START,
        "dateUpdated": START,
    });
    assert_eq!(permission, expected);
}

#[tokio::test]
async fn a_permission_reads_back_as_it_was_created() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let (_, created) = app.create_permission(&admin, "Readers", &["Auth:Users:Read"]).await;
    let id = created["id"].as_str().unwrap();

    let read = app.get(&admin, &format!("/permissions/{id}")).await;

    assert_eq!(read, (StatusCode::OK, created));
}

#[tokio::test]
async fn the_org_admin_is_listed_immutable_with_every_operation() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let readers = app.new_permission(&admin, "Readers", &["Auth:Users:Read"]).await;

    let (status, page) = app.get(&admin, "/permissions").await;

    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.get("nextPageToken").is_none(), "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    let org_admin = items.iter().find(|p| p["name"] == "OrgAdmin").unwrap();
    assert_eq!(org_admin["id"], app.org_admin_id(&app.admin_a).await.as_str());
    assert_eq!(org_admin["isImmutable"], true);
    assert_eq!(org_admin["isArchived"], false);
    assert_eq!(org_admin["status"], "Active");
    let mut operations: Vec<&str> =
        org_admin["operations"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
    operations.sort_unstable();
    let mut every = every_operation();
    every.sort_unstable();
    assert_eq!(operations, every);
    assert!(items.iter().any(|p| p["id"] == readers.as_str()));
}

#[tokio::test]
async fn an_update_replaces_only_what_it_is_given() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let id = app.new_permission(&admin, "Readers", &["Auth:Users:Read"]).await;
    let path = format!("/permissions/{id}");
    app.advance(Duration::from_seconds(90));

    let renamed = app.signed(&admin, Method::PUT, &path, r#"{"name":"Auditors"}"#).await;
    app.advance(Duration::from_millis(1_500));
    let operations = r#"{"operations":["Permissions:Read","Permissions:Read"]}"#;
    let regranted = app.signed(&admin, Method::PUT, &path, operations).await;

    assert_eq!(renamed.0, StatusCode::OK, "{}", renamed.1);
    assert_eq!(renamed.1["name"], "Auditors");
    assert_eq!(renamed.1["operations"], json!(["Auth:Users:Read"]));
    assert_eq!(renamed.1["dateCreated"], START);
    assert_eq!(renamed.1["dateUpdated"], "2023-11-14T22:14:50Z");
    assert_eq!(regranted.0, StatusCode::OK, "{}", regranted.1);
    assert_eq!(regranted.1["name"], "Auditors");
    assert_eq!(regranted.1["operations"], json!(["Permissions:Read"]));
    assert_eq!(regranted.1["dateUpdated"], "2023-11-14T22:14:51.5Z");
    assert_eq!(app.get(&admin, &path).await, regranted);
}

#[tokio::test]
async fn an_archived_permission_is_answered_archived_and_stays_readable() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let id = app.new_permission(&admin, "Readers", &["Auth:Users:Read"]).await;
    let path = format!("/permissions/{id}");
    app.advance(Duration::from_seconds(1));

    let (status, archived) = app.signed(&admin, Method::PUT, &format!("{path}/archive"), "").await;

    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["id"], id.as_str());
    assert_eq!(archived["isArchived"], true);
    assert_eq!(archived["status"], "Active");
    assert_eq!(archived["dateCreated"], START);
    assert_eq!(archived["dateUpdated"], "2023-11-14T22:13:21Z");
    assert_eq!(app.get(&admin, &path).await, (StatusCode::OK, archived));
}

#[tokio::test]
async fn an_assignment_is_answered_with_the_contracts_shape_and_shows_on_the_user() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let readers = app.new_permission(&admin, "Readers", &["Auth:Users:Read"]).await;
    let jane = app.create_user(&admin, "jane@a.example").await;

    let (status, assignment) = app.assign(&admin, &readers, &jane.id).await;

    assert_eq!(status, StatusCode::OK, "{assignment}");
    assert!(is_id("as", &assignment["id"]), "{assignment}");
    let expected = json!({
        "id": assignment["id"],
        "permissionId": readers,
        "identityId": jane.id,
        "isImmutable": false,
        "dateCreated": START,
        "dateUpdated": START,
    });
    assert_eq!(assignment, expected);
    let (_, user) = app.get_user(&admin, &jane.id).await;
    let held = json!([{
        "permissionName": "Readers",
        "permissionId": readers,
        "assignmentId": assignment["id"],
        "operations": ["Auth:Users:Read"],
    }]);
    assert_eq!(user["permissionAssignments"], held);
}

#[tokio::test]
async fn a_revoke_answers_the_ended_assignment_and_takes_it_from_the_user() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let path = format!("/permissions/{}/assignments/{}", f.readers, f.jane_assignment);
    app.advance(Duration::from_seconds(60));

    // The Python and Go SDKs send a DELETE without a body.
    let (status, ended) = app.signed(&f.admin, Method::DELETE, &path, "").await;

    assert_eq!(status, StatusCode::OK, "{ended}");
    let expected = json!({
        "id": f.jane_assignment,
        "permissionId": f.readers,
        "identityId": f.jane.id,
        "isImmutable": false,
        "dateCreated": START,
        "dateUpdated": "2023-11-14T22:14:20Z",
    });
    assert_eq!(ended, expected);
    let (_, user) = app.get_user(&f.admin, &f.jane.id).await;
    assert_eq!(user["permissionAssignments"], json!([]));
    let listed = app.get(&f.admin, &format!("/permissions/{}/assignments", f.readers)).await;
    assert_eq!(listed, (StatusCode::OK, json!({"items": []})));
}

#[tokio::test]
async fn the_assignments_of_a_permission_list_its_current_holders() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let john_assignment = app.grant(&f.admin, &f.readers, &f.john.id).await;

    let (status, page) =
        app.get(&f.admin, &format!("/permissions/{}/assignments", f.readers)).await;

    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.get("nextPageToken").is_none(), "{page}");
    let items = page["items"].as_array().unwrap();
    let held: Vec<Value> =
        items.iter().map(|a| json!([a["id"], a["permissionId"], a["identityId"]])).collect();
    let expected = vec![
        json!([f.jane_assignment, f.readers, f.jane.id]),
        json!([john_assignment, f.readers, f.john.id]),
    ];
    assert_eq!(held, expected);
    assert!(items.iter().all(|a| a["isImmutable"] == false && a["dateCreated"] == START));
}

#[tokio::test]
async fn every_permissions_endpoint_refuses_a_request_without_a_token() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let readers = format!("/permissions/{}", f.readers);
    let reads = ["/permissions".to_owned(), readers.clone(), format!("{readers}/assignments")];

    let mut replies: Vec<Reply> = Vec::new();
    for path in &reads {
        replies.push(app.call(Method::GET, path, None, None, "").await);
    }
    for change in changes(&f) {
        replies.push(app.call(change.method, &change.path, None, Some("x"), change.body).await);
    }

    assert_eq!(replies.len(), 8);
    for reply in replies {
        assert_eq!(reply, error(StatusCode::UNAUTHORIZED, AUTH_REFUSED));
    }
}

#[tokio::test]
async fn every_permissions_endpoint_refuses_a_caller_lacking_its_operation() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let [create, update, archive, assign, revoke] = changes(&f).try_into().ok().unwrap();
    let read = |path: String| Change {
        method: Method::GET,
        path,
        body: String::new(),
        other_path: String::new(),
        other_body: String::new(),
    };
    let readers = format!("/permissions/{}", f.readers);
    let endpoints = [
        ("Permissions:Create", create),
        ("Permissions:Read", read("/permissions".to_owned())),
        ("Permissions:Read", read(readers.clone())),
        ("Permissions:Update", update),
        ("Permissions:Archive", archive),
        ("Permissions:Assign", assign),
        ("Permissions:Revoke", revoke),
        ("Permissions:Assignments:Read", read(format!("{readers}/assignments"))),
    ];
    let before = app.org_snapshot(&f.admin).await;

    for (i, (operation, endpoint)) in endpoints.into_iter().enumerate() {
        let others: Vec<&str> = every_operation().into_iter().filter(|o| *o != operation).collect();
        let caller = app.create_user_holding(&f.admin, &format!("u{i}@a.example"), &others).await;
        let session = app.login(&caller).await;
        let token = Some(session.token.as_str());
        let expected = error(StatusCode::FORBIDDEN, &not_authorized(&caller.id, operation));

        let plain = app.call(endpoint.method.clone(), &endpoint.path, token, None, endpoint.body);
        let plain = plain.await;
        let malformed = app.call(endpoint.method.clone(), &endpoint.path, token, None, "{not json");
        let malformed = malformed.await;

        assert_eq!(plain, expected, "{} {}", endpoint.method, endpoint.path);
        let path = &endpoint.path;
        if endpoint.method != Method::GET {
            assert_eq!(malformed, expected, "{} {path} with a malformed body", endpoint.method);
        }
    }
    // Only the callers' own permissions were added.
    let after = app.org_snapshot(&f.admin).await;
    let items = |s: &Value| s["permissions"]["items"].as_array().unwrap().clone();
    let (before_items, after_items) = (items(&before), items(&after));
    let added: Vec<&Value> = after_items.iter().filter(|p| !before_items.contains(p)).collect();
    assert_eq!(added.len(), 8);
    assert!(added.iter().all(|p| p["name"].as_str().unwrap().ends_with("@a.example")));
    assert_eq!(after_items.len(), before_items.len() + 8);
    for id in [&f.readers, &f.spare] {
        assert_eq!(after["assignments"][id], before["assignments"][id]);
    }
}

#[tokio::test]
async fn an_unknown_permission_and_another_orgs_are_answered_alike() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let admin_b = app.login(&app.admin_b).await;
    let theirs = app.new_permission(&admin_b, "Readers", &["Auth:Users:Read"]).await;
    let their_user = app.create_user(&admin_b, "jane@b.example").await;
    let their_assignment = app.grant(&admin_b, &theirs, &their_user.id).await;
    let unknown = unknown_permission_id();
    let before = (app.org_snapshot(&f.admin).await, app.org_snapshot(&admin_b).await);
    let not_found = error(StatusCode::NOT_FOUND, "permission not found");

    for (id, assignment) in [(&unknown, unknown_assignment_id()), (&theirs, their_assignment)] {
        let path = format!("/permissions/{id}");
        let assign = json!({"identityId": f.jane.id}).to_string();
        let replies = [
            app.get(&f.admin, &path).await,
            app.get(&f.admin, &format!("{path}/assignments")).await,
            app.signed(&f.admin, Method::PUT, &path, r#"{"name":"Mine"}"#).await,
            app.signed(&f.admin, Method::PUT, &format!("{path}/archive"), "{}").await,
            app.signed(&f.admin, Method::POST, &format!("{path}/assignments"), &assign).await,
            app.revoke(&f.admin, id, &assignment).await,
        ];

        for reply in replies {
            assert_eq!(reply, not_found, "{id}");
        }
    }
    let after = (app.org_snapshot(&f.admin).await, app.org_snapshot(&admin_b).await);
    assert_eq!(after, before);
}

#[tokio::test]
async fn an_unknown_ended_or_foreign_assignment_is_answered_assignment_not_found() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let admin_b = app.login(&app.admin_b).await;
    let their_user = app.create_user(&admin_b, "jane@b.example").await;
    let their_org_admin = app.org_admin_id(&app.admin_b).await;
    let their_assignment = app.grant(&admin_b, &their_org_admin, &their_user.id).await;
    let (status, _) = app.revoke(&f.admin, &f.readers, &f.jane_assignment).await;
    assert_eq!(status, StatusCode::OK);
    let spare_holder = app.grant(&f.admin, &f.spare, &f.john.id).await;
    let before = (app.org_snapshot(&f.admin).await, app.org_snapshot(&admin_b).await);
    let not_found = error(StatusCode::NOT_FOUND, "assignment not found");

    let unknown = app.revoke(&f.admin, &f.readers, &unknown_assignment_id()).await;
    let ended = app.revoke(&f.admin, &f.readers, &f.jane_assignment).await;
    let of_another_permission = app.revoke(&f.admin, &f.readers, &spare_holder).await;
    let of_another_org = app.revoke(&f.admin, &f.readers, &their_assignment).await;
    let malformed = app.revoke(&f.admin, &f.readers, "as-x").await;

    for reply in [unknown, ended, of_another_permission, of_another_org, malformed] {
        assert_eq!(reply, not_found);
    }
    let after = (app.org_snapshot(&f.admin).await, app.org_snapshot(&admin_b).await);
    assert_eq!(after.1, before.1);
    assert_eq!(after.0["assignments"], before.0["assignments"]);
}

#[tokio::test]
async fn malformed_permission_ids_are_answered_permission_not_found() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let long = format!("pm-{}", "a".repeat(1021));
    let not_found = error(StatusCode::NOT_FOUND, "permission not found");

    for id in ["pm-x", "..%2Fx", "..", long.as_str(), "%ff%fe%00", "pm-%00", "us-%C3%28"] {
        let path = format!("/permissions/{id}");

        let read = app.get(&admin, &path).await;
        let update = app.signed(&admin, Method::PUT, &path, r#"{"name":"x"}"#).await;
        let archive = app.signed(&admin, Method::PUT, &format!("{path}/archive"), "").await;
        let assignments = app.get(&admin, &format!("{path}/assignments")).await;
        let revoke = app.revoke(&admin, id, &unknown_assignment_id()).await;

        assert_eq!(read, not_found, "GET {id}");
        assert_eq!(update, not_found, "PUT {id}");
        assert_eq!(archive, not_found, "archive {id}");
        assert_eq!(assignments, not_found, "assignments of {id}");
        assert_eq!(revoke, not_found, "revoke on {id}");
    }
}

#[tokio::test]
async fn a_caller_without_the_permission_is_refused_before_an_undecodable_id_is_looked_at() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let session = app.login(&f.john).await;
    let token = Some(session.token.as_str());
    let revoke_path = format!("/permissions/{}/assignments/%ff", f.readers);

    let read = app.get(&session, "/permissions/%ff%fe").await;
    let assignments = app.get(&session, "/permissions/%ff/assignments").await;
    let update = app.call(Method::PUT, "/permissions/%ff", token, None, "{}").await;
    let archive = app.call(Method::PUT, "/permissions/%ff/archive", token, None, "").await;
    let assign = app.call(Method::POST, "/permissions/%ff/assignments", token, None, "{}").await;
    let revoke = app.call(Method::DELETE, &revoke_path, token, None, "").await;

    let refused = |operation| error(StatusCode::FORBIDDEN, &not_authorized(&f.john.id, operation));
    assert_eq!(read, refused("Permissions:Read"));
    assert_eq!(assignments, refused("Permissions:Assignments:Read"));
    assert_eq!(update, refused("Permissions:Update"));
    assert_eq!(archive, refused("Permissions:Archive"));
    assert_eq!(assign, refused("Permissions:Assign"));
    assert_eq!(revoke, refused("Permissions:Revoke"));
}

#[tokio::test]
async fn a_missing_user_action_is_refused_before_an_undecodable_id_is_looked_at() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let token = Some(f.admin.token.as_str());
    let assign = json!({"identityId": f.john.id}).to_string();
    let revoke_path = format!("/permissions/{}/assignments/%ff", f.readers);

    let replies = [
        app.call(Method::PUT, "/permissions/%ff", token, None, r#"{"name":"x"}"#).await,
        app.call(Method::PUT, "/permissions/%ff/archive", token, None, "").await,
        app.call(Method::POST, "/permissions/%ff/assignments", token, None, assign).await,
        app.call(Method::DELETE, &revoke_path, token, None, "").await,
        app.call(Method::DELETE, "/permissions/%ff/assignments/%fe", token, None, "").await,
    ];

    for reply in replies {
        assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID));
    }
}

#[tokio::test]
async fn a_signed_request_for_an_undecodable_id_is_answered_not_found() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let assign = json!({"identityId": f.john.id}).to_string();
    let before = app.org_snapshot(&f.admin).await;

    let update = app.signed(&f.admin, Method::PUT, "/permissions/%ff", r#"{"name":"x"}"#).await;
    let archive = app.signed(&f.admin, Method::PUT, "/permissions/%ff/archive", "").await;
    let assign = app.signed(&f.admin, Method::POST, "/permissions/%ff/assignments", &assign).await;
    let revoke_assignment = app.revoke(&f.admin, &f.readers, "%ff").await;
    let revoke_both = app.revoke(&f.admin, "%ff", "%fe").await;
    let revoke_permission = app.revoke(&f.admin, "%ff", &f.jane_assignment).await;

    // A path that does not decode names no permission, whichever of its
    // ids is at fault.
    let not_found = error(StatusCode::NOT_FOUND, "permission not found");
    for reply in [update, archive, assign, revoke_assignment, revoke_both, revoke_permission] {
        assert_eq!(reply, not_found);
    }
    let after = app.org_snapshot(&f.admin).await;
    assert_eq!(after["permissions"], before["permissions"]);
    assert_eq!(after["assignments"], before["assignments"]);
}

#[tokio::test]
async fn a_permission_change_without_a_user_action_is_refused_and_changes_nothing() {
    for i in 0..5 {
        let app = TestApp::new().await;
        let f = fixture(&app).await;
        let change = changes(&f).swap_remove(i);
        let before = app.org_snapshot(&f.admin).await;
        let token = Some(f.admin.token.as_str());

        let reply = app.call(change.method.clone(), &change.path, token, None, change.body).await;

        let what = format!("{} {}", change.method, change.path);
        assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID), "{what}");
        assert_eq!(app.org_snapshot(&f.admin).await, before, "{what}");
    }
}

#[tokio::test]
async fn a_user_action_signed_for_another_path_does_not_authorise_a_permission_change() {
    for i in 0..5 {
        let app = TestApp::new().await;
        let f = fixture(&app).await;
        let change = changes(&f).swap_remove(i);
        let method = change.method.clone();
        let user_action =
            app.user_action(&f.admin, method.clone(), &change.other_path, &change.body).await;
        let before = app.org_snapshot(&f.admin).await;
        let (token, signed) = (Some(f.admin.token.as_str()), Some(user_action.as_str()));

        let reply = app.call(method.clone(), &change.path, token, signed, change.body).await;

        let what = format!("{method} {}", change.path);
        assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID), "{what}");
        assert_eq!(app.org_snapshot(&f.admin).await, before, "{what}");
    }
}

#[tokio::test]
async fn a_user_action_signed_for_another_body_does_not_authorise_a_permission_change() {
    for i in 0..5 {
        let app = TestApp::new().await;
        let f = fixture(&app).await;
        let change = changes(&f).swap_remove(i);
        let method = change.method.clone();
        let user_action =
            app.user_action(&f.admin, method.clone(), &change.path, &change.other_body).await;
        let before = app.org_snapshot(&f.admin).await;
        let (token, signed) = (Some(f.admin.token.as_str()), Some(user_action.as_str()));

        let reply = app.call(method.clone(), &change.path, token, signed, change.body).await;

        let what = format!("{method} {}", change.path);
        assert_eq!(reply, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID), "{what}");
        assert_eq!(app.org_snapshot(&f.admin).await, before, "{what}");
    }
}

#[tokio::test]
async fn a_user_action_spent_on_a_permission_change_is_refused_the_second_time() {
    for i in 0..5 {
        let app = TestApp::new().await;
        let f = fixture(&app).await;
        let change = changes(&f).swap_remove(i);
        let method = change.method.clone();
        let user_action = app.user_action(&f.admin, method.clone(), &change.path, &change.body);
        let user_action = user_action.await;
        let (token, signed) = (Some(f.admin.token.as_str()), Some(user_action.as_str()));
        let what = format!("{method} {}", change.path);
        let (status, first) =
            app.call(method.clone(), &change.path, token, signed, change.body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{what}: {first}");
        let before = app.org_snapshot(&f.admin).await;

        let replay = app.call(method.clone(), &change.path, token, signed, change.body).await;

        assert_eq!(replay, error(StatusCode::BAD_REQUEST, ALREADY_USED), "{what}");
        assert_eq!(app.org_snapshot(&f.admin).await, before, "{what}");
    }
}

#[tokio::test]
async fn an_unknown_operation_is_refused_by_name() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let before = app.org_snapshot(&f.admin).await;
    let operations = r#"{"operations":["Auth:Users:Read","Auth:Users:Fly"]}"#;

    let create = app.create_permission(&f.admin, "Flyers", &["Auth:Users:Fly"]).await;
    let update =
        app.signed(&f.admin, Method::PUT, &format!("/permissions/{}", f.readers), operations).await;
    let lowercase = app.create_permission(&f.admin, "Lower", &["auth:users:read"]).await;

    let refused =
        |name: &str| error(StatusCode::BAD_REQUEST, &format!("unknown operation {name:?}"));
    assert_eq!(create, refused("Auth:Users:Fly"));
    assert_eq!(update, refused("Auth:Users:Fly"));
    assert_eq!(lowercase, refused("auth:users:read"));
    let after = app.org_snapshot(&f.admin).await;
    assert_eq!(after["permissions"], before["permissions"]);
}

#[tokio::test]
async fn a_live_permissions_name_cannot_be_taken_again() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let taken = error(StatusCode::BAD_REQUEST, "a permission with this name already exists");
    let spare = format!("/permissions/{}", f.spare);

    let again = app.create_permission(&f.admin, "Readers", &["Permissions:Read"]).await;
    let org_admin = app.create_permission(&f.admin, "OrgAdmin", &["Permissions:Read"]).await;
    let renamed = app.signed(&f.admin, Method::PUT, &spare, r#"{"name":"Readers"}"#).await;
    let (status, _) =
        app.signed(&f.admin, Method::PUT, &format!("/permissions/{}/archive", f.readers), "").await;
    assert_eq!(status, StatusCode::OK);
    let after_archive = app.create_permission(&f.admin, "Readers", &["Permissions:Read"]).await;

    assert_eq!(again, taken);
    assert_eq!(org_admin, taken);
    assert_eq!(renamed, taken);
    assert_eq!(after_archive.0, StatusCode::OK, "{}", after_archive.1);
    assert_ne!(after_archive.1["id"], f.readers.as_str());
}

#[tokio::test]
async fn the_org_admin_cannot_be_updated_or_archived() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let org_admin = format!("/permissions/{}", app.org_admin_id(&app.admin_a).await);
    let before = app.org_snapshot(&admin).await;
    let immutable = error(StatusCode::BAD_REQUEST, "permission is immutable");

    let renamed = app.signed(&admin, Method::PUT, &org_admin, r#"{"name":"Boss"}"#).await;
    let narrowed =
        app.signed(&admin, Method::PUT, &org_admin, r#"{"operations":["Auth:Users:Read"]}"#).await;
    let archived = app.signed(&admin, Method::PUT, &format!("{org_admin}/archive"), "{}").await;

    assert_eq!(renamed, immutable);
    assert_eq!(narrowed, immutable);
    assert_eq!(archived, immutable);
    assert_eq!(app.org_snapshot(&admin).await, before);
}

#[tokio::test]
async fn the_org_admin_can_be_assigned_and_revoked() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let org_admin = app.org_admin_id(&app.admin_a).await;
    let jane = app.create_user(&admin, "jane@a.example").await;
    let session = app.login(&jane).await;

    let (assign_status, assignment) = app.assign(&admin, &org_admin, &jane.id).await;
    let as_admin = app.get(&session, "/permissions").await.0;
    let assignment_id = assignment["id"].as_str().unwrap_or_default();
    let (revoke_status, ended) = app.revoke(&admin, &org_admin, assignment_id).await;
    let after_revoke = app.get(&session, "/permissions").await;

    assert_eq!(assign_status, StatusCode::OK, "{assignment}");
    assert_eq!(assignment["permissionId"], org_admin.as_str());
    assert_eq!(as_admin, StatusCode::OK);
    assert_eq!(revoke_status, StatusCode::OK, "{ended}");
    assert_eq!(ended["id"], assignment["id"]);
    let refused = not_authorized(&jane.id, "Permissions:Read");
    assert_eq!(after_revoke, error(StatusCode::FORBIDDEN, &refused));
}

#[tokio::test]
async fn assigning_a_permission_twice_to_one_user_is_refused() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let before = app.org_snapshot(&f.admin).await;

    let reply = app.assign(&f.admin, &f.readers, &f.jane.id).await;

    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "permission already assigned"));
    assert_eq!(app.org_snapshot(&f.admin).await, before);
}

#[tokio::test]
async fn a_permission_is_assigned_only_to_a_live_user_of_the_callers_org() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let (status, _) = app.archive(&f.admin, &f.john.id).await;
    assert_eq!(status, StatusCode::OK);
    let before = app.org_snapshot(&f.admin).await;
    let admin_b = app.login(&app.admin_b).await;
    let before_b = app.org_snapshot(&admin_b).await;
    let unknown = unknown_user_id();

    let targets = [app.admin_b.id.as_str(), f.john.id.as_str(), unknown.as_str(), "us-x", ""];
    for target in targets {
        let reply = app.assign(&f.admin, &f.spare, target).await;

        assert_eq!(reply, error(StatusCode::NOT_FOUND, "user not found"), "{target:?}");
    }
    assert_eq!(app.org_snapshot(&f.admin).await, before);
    assert_eq!(app.org_snapshot(&admin_b).await, before_b);
}

#[tokio::test]
async fn an_archived_permission_can_be_neither_changed_nor_assigned() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let path = format!("/permissions/{}", f.spare);
    let (status, _) = app.signed(&f.admin, Method::PUT, &format!("{path}/archive"), "").await;
    assert_eq!(status, StatusCode::OK);
    let before = app.org_snapshot(&f.admin).await;
    let archived = error(StatusCode::BAD_REQUEST, "permission is archived");

    let again = app.signed(&f.admin, Method::PUT, &format!("{path}/archive"), "").await;
    let update = app.signed(&f.admin, Method::PUT, &path, r#"{"name":"Back"}"#).await;
    let assign = app.assign(&f.admin, &f.spare, &f.john.id).await;

    assert_eq!(again, archived);
    assert_eq!(update, archived);
    assert_eq!(assign, archived);
    assert_eq!(app.org_snapshot(&f.admin).await, before);
}

#[tokio::test]
async fn a_grant_and_a_revoke_take_effect_on_the_very_next_request() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let readers = app.new_permission(&admin, "Readers", &["Auth:Users:Read"]).await;
    let jane = app.create_user(&admin, "jane@a.example").await;
    let session = app.login(&jane).await;
    let refused = error(StatusCode::FORBIDDEN, &not_authorized(&jane.id, "Auth:Users:Read"));
    assert_eq!(app.get(&session, "/auth/users").await, refused);

    let assignment = app.grant(&admin, &readers, &jane.id).await;
    let granted = app.listed_ids(&session).await;
    let (status, _) = app.revoke(&admin, &readers, &assignment).await;
    assert_eq!(status, StatusCode::OK);
    let revoked = app.get(&session, "/auth/users").await;

    assert!(granted.contains(&jane.id) && granted.contains(&app.admin_a.id), "{granted:?}");
    assert_eq!(revoked, refused);
}

#[tokio::test]
async fn updating_a_permissions_operations_changes_its_holders_rights_at_once() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let session = app.login(&f.jane).await;
    assert_eq!(app.get(&session, "/auth/users").await.0, StatusCode::OK);
    let path = format!("/permissions/{}", f.readers);
    let body = r#"{"name":"Permission readers","operations":["Permissions:Read"]}"#;

    let (status, _) = app.signed(&f.admin, Method::PUT, &path, body).await;
    let users = app.get(&session, "/auth/users").await;
    let permissions = app.get(&session, "/permissions").await;

    assert_eq!(status, StatusCode::OK);
    let refused = not_authorized(&f.jane.id, "Auth:Users:Read");
    assert_eq!(users, error(StatusCode::FORBIDDEN, &refused));
    assert_eq!(permissions.0, StatusCode::OK, "{}", permissions.1);
    let (_, jane) = app.get_user(&f.admin, &f.jane.id).await;
    let held = json!([{
        "permissionName": "Permission readers",
        "permissionId": f.readers,
        "assignmentId": f.jane_assignment,
        "operations": ["Permissions:Read"],
    }]);
    assert_eq!(jane["permissionAssignments"], held);
}

#[tokio::test]
async fn archiving_a_permission_ends_its_assignments() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    app.grant(&f.admin, &f.readers, &f.john.id).await;
    app.grant(&f.admin, &f.spare, &f.john.id).await;
    let session = app.login(&f.jane).await;
    let path = format!("/permissions/{}", f.readers);

    let (status, _) = app.signed(&f.admin, Method::PUT, &format!("{path}/archive"), "{}").await;
    let listed = app.get(&f.admin, &format!("{path}/assignments")).await;
    let jane_reads = app.get(&session, "/auth/users").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, (StatusCode::OK, json!({"items": []})));
    let refused = not_authorized(&f.jane.id, "Auth:Users:Read");
    assert_eq!(jane_reads, error(StatusCode::FORBIDDEN, &refused));
    let (_, jane) = app.get_user(&f.admin, &f.jane.id).await;
    assert_eq!(jane["permissionAssignments"], json!([]));
    let (_, john) = app.get_user(&f.admin, &f.john.id).await;
    let held: Vec<&Value> = john["permissionAssignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["permissionId"])
        .collect();
    assert_eq!(held, vec![&json!(f.spare)]);
}

#[tokio::test]
async fn archiving_a_user_ends_its_assignments() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let john_assignment = app.grant(&f.admin, &f.readers, &f.john.id).await;
    let path = format!("/permissions/{}/assignments", f.readers);

    let (status, _) = app.archive(&f.admin, &f.jane.id).await;
    let (listed_status, listed) = app.get(&f.admin, &path).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed_status, StatusCode::OK, "{listed}");
    let ids: Vec<&Value> = listed["items"].as_array().unwrap().iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, vec![&json!(john_assignment)]);
    let gone = app.revoke(&f.admin, &f.readers, &f.jane_assignment).await;
    assert_eq!(gone, error(StatusCode::NOT_FOUND, "assignment not found"));
}

#[tokio::test]
async fn an_archive_body_saying_is_archived_false_is_refused() {
    let app = TestApp::new().await;
    let f = fixture(&app).await;
    let path = format!("/permissions/{}/archive", f.readers);
    let before = app.org_snapshot(&f.admin).await;

    let refused = app.signed(&f.admin, Method::PUT, &path, r#"{"isArchived":false}"#).await;
    let unchanged = app.org_snapshot(&f.admin).await;
    let (status, archived) =
        app.signed(&f.admin, Method::PUT, &path, r#"{"isArchived":true}"#).await;

    let message = "isArchived must be true: archives are final";
    assert_eq!(refused, error(StatusCode::BAD_REQUEST, message));
    assert_eq!(unchanged, before);
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["isArchived"], true);
}

#[tokio::test]
async fn listing_pages_through_every_permission_once() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let admin_b = app.login(&app.admin_b).await;
    app.new_permission(&admin_b, "Theirs", &["Permissions:Read"]).await;
    let mut expected = vec![app.org_admin_id(&app.admin_a).await];
    for i in 0..7 {
        expected.push(app.new_permission(&admin, &format!("P{i}"), &["Permissions:Read"]).await);
    }

    let mut listed: Vec<String> = Vec::new();
    let mut pages = 0;
    let mut path = "/permissions?limit=3".to_owned();
    loop {
        let (status, page) = app.get(&admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3, "{page}");
        listed.extend(items.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        pages += 1;
        let Some(token) = page["nextPageToken"].as_str() else { break };
        path = format!("/permissions?limit=3&paginationToken={token}");
        assert!(pages < 10, "the pages do not end");
    }

    assert_eq!(pages, 3);
    assert!(listed.iter().all(|id| PermissionId::parse(id).is_ok()));
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "a permission was listed twice: {listed:?}");
    expected.sort_unstable();
    assert_eq!(sorted, expected);
}
