//! Logging in: a signed login challenge earns a login token, and nothing
//! else does.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestApp, TestUser, UserKey, error};

#[tokio::test]
async fn a_user_logs_in_by_signing_the_challenge_with_its_key() {
    let app = TestApp::new().await;

    let challenge = app.login_challenge(&app.admin_a).await;
    let (status, body) = app.complete_login(&challenge, app.admin_a.key.answer(&challenge)).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a compact JWT: {token}");
    assert_eq!(challenge["supportedCredentialKinds"][0]["kind"], "Key");
    let path = format!("/auth/users/{}", app.admin_a.id);
    let (status, user) = app.call(Method::GET, &path, Some(token), None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["userId"], app.admin_a.id.as_str());
}

#[tokio::test]
async fn unknown_users_wrong_orgs_and_malformed_org_ids_get_one_answer() {
    let app = TestApp::new().await;
    let a = &app.admin_a;
    let unknown = TestUser { email: "nobody@a.example".into(), ..a.clone() };
    let wrong_org = TestUser { org_id: app.admin_b.org_id.clone(), ..a.clone() };
    let malformed_org = TestUser { org_id: "or-x".into(), ..a.clone() };

    for user in [unknown, wrong_org, malformed_org] {
        let reply = app.login_init(&user).await;

        assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "user not found"), "{}", user.org_id);
    }
}

#[tokio::test]
async fn a_challenge_answered_twice_is_refused_the_second_time() {
    let app = TestApp::new().await;
    let challenge = app.login_challenge(&app.admin_a).await;
    let answer = app.admin_a.key.answer(&challenge);
    let (status, _) = app.complete_login(&challenge, answer.clone()).await;
    assert_eq!(status, StatusCode::OK);

    let reply = app.complete_login(&challenge, answer).await;

    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "challenge is not valid"));
}

#[tokio::test]
async fn a_challenge_expires_five_minutes_after_it_was_issued() {
    let app = TestApp::new().await;
    let challenge = app.login_challenge(&app.admin_a).await;
    app.advance(domain::CHALLENGE_LIFETIME);

    let reply = app.complete_login(&challenge, app.admin_a.key.answer(&challenge)).await;

    assert_eq!(reply, error(StatusCode::BAD_REQUEST, "challenge is not valid"));
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused_and_spends_the_challenge() {
    let app = TestApp::new().await;
    let challenge = app.login_challenge(&app.admin_a).await;

    let reply = app.complete_login(&challenge, UserKey::generate().answer(&challenge)).await;

    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "invalid signature"));
    let rightful = app.complete_login(&challenge, app.admin_a.key.answer(&challenge)).await;
    assert_eq!(rightful, error(StatusCode::BAD_REQUEST, "challenge is not valid"));
}

#[tokio::test]
async fn client_data_that_names_another_challenge_is_refused() {
    let app = TestApp::new().await;
    let first = app.login_challenge(&app.admin_a).await;
    let second = app.login_challenge(&app.admin_a).await;
    let client_data = json!({"type": "key.get", "challenge": first["challenge"]}).to_string();

    let answer = app.admin_a.key.answer_with(&second, &client_data);
    let reply = app.complete_login(&second, answer).await;

    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, "invalid signature"));
}

#[tokio::test]
async fn client_data_with_extra_members_in_another_key_order_is_accepted() {
    let app = TestApp::new().await;
    let challenge = app.login_challenge(&app.admin_a).await;
    let client_data = format!(
        r#"{{"challenge":{},"crossOrigin":false,"origin":"https://app.example","type":"key.get"}}"#,
        challenge["challenge"]
    );

    let answer = app.admin_a.key.answer_with(&challenge, &client_data);
    let (status, body) = app.complete_login(&challenge, answer).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["token"].is_string());
}

#[tokio::test]
async fn a_login_token_works_until_its_lifetime_ends() {
    let app = TestApp::new().await;
    let session = app.login(&app.admin_a).await;
    let one_second = domain::Duration::from_seconds(1);
    app.advance(domain::Duration::from_millis(app::LOGIN_TOKEN_LIFETIME.millis() - 1000));
    let (status, _) = app.get_user(&session, &app.admin_a.id).await;
    assert_eq!(status, StatusCode::OK);

    app.advance(one_second);
    let reply = app.get_user(&session, &app.admin_a.id).await;

    let expected = "authentication token is missing or invalid";
    assert_eq!(reply, error(StatusCode::UNAUTHORIZED, expected));
}
