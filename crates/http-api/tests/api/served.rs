//! The router on a real bound port, called over HTTP.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;

#[tokio::test]
async fn an_admin_logs_in_and_archives_a_user_over_a_real_connection() {
    let app = TestApp::new().await;
    let admin = app.login(&app.admin_a).await;
    let target = app.create_user(&admin, "jane@a.example").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, app.router()).into_future());
    let client = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK.as_u16());
            response.json::<Value>().await.unwrap()
        }
    };

    let user = &app.admin_a;
    let login_init = json!({"username": user.email, "orgId": user.org_id});
    let challenge = post("/auth/login/init", None, login_init).await;
    let login = json!({
        "challengeIdentifier": challenge["challengeIdentifier"],
        "firstFactor": user.key.answer(&challenge),
    });
    let token = post("/auth/login", None, login).await["token"].as_str().unwrap().to_owned();
    let path = format!("/auth/users/{}", target.id);
    let action_init = json!({
        "userActionPayload": "{}",
        "userActionHttpMethod": "DELETE",
        "userActionHttpPath": path,
    });
    let challenge = post("/auth/action/init", Some(&token), action_init).await;
    let action = json!({
        "challengeIdentifier": challenge["challengeIdentifier"],
        "firstFactor": user.key.answer(&challenge),
    });
    let user_action = post("/auth/action", Some(&token), action).await["userAction"].clone();
    let response = client
        .delete(format!("{base}{path}"))
        .bearer_auth(&token)
        .header("x-dfns-useraction", user_action.as_str().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK.as_u16());
    let archived: Value = response.json().await.unwrap();
    assert_eq!(archived["userId"], target.id.as_str());
    assert_eq!(archived["isActive"], false);
    let gone = client.get(format!("{base}{path}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND.as_u16());
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body, json!({"error": {"status": 404, "message": "user not found"}}));
    server.abort();
}
