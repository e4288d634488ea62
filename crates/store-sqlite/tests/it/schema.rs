//! Opening databases, migrating them, the server's secrets, and stored data
//! that does not parse.

use domain::{
    AuditKind, Challenge, ChallengeId, ChallengePurpose, CredId, CredentialKind, CredentialUuid,
    HttpMethod, OrgId, PermissionId, UserId, UserKind, Username,
};
use ports::{AuditLog, OneTimeStore, PermissionRepository, SecretStore, UserRepository};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnection;
use store_sqlite::SqliteStore;

use crate::fixtures::{Db, OrgFixture, T0, fresh_random};

#[tokio::test]
async fn reopening_a_database_migrates_it_again_and_keeps_its_data() {
    let db = Db::new();
    let first = db.open().await;
    let acme = OrgFixture::create(&first, "acme").await;
    first.close().await;

    let second = db.open().await;
    let third = db.open().await;

    assert_eq!(second.find_user(&acme.admin.id).await.unwrap(), Some(acme.admin.clone()));
    assert_eq!(third.count_orgs().await.unwrap(), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_and_its_journal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let db = Db::new();
    let store = db.open().await;
    // A write makes SQLite create the write-ahead log next to the file.
    OrgFixture::create(&store, "acme").await;

    let journal = db.path().with_extension("db-wal");
    for path in [db.path(), journal] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_database_readable_by_others_is_narrowed_to_its_owner_when_opened() {
    use std::os::unix::fs::PermissionsExt;

    let db = Db::new();
    db.open().await.close().await;
    std::fs::set_permissions(db.path(), std::fs::Permissions::from_mode(0o644)).unwrap();

    let reopened = db.open().await;
    OrgFixture::create(&reopened, "acme").await;

    let journal = db.path().with_extension("db-wal");
    for path in [db.path(), journal] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
}

#[tokio::test]
async fn a_sqlite_url_and_a_plain_path_name_the_same_file() {
    let db = Db::new();
    let path = db.path();
    let by_url = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    assert!(path.exists(), "the file is created");
    let acme = OrgFixture::create(&by_url, "acme").await;

    let by_path = db.open().await;

    assert_eq!(by_path.find_user(&acme.admin.id).await.unwrap(), Some(acme.admin));
}

#[tokio::test]
async fn an_in_memory_store_works_and_starts_empty() {
    let store = SqliteStore::in_memory().await.unwrap();
    let acme = OrgFixture::create(&store, "acme").await;
    acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;

    let other = SqliteStore::connect("sqlite::memory:").await.unwrap();

    assert_eq!(store.count_orgs().await.unwrap(), 1);
    assert_eq!(other.count_orgs().await.unwrap(), 0);
    assert_eq!(store.list_users(&acme.org.id, None, None, 10).await.unwrap().users.len(), 2);
}

#[tokio::test]
async fn the_first_signing_key_is_kept() {
    let db = Db::new();
    let store = db.open().await;

    let first = store.token_signing_key(b"first candidate").await.unwrap();
    let second = store.token_signing_key(b"second candidate").await.unwrap();

    assert_eq!(first, b"first candidate");
    assert_eq!(second, b"first candidate");
}

/// Changes the database behind the store's back, as a bug or a hand edit
/// would.
async fn tamper(db: &Db, sql: &str) {
    let url = format!("sqlite://{}", db.path().display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn stored_data_that_does_not_parse_is_a_store_error() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;

    tamper(&db, "UPDATE permissions SET operations = '[\"Auth:Users:Explode\"]'").await;
    tamper(&db, &format!("UPDATE users SET kind = 'Robot' WHERE id = '{}'", jane.id)).await;

    let admin = store.find_user(&acme.admin.id).await;
    let error = admin.expect_err("an unknown operation is refused").to_string();
    assert!(error.contains("operations"), "{error}");
    let error = store.find_user(&jane.id).await.expect_err("an unknown kind is refused");
    assert!(error.to_string().contains("kind"), "{error}");
    assert!(store.list_users(&acme.org.id, None, None, 10).await.is_err());
}

#[tokio::test]
async fn a_user_name_stored_before_the_rule_on_format_characters_is_still_read() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    // A zero-width space, which new names may no longer hold.
    let legacy = "ja\u{200b}ne@example.com";
    let key = Username::existing(legacy).unwrap().key().to_owned();
    tamper(
        &db,
        &format!(
            "UPDATE users SET username = '{legacy}', username_key = '{key}' WHERE id = '{}'",
            jane.id
        ),
    )
    .await;

    let read = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(read.username.as_str(), legacy);
    let page = store.list_users(&acme.org.id, None, None, 10).await.unwrap();
    assert_eq!(page.users.len(), 2);
    let name = Username::existing(legacy).unwrap();
    let found = store.find_user_by_username(&acme.org.id, &name).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(jane.id));
}

#[tokio::test]
async fn a_database_of_the_first_schema_is_upgraded_with_its_data() {
    let db = Db::new();
    let first = tempfile::tempdir().unwrap();
    let name = "0001_orgs_users_and_one_time_records.sql";
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(name);
    std::fs::copy(source, first.path().join(name)).unwrap();
    let url = format!("sqlite://{}?mode=rwc", db.path().display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    Migrator::new(first.path()).await.unwrap().run(&mut conn).await.unwrap();
    let org = OrgId::from_random(&fresh_random());
    let permission = PermissionId::from_random(&fresh_random());
    let user = UserId::from_random(&fresh_random());
    let at = T0.unix_millis();
    sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES (?, 'acme', ?)")
        .bind(org.as_str())
        .bind(at)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO permissions (id, org_id, name, operations, is_immutable, is_archived, \
         created_at, updated_at) VALUES (?, ?, 'Assigners', '[\"Permissions:Assign\"]', 0, 0, ?, ?)",
    )
    .bind(permission.as_str())
    .bind(org.as_str())
    .bind(at)
    .bind(at)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO audit_events (kind, org_id, user_id, actor, at) \
         VALUES ('UserCreated', ?, ?, ?, ?)",
    )
    .bind(org.as_str())
    .bind(user.as_str())
    .bind(user.as_str())
    .bind(at)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = db.open().await;

    let stored = store.find_permission(&permission).await.unwrap().unwrap();
    assert_eq!(stored.version, 0);
    assert_eq!(stored.name.as_str(), "Assigners");
    let snapshot = store.assigners(&org).await.unwrap();
    assert_eq!(snapshot.guard.version, 0);
    assert_eq!(snapshot.assigners, vec![]);
    let events = store.events(&org).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, AuditKind::UserCreated);
    assert_eq!(events[0].permission_id, None);
}

/// Migrates a new database at `db` with the migrations before 0004 only,
/// and answers a connection to it.
async fn database_before_registrations(db: &Db) -> SqliteConnection {
    let old = tempfile::tempdir().unwrap();
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for name in [
        "0001_orgs_users_and_one_time_records.sql",
        "0002_permission_versions_and_the_org_guard.sql",
        "0003_nonces.sql",
    ] {
        std::fs::copy(migrations.join(name), old.path().join(name)).unwrap();
    }
    let url = format!("sqlite://{}?mode=rwc", db.path().display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    Migrator::new(old.path()).await.unwrap().run(&mut conn).await.unwrap();
    conn
}

#[tokio::test]
async fn a_database_from_before_registrations_is_upgraded_with_its_credentials_and_challenges() {
    let db = Db::new();
    let mut conn = database_before_registrations(&db).await;
    let org = OrgId::from_random(&fresh_random());
    let user = UserId::from_random(&fresh_random());
    let uuid = CredentialUuid::from_random(&fresh_random());
    let at = T0.unix_millis();
    let statements = [
        format!("INSERT INTO orgs (id, name, created_at) VALUES ('{org}', 'acme', {at})"),
        format!(
            "INSERT INTO users (id, org_id, kind, username, username_key, credential_uuid, \
             is_registered, is_service_account, is_sso_required, state, created_at, version) \
             VALUES ('{user}', '{org}', 'EndUser', 'jane@x.io', 'jane@x.io', '{uuid}', 1, 0, 0, \
             'Active', {at}, 0)"
        ),
        format!(
            "INSERT INTO credentials (uuid, cred_id, user_id, org_id, kind, public_key_pem, \
             is_active, created_at) VALUES ('{uuid}', 'old-key', '{user}', '{org}', 'Key', \
             'PEM', 1, {at})"
        ),
        format!(
            "INSERT INTO challenges (id, challenge, purpose, org_id, user_id, issued_at) \
             VALUES ('old-login', 'c1', 'Login', '{org}', '{user}', {at})"
        ),
        format!(
            "INSERT INTO challenges (id, challenge, purpose, org_id, user_id, action_method, \
             action_path, action_payload, issued_at) VALUES ('old-action', 'c2', 'UserAction', \
             '{org}', '{user}', 'DELETE', '/auth/users/x', '', {at})"
        ),
    ];
    for sql in &statements {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();

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

    let purpose =
        ChallengePurpose::Registration { org_id: org, user_id: user, kind: CredentialKind::Fido2 };
    let registration = Challenge::issue(purpose, &[1; 32], &[2; 32], T0);
    store.insert_challenge(&registration).await.unwrap();
    let taken = store.take_challenge(&registration.id).await.unwrap();
    assert_eq!(taken, Some(registration));
}

#[tokio::test]
async fn the_schema_refuses_what_the_domain_cannot_read() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let (org, user) = (&acme.org.id, &acme.admin.id);
    let url = format!("sqlite://{}", db.path().display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();

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
        assert!(sqlx::query(&refused).execute(&mut conn).await.is_err(), "{refused}");
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_stored_credential_kind_that_does_not_parse_is_a_store_error() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;

    tamper(&db, "UPDATE credentials SET kind = 'Robot'").await;

    let found = store.find_credential(&acme.admin.id, &acme.credential.cred_id).await;
    let error = found.expect_err("an unknown kind is refused").to_string();
    assert!(error.contains("kind"), "{error}");
    assert!(store.list_credentials(&acme.admin.id).await.is_err());
}
