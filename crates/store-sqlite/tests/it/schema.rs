//! Opening databases, migrating them, the server's secrets, and stored data
//! that does not parse.

use domain::{AuditKind, OrgId, PermissionId, UserId, UserKind};
use ports::{AuditLog, PermissionRepository, SecretStore, UserRepository};
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
