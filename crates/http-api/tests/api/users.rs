//! The user endpoints as a table: each one's success, its 401 without a
//! valid login token, its 403 for a caller lacking its operation, its 404
//! for an id that is unknown, malformed or of another org, and the
//! binding of its user action. Then what only listing and creating have:
//! pages, the `kind` filter, and the validation of a new user.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use domain::Operation;
use serde_json::{Value, json};

use crate::harness::{Reply, Session, TestApp, TestUser, UserKey, error, unknown_user_id};

const AUTH_REFUSED: &str = "authentication token is missing or invalid";
const MISSING_OR_INVALID: &str = "user action signature is missing or invalid";

fn not_authorized(user_id: &str, operation: &str) -> String {
    format!("CustomerEmployee {user_id} is not authorized to perform operation ({operation})")
}

/// One endpoint of `/auth/users`: how to call it on `target`, and the
/// operation it needs.
struct Endpoint {
    method: Method,
    path: String,
    body: String,
    operation: Operation,
}

impl Endpoint {
    fn signs(&self) -> bool {
        self.method != Method::GET
    }
}

/// Every endpoint of `/auth/users`, aimed at `target` where it takes one.
/// The create endpoint creates `email`.
fn endpoints(target: &str, email: &str) -> Vec<Endpoint> {
    let user = format!("/auth/users/{target}");
    let create = json!({"email": email, "kind": "EndUser"}).to_string();
    let endpoint = |method, path: &str, body: &str, operation| Endpoint {
        method,
        path: path.to_owned(),
        body: body.to_owned(),
        operation,
    };
    vec![
        endpoint(Method::POST, "/auth/users", &create, Operation::CreateUser),
        endpoint(Method::GET, "/auth/users", "", Operation::ReadUser),
        endpoint(Method::GET, &user, "", Operation::ReadUser),
        endpoint(Method::PUT, &format!("{user}/activate"), "{}", Operation::ActivateUser),
        endpoint(Method::PUT, &format!("{user}/deactivate"), "{}", Operation::DeactivateUser),
        endpoint(Method::DELETE, &user, "{}", Operation::DeleteUser),
    ]
}

/// The endpoints that name a target user in their path.
fn targeted(target: &str) -> Vec<Endpoint> {
    endpoints(target, "unused@a.example").into_iter().filter(|e| e.path != "/auth/users").collect()
}

/// Calls `endpoint` as `session`, with a user action signed for exactly
/// it when it changes state.
async fn call_signed(app: &TestApp, session: &Session, endpoint: &Endpoint) -> Reply {
    if endpoint.signs() {
        app.signed(session, endpoint.method.clone(), &endpoint.path, &endpoint.body).await
    } else {
        app.get(session, &endpoint.path).await
    }
}

#[tokio::test]
async fn every_user_endpoint_succeeds_for_an_admin() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "target@a.example").await;

    let mut replies = Vec::new();
    for endpoint in endpoints(&target.id, "new@a.example") {
        replies.push((endpoint.method.clone(), call_signed(&app, &admin, &endpoint).await));
    }

    let statuses: Vec<StatusCode> = replies.iter().map(|(_, (status, _))| *status).collect();
    assert_eq!(statuses, vec![StatusCode::OK; 6], "{replies:?}");
    let [created, listed, read, activated, deactivated, archived] =
        replies.into_iter().map(|(_, (_, body))| body).collect::<Vec<_>>().try_into().unwrap();
    assert_eq!(created["username"], "new@a.example");
    assert_eq!(created["kind"], "EndUser");
    assert!(listed["items"].as_array().unwrap().iter().any(|u| u["userId"] == target.id));
    assert_eq!(read["userId"], target.id);
    assert_eq!(activated["isActive"], true);
    assert_eq!(deactivated["isActive"], false);
    assert_eq!(archived["isActive"], false);
    assert_eq!(archived["permissionAssignments"], json!([]));
}

#[tokio::test]
async fn every_user_endpoint_refuses_a_missing_malformed_or_expired_token() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "target@a.example").await;
    app.advance(domain::Duration::from_millis(61 * 60 * 1000));
    let tokens = [None, Some("not-a-jwt"), Some("a.b.c"), Some(admin.token.as_str())];

    let mut replies = Vec::new();
    for endpoint in endpoints(&target.id, "new@a.example") {
        for token in tokens {
            let reply = app.call(
                endpoint.method.clone(),
                &endpoint.path,
                token,
                Some("x"),
                endpoint.body.clone(),
            );
            replies.push((format!("{} {} {token:?}", endpoint.method, endpoint.path), reply.await));
        }
    }

    assert_eq!(replies.len(), 24);
    for (request, reply) in replies {
        assert_eq!(reply, error(StatusCode::UNAUTHORIZED, AUTH_REFUSED), "{request}");
    }
}

#[tokio::test]
async fn every_user_endpoint_refuses_a_caller_lacking_its_operation() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "target@a.example").await;

    for (i, endpoint) in endpoints(&target.id, "new@a.example").into_iter().enumerate() {
        let others: Vec<&str> = Operation::ALL
            .iter()
            .filter(|o| **o != endpoint.operation)
            .map(|o| o.as_str())
            .collect();
        let caller = app.create_user_holding(&admin, &format!("c{i}@a.example"), &others).await;
        let session = app.login(&caller).await;
        let expected =
            error(StatusCode::FORBIDDEN, &not_authorized(&caller.id, endpoint.operation.as_str()));
        let before = app.org_snapshot(&admin).await;

        let reply = call_signed(&app, &session, &endpoint).await;

        assert_eq!(reply, expected, "{} {}", endpoint.method, endpoint.path);
        assert_eq!(app.org_snapshot(&admin).await, before);
    }
}

#[tokio::test]
async fn every_targeted_endpoint_answers_unknown_malformed_and_foreign_ids_alike() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let ids = [unknown_user_id(), app.admin_b.id.clone(), "us-short".to_owned(), "x".to_owned()];
    let before = app.org_snapshot(&admin).await;
    let b_admin = app.login(&app.admin_b).await;
    let b_before = app.org_snapshot(&b_admin).await;

    for id in &ids {
        for endpoint in targeted(id) {
            let reply = call_signed(&app, &admin, &endpoint).await;

            let request = format!("{} {}", endpoint.method, endpoint.path);
            assert_eq!(reply, error(StatusCode::NOT_FOUND, "user not found"), "{request}");
        }
    }
    assert_eq!(app.org_snapshot(&admin).await, before);
    assert_eq!(app.org_snapshot(&b_admin).await, b_before);
}

#[tokio::test]
async fn every_state_change_needs_a_user_action_signed_for_exactly_it() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "target@a.example").await;
    let other = app.create_user(&admin, "other@a.example").await;
    let changes: Vec<Endpoint> =
        endpoints(&target.id, "new@a.example").into_iter().filter(Endpoint::signs).collect();
    let before = app.org_snapshot(&admin).await;

    for change in &changes {
        let request = format!("{} {}", change.method, change.path);
        let token = Some(admin.token.as_str());
        let other_path = change.path.replace(&target.id, &other.id);
        let other_path =
            if other_path == change.path { "/auth/users/x".into() } else { other_path };
        let other_method = if change.method == Method::PUT { Method::DELETE } else { Method::PUT };
        let misbound = [
            app.user_action(&admin, change.method.clone(), &other_path, &change.body).await,
            app.user_action(&admin, change.method.clone(), &change.path, "{\"a\":1}").await,
            app.user_action(&admin, other_method, &change.path, &change.body).await,
        ];

        let missing =
            app.call(change.method.clone(), &change.path, token, None, change.body.clone());
        assert_eq!(missing.await, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID), "{request}");
        for user_action in &misbound {
            let body = change.body.clone();
            let reply =
                app.call(change.method.clone(), &change.path, token, Some(user_action), body);
            assert_eq!(reply.await, error(StatusCode::FORBIDDEN, MISSING_OR_INVALID), "{request}");
        }
    }
    assert_eq!(app.org_snapshot(&admin).await, before);
}

/// Creates `count` users of `kind` named `{prefix}{i}@a.example`.
async fn create_users(app: &TestApp, admin: &Session, prefix: &str, kind: &str, count: usize) {
    for i in 0..count {
        let body = json!({"email": format!("{prefix}{i}@a.example"), "kind": kind});
        let (status, user) =
            app.signed(admin, Method::POST, "/auth/users", &body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{user}");
    }
}

/// The ids of a page of `GET /auth/users`, and its `nextPageToken`.
async fn page(app: &TestApp, session: &Session, query: &str) -> (Vec<String>, Option<String>) {
    let (status, page) = app.get(session, &format!("/auth/users?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids = page["items"].as_array().unwrap();
    let ids = ids.iter().map(|u| u["userId"].as_str().unwrap().to_owned()).collect();
    (ids, page["nextPageToken"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn a_walk_through_the_pages_sees_every_user_that_existed_throughout_once() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    create_users(&app, &admin, "u", "EndUser", 9).await;
    let throughout: BTreeSet<String> = app.listed_ids(&admin).await.into_iter().collect();

    let mut seen = Vec::new();
    let (mut ids, mut next) = page(&app, &admin, "limit=3").await;
    let mut archived = BTreeSet::new();
    while let Some(token) = next {
        seen.extend(ids.iter().cloned());
        // Between two pages, a user comes and one already seen goes.
        create_users(&app, &admin, &format!("p{}-", seen.len()), "EndUser", 1).await;
        let gone = seen.iter().find(|id| **id != admin.user.id && !archived.contains(*id));
        let gone = gone.unwrap().clone();
        assert_eq!(app.archive(&admin, &gone).await.0, StatusCode::OK);
        archived.insert(gone);
        (ids, next) = page(&app, &admin, &format!("limit=3&paginationToken={token}")).await;
    }
    seen.extend(ids);

    let distinct: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "a user was listed twice: {seen:?}");
    assert!(distinct.is_superset(&throughout), "{seen:?} misses some of {throughout:?}");
    let listed_now: BTreeSet<String> = app.listed_ids(&admin).await.into_iter().collect();
    assert!(listed_now.is_disjoint(&archived));
}

#[tokio::test]
async fn a_page_holds_up_to_limit_users_and_defaults_to_a_hundred() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    create_users(&app, &admin, "u", "EndUser", 104).await;

    let (one, next_one) = page(&app, &admin, "limit=1").await;
    let (default, next_default) = page(&app, &admin, "").await;
    let (all, next_all) = page(&app, &admin, "limit=200").await;

    assert_eq!(one.len(), 1);
    assert!(next_one.is_some());
    assert_eq!(default.len(), 100);
    assert!(next_default.is_some());
    assert_eq!(all.len(), 105);
    assert_eq!(next_all, None);
}

#[tokio::test]
async fn the_kind_filter_lists_only_users_of_that_kind() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    create_users(&app, &admin, "end", "EndUser", 3).await;
    create_users(&app, &admin, "emp", "CustomerEmployee", 2).await;

    let (end_users, _) = page(&app, &admin, "kind=EndUser").await;
    let (employees, _) = page(&app, &admin, "kind=CustomerEmployee").await;
    let (staff, _) = page(&app, &admin, "kind=DfnsStaff").await;

    assert_eq!(end_users.len(), 3);
    assert_eq!(employees.len(), 3, "the two and the admin");
    assert!(staff.is_empty());
}

#[tokio::test]
async fn a_bad_list_query_is_refused_with_a_message_naming_it() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let limit = "limit must be from 1 to 200";
    let cases = [
        ("limit=0", limit),
        ("limit=201", limit),
        ("limit=-1", limit),
        ("limit=ten", limit),
        ("limit=", limit),
        ("paginationToken=not-ours", "paginationToken is not valid"),
        ("paginationToken=dXMtbm9wZQ", "paginationToken is not valid"),
        ("kind=Robot", "unknown kind \"Robot\""),
        ("limit=%ff", limit),
        ("limit=1&limit=2", "query string is not valid"),
    ];

    for (query, message) in cases {
        let reply = app.get(&admin, &format!("/auth/users?{query}")).await;

        assert_eq!(reply, error(StatusCode::BAD_REQUEST, message), "{query}");
    }
}

/// `POST /auth/users` with `body`, signed for exactly that body.
async fn create(app: &TestApp, admin: &Session, body: Value) -> Reply {
    app.signed(admin, Method::POST, "/auth/users", &body.to_string()).await
}

#[tokio::test]
async fn a_new_user_is_answered_with_what_it_was_given() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let key = UserKey::generate();
    let body = json!({
        "email": "Jane.Roe@A.example",
        "kind": "CustomerEmployee",
        "publicKey": key.public_key_pem(),
        "externalId": "hr-4711",
        "isSSORequired": true,
    });

    let (status, user) = create(&app, &admin, body).await;
    let (read_status, read) = app.get_user(&admin, user["userId"].as_str().unwrap()).await;

    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["username"], "Jane.Roe@A.example");
    assert_eq!(user["orgId"], app.admin_a.org_id);
    assert_eq!(user["externalId"], "hr-4711");
    assert_eq!(user["isSSORequired"], true);
    assert_eq!(user["isRegistered"], true);
    assert_eq!(user["isActive"], true);
    assert!(user["credentialUuid"].as_str().unwrap().starts_with("cr-"));
    assert_eq!(user["permissionAssignments"], json!([]));
    assert_eq!((read_status, &read), (StatusCode::OK, &user));
}

#[tokio::test]
async fn a_new_user_without_a_key_is_not_registered_and_cannot_log_in() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;

    let (status, user) =
        create(&app, &admin, json!({"email": "nokey@a.example", "kind": "EndUser"})).await;
    let nobody = TestUser {
        id: user["userId"].as_str().unwrap().to_owned(),
        org_id: app.admin_a.org_id.clone(),
        email: "nokey@a.example".to_owned(),
        key: UserKey::generate(),
    };
    let (_, challenge) = app.login_init(&nobody).await;

    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["isRegistered"], false);
    assert_eq!(user["credentialUuid"], "");
    assert_eq!(user["isSSORequired"], false);
    assert_eq!(challenge["allowCredentials"]["key"], json!([]));
}

#[tokio::test]
async fn a_bad_new_user_is_refused_with_a_message_and_nothing_is_created() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    app.create_user(&admin, "taken@a.example").await;
    let taken = "a user with this email already exists";
    let cases = [
        (json!({"email": "", "kind": "EndUser"}), "email is empty"),
        (json!({"email": "no-at-sign", "kind": "EndUser"}), "email must have the form name@domain"),
        (
            json!({"email": "a b@a.example", "kind": "EndUser"}),
            "email must not contain white space or control characters",
        ),
        (json!({"email": "TAKEN@A.EXAMPLE", "kind": "EndUser"}), taken),
        (json!({"email": "ok@a.example", "kind": "EndUser", "publicKey": "not a key"}), ""),
        (json!({"email": "ok@a.example", "kind": "EndUser", "externalId": 7}), ""),
        (json!({"email": "ok@a.example"}), "invalid request body: missing field `kind`"),
    ];
    let before = app.org_snapshot(&admin).await;

    for (body, message) in cases {
        let (status, answer) = create(&app, &admin, body.clone()).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let shown = answer["error"]["message"].as_str().unwrap();
        if message.is_empty() {
            let field = if body.get("publicKey").is_some() { "publicKey" } else { "externalId" };
            assert!(shown.contains(field), "{body}: {shown:?} does not name {field}");
        } else {
            assert_eq!(shown, message, "{body}");
        }
    }
    assert_eq!(app.org_snapshot(&admin).await, before);
}
