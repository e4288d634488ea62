//! Requests in flight while their caller changes: a request is
//! authenticated when its headers arrive, but decided only once its body
//! has, and the caller may be deactivated, archived or stripped of a right
//! in between. The change is then refused as if the request had come
//! after, and two users who act on each other at once cannot both win.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use futures_util::stream;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::harness::{Reply, Session, TestApp, error};

/// A signed request whose headers have been taken in, its body held back
/// until [`HeldRequest::finish`].
struct HeldRequest {
    release: oneshot::Sender<()>,
    reply: JoinHandle<Reply>,
}

impl HeldRequest {
    /// Sends `method path` as `session` with a user action signed for
    /// `body`, and returns once the server, past authentication, is
    /// waiting for the body.
    async fn start(
        app: &TestApp,
        session: &Session,
        method: Method,
        path: &str,
        body: &str,
    ) -> Self {
        let user_action = app.user_action(session, method.clone(), path, body).await;
        let (polled, waiting) = oneshot::channel::<()>();
        let (release, released) = oneshot::channel::<()>();
        let bytes = Bytes::from(body.to_owned());
        let body = stream::once(async move {
            let _ = polled.send(());
            let _ = released.await;
            Ok::<_, Infallible>(bytes)
        });
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", session.token))
            .header("x-dfns-useraction", user_action)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(body))
            .unwrap();
        let router = app.router();
        let reply = tokio::spawn(async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        });
        waiting.await.expect("the server reads the body");
        HeldRequest { release, reply }
    }

    /// Lets the body arrive, and answers the reply.
    async fn finish(self) -> Reply {
        self.release.send(()).unwrap();
        self.reply.await.unwrap()
    }
}

fn unauthenticated() -> Reply {
    error(StatusCode::UNAUTHORIZED, "authentication token is missing or invalid")
}

/// Org A's admin, a user `assigner` who holds `Permissions:Assign` through
/// a permission of its own, and a user without rights, and the path and
/// body that grant that user `OrgAdmin`.
async fn escalation(app: &TestApp) -> (Session, Session, String, String, String) {
    let admin = app.login(&app.admin_a).await;
    let assigner =
        app.create_user_holding(&admin, "assigner@a.example", &["Permissions:Assign"]).await;
    let nobody = app.create_user(&admin, "nobody@a.example").await;
    let org_admin = app.org_admin_id(&app.admin_a).await;
    let path = format!("/permissions/{org_admin}/assignments");
    let body = json!({"identityId": nobody.id}).to_string();
    (admin, app.login(&assigner).await, path, body, nobody.id)
}

#[tokio::test]
async fn a_request_of_a_user_deactivated_before_its_body_arrived_is_refused() {
    let app = TestApp::new().await;
    let (admin, assigner, path, body, nobody) = escalation(&app).await;

    let held = HeldRequest::start(&app, &assigner, Method::POST, &path, &body).await;
    let (status, _) = app.deactivate(&admin, &assigner.user.id).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(held.finish().await, unauthenticated());
    let (_, user) = app.get_user(&admin, &nobody).await;
    assert_eq!(user["permissionAssignments"], json!([]));
}

#[tokio::test]
async fn a_request_of_a_user_archived_before_its_body_arrived_is_refused() {
    let app = TestApp::new().await;
    let (admin, assigner, path, body, nobody) = escalation(&app).await;

    let held = HeldRequest::start(&app, &assigner, Method::POST, &path, &body).await;
    let (status, _) = app.archive(&admin, &assigner.user.id).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(held.finish().await, unauthenticated());
    let (_, user) = app.get_user(&admin, &nobody).await;
    assert_eq!(user["permissionAssignments"], json!([]));
}

#[tokio::test]
async fn a_request_whose_right_was_revoked_before_its_body_arrived_is_refused() {
    let app = TestApp::new().await;
    let (admin, assigner, path, body, nobody) = escalation(&app).await;
    let permission = app.stored_user(&assigner.user.id).await.assignments[0].clone();

    let held = HeldRequest::start(&app, &assigner, Method::POST, &path, &body).await;
    let assignment = permission.assignment_id.to_string();
    let (status, _) = app.revoke(&admin, permission.permission_id.as_str(), &assignment).await;
    assert_eq!(status, StatusCode::OK);

    let reply = held.finish().await;
    let refused = format!(
        "CustomerEmployee {} is not authorized to perform operation (Permissions:Assign)",
        assigner.user.id
    );
    assert_eq!(reply, error(StatusCode::FORBIDDEN, &refused));
    let (_, user) = app.get_user(&admin, &nobody).await;
    assert_eq!(user["permissionAssignments"], json!([]));
}

#[tokio::test]
async fn a_request_whose_permission_lost_the_operation_meanwhile_is_refused() {
    let app = TestApp::new().await;
    let (admin, assigner, path, body, nobody) = escalation(&app).await;
    let permission = app.stored_user(&assigner.user.id).await.assignments[0].permission_id.clone();

    let held = HeldRequest::start(&app, &assigner, Method::POST, &path, &body).await;
    let update = json!({"operations": ["Auth:Users:Read"]}).to_string();
    let (status, updated) =
        app.signed(&admin, Method::PUT, &format!("/permissions/{permission}"), &update).await;
    assert_eq!(status, StatusCode::OK, "{updated}");

    let (status, _) = held.finish().await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, user) = app.get_user(&admin, &nobody).await;
    assert_eq!(user["permissionAssignments"], json!([]));
}

#[tokio::test]
async fn of_two_users_archiving_each_other_at_once_only_the_first_succeeds() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let deleters = ["x@a.example", "y@a.example"];
    let mut sessions = Vec::new();
    for email in deleters {
        let user = app.create_user_holding(&admin, email, &["Auth:Users:Delete"]).await;
        sessions.push(app.login(&user).await);
    }
    let (x, y) = (&sessions[0], &sessions[1]);

    let x_archives_y = format!("/auth/users/{}", y.user.id);
    let y_archives_x = format!("/auth/users/{}", x.user.id);
    let first = HeldRequest::start(&app, x, Method::DELETE, &x_archives_y, "{}").await;
    let second = HeldRequest::start(&app, y, Method::DELETE, &y_archives_x, "{}").await;

    let (status, archived) = first.finish().await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(second.finish().await, unauthenticated());
    let (status, still) = app.get_user(&admin, &x.user.id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(still["isActive"], true);
}
