//! Connecting, migrating, schemas of their own, the server's secrets, and
//! stored data that does not parse.

use domain::{
    Challenge, ChallengeId, ChallengePurpose, CredId, CredentialKind, CredentialUuid, HttpMethod,
    OrgId, UserId, UserKind,
};
use ports::{OneTimeStore, PermissionRepository, SecretStore, UserRepository};
use store_postgres::PostgresStore;

use crate::fixtures::{Db, OrgFixture, T0, fresh_random};

#[tokio::test]
async fn reconnecting_migrates_again_and_keeps_the_data() {
    let Some(db) = Db::new().await else { return };
    let first = db.open().await;
    let acme = OrgFixture::create(&first, "acme").await;
    first.close();

    // Two processes starting at once both migrate; the lock orders them.
    let (second, third) = tokio::join!(db.open(), db.open());

    assert_eq!(second.find_user(&acme.admin.id).await.unwrap(), Some(acme.admin.clone()));
    assert_eq!(third.count_orgs().await.unwrap(), 1);
}

#[tokio::test]
async fn a_fresh_database_is_migrated_by_many_processes_at_once() {
    let Some(db) = Db::new().await else { return };

    let stores = tokio::join!(db.open(), db.open(), db.open(), db.open());

    let acme = OrgFixture::create(&stores.0, "acme").await;
    assert_eq!(stores.3.find_user(&acme.admin.id).await.unwrap(), Some(acme.admin));
}

#[tokio::test]
async fn each_schema_is_a_store_of_its_own() {
    let Some(db) = Db::new().await else { return };
    let Some(other) = Db::new().await else { return };
    let store = db.open().await;
    let elsewhere = other.open().await;

    let acme = OrgFixture::create(&store, "acme").await;

    assert_eq!(store.count_orgs().await.unwrap(), 1);
    assert_eq!(elsewhere.count_orgs().await.unwrap(), 0);
    assert_eq!(elsewhere.find_user(&acme.admin.id).await.unwrap(), None);
    assert_eq!(elsewhere.find_permission(&acme.permission.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_a_store_error() {
    let Some(_db) = Db::new().await else { return };

    // Port 1 refuses connections; the other URLs are not PostgreSQL's.
    for url in ["postgres://postgres@127.0.0.1:1/test", "mysql://localhost/test", "not a url"] {
        let connected = PostgresStore::connect(url).await;

        assert!(connected.is_err(), "{url}");
    }
}

#[tokio::test]
async fn the_first_signing_key_is_kept() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;

    let first = store.token_signing_key(b"first candidate").await.unwrap();
    let second = store.token_signing_key(b"second candidate").await.unwrap();

    assert_eq!(first, b"first candidate");
    assert_eq!(second, b"first candidate");
}

#[tokio::test]
async fn stored_data_that_does_not_parse_is_a_store_error() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;

    db.tamper("UPDATE permissions SET operations = '{Auth:Users:Explode}'").await;
    db.tamper(&format!("UPDATE users SET kind = 'Robot' WHERE id = '{}'", jane.id)).await;

    let admin = store.find_user(&acme.admin.id).await;
    let error = admin.expect_err("an unknown operation is refused").to_string();
    assert!(error.contains("operations"), "{error}");
    let error = store.find_user(&jane.id).await.expect_err("an unknown kind is refused");
    assert!(error.to_string().contains("kind"), "{error}");
    assert!(store.list_users(&acme.org.id, None, None, 10).await.is_err());
    let error = store.find_permission(&acme.permission.id).await.expect_err("refused");
    assert!(error.to_string().contains("operations"), "{error}");
}

#[tokio::test]
async fn a_version_out_of_range_is_a_store_error() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    let beyond = domain::User { version: u64::MAX, ..jane.clone() };
    let event = crate::fixtures::event(
        domain::AuditKind::UserDeactivated,
        &jane,
        &acme.admin.id,
        crate::fixtures::T0,
    );

    let updated = store.update_user(&beyond, &event, &acme.basis()).await;

    assert!(matches!(updated, Err(ports::UpdateUserError::Store(_))), "{updated:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane));
}

#[tokio::test]
async fn a_database_of_the_first_schema_is_upgraded_with_its_credentials_and_challenges() {
    let Some(db) = Db::new().await else { return };
    db.tamper(include_str!(
        "../../migrations/0001_orgs_users_permissions_and_one_time_records.sql"
    ))
    .await;
    db.tamper(
        "CREATE TABLE orgusers_migrations (version BIGINT NOT NULL PRIMARY KEY, \
         description TEXT NOT NULL, applied_at BIGINT NOT NULL DEFAULT 0); \
         INSERT INTO orgusers_migrations (version, description) VALUES (1, 'the first')",
    )
    .await;
    let org = OrgId::from_random(&fresh_random());
    let user = UserId::from_random(&fresh_random());
    let uuid = CredentialUuid::from_random(&fresh_random());
    let at = T0.unix_millis();
    db.tamper(&format!(
        "INSERT INTO orgs (id, name, created_at) VALUES ('{org}', 'acme', {at}); \
         INSERT INTO users (id, org_id, kind, username, username_key, credential_uuid, \
         is_registered, is_service_account, is_sso_required, state, created_at, version) \
         VALUES ('{user}', '{org}', 'EndUser', 'jane@x.io', 'jane@x.io', '{uuid}', true, \
         false, false, 'Active', {at}, 0); \
         INSERT INTO credentials (uuid, cred_id, user_id, org_id, kind, public_key_pem, \
         is_active, created_at) VALUES ('{uuid}', 'old-key', '{user}', '{org}', 'Key', 'PEM', \
         true, {at}); \
         INSERT INTO challenges (id, challenge, purpose, org_id, user_id, issued_at) \
         VALUES ('old-login', 'c1', 'Login', '{org}', '{user}', {at}); \
         INSERT INTO challenges (id, challenge, purpose, org_id, user_id, action_method, \
         action_path, action_payload, issued_at) VALUES ('old-action', 'c2', 'UserAction', \
         '{org}', '{user}', 'DELETE', '/auth/users/x', '', {at})"
    ))
    .await;

    let store = db.open().await;

    let key = store.find_credential(&user, &CredId::parse("old-key").unwrap()).await.unwrap();
    let key = key.expect("the old key is kept");
    assert_eq!((key.uuid.clone(), key.kind, key.name.as_str()), (uuid, CredentialKind::Key, ""));
    assert_eq!((key.sign_count, key.relying_party_id, key.origin), (0, None, None));
    let login = store.take_challenge(&ChallengeId::from_wire("old-login")).await.unwrap();
    let purpose = ChallengePurpose::Login { org_id: org.clone(), user_id: user.clone() };
    assert_eq!(login.map(|c| (c.challenge, c.purpose)), Some(("c1".to_owned(), purpose)));
    let action = store.take_challenge(&ChallengeId::from_wire("old-action")).await.unwrap();
    let Some(ChallengePurpose::UserAction { request, .. }) = action.map(|c| c.purpose) else {
        panic!("the user-action challenge is kept");
    };
    assert_eq!((request.method, request.path.as_str()), (HttpMethod::Delete, "/auth/users/x"));

    let kind = CredentialKind::Fido2;
    let purpose = ChallengePurpose::Registration { org_id: org, user_id: user, kind };
    let registration = Challenge::issue(purpose, &[1; 32], &[2; 32], T0);
    store.insert_challenge(&registration).await.unwrap();
    let taken = store.take_challenge(&registration.id).await.unwrap();
    assert_eq!(taken, Some(registration));
}

#[tokio::test]
async fn the_schema_refuses_what_the_domain_cannot_read() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let (org, user) = (&acme.org.id, &acme.admin.id);

    for refused in [
        "UPDATE credentials SET sign_count = -1".to_owned(),
        "UPDATE credentials SET sign_count = 4294967296".to_owned(),
        format!(
            "INSERT INTO challenges (id, challenge, purpose, org_id, user_id, issued_at) \
             VALUES ('r1', 'c', 'Registration', '{org}', '{user}', 0)"
        ),
        format!(
            "INSERT INTO challenges (id, challenge, purpose, org_id, user_id, credential_kind, \
             issued_at) VALUES ('r2', 'c', 'Registration', '{org}', '{user}', 'Robot', 0)"
        ),
        format!(
            "INSERT INTO challenges (id, challenge, purpose, org_id, user_id, credential_kind, \
             issued_at) VALUES ('r3', 'c', 'Login', '{org}', '{user}', 'Key', 0)"
        ),
        format!(
            "INSERT INTO challenges (id, challenge, purpose, org_id, user_id, issued_at) \
             VALUES ('r4', 'c', 'Logout', '{org}', '{user}', 0)"
        ),
    ] {
        assert!(db.try_tamper(&refused).await.is_err(), "{refused}");
    }
}

#[tokio::test]
async fn a_stored_credential_kind_that_does_not_parse_is_a_store_error() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;

    db.tamper("UPDATE credentials SET kind = 'Robot'").await;

    let found = store.find_credential(&acme.admin.id, &acme.credential.cred_id).await;
    let error = found.expect_err("an unknown kind is refused").to_string();
    assert!(error.contains("kind"), "{error}");
    assert!(store.list_credentials(&acme.admin.id).await.is_err());
}
