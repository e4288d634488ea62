//! Connecting, migrating, schemas of their own, the server's secrets, and
//! stored data that does not parse.

use domain::UserKind;
use ports::{PermissionRepository, SecretStore, UserRepository};
use store_postgres::PostgresStore;

use crate::fixtures::{Db, OrgFixture};

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

    let updated = store.update_user(&beyond, &event, None).await;

    assert!(matches!(updated, Err(ports::UpdateUserError::Store(_))), "{updated:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane));
}
