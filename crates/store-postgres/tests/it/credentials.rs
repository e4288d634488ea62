//! Credentials registered after their user was created: every field read
//! back as written, compare-and-set on the user's version, one `credId` per
//! user, the audit event in the transaction of the change, and signature
//! counters that only grow.

use domain::{AuditKind, Credential, Duration, UserKind};
use ports::{AddCredentialError, AuditLog, UserRepository};

use crate::fixtures::{Db, OrgFixture, T0, key_credential, passkey, registration};

#[tokio::test]
async fn a_registration_stores_the_credential_marks_the_user_and_writes_its_event() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    let key = passkey(&jane, "passkey-1", T0);
    let (registered, event) = registration(&jane, &key);

    store.add_credential(&registered, &key, &event).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert!(stored.is_registered);
    assert_eq!(stored.credential_uuid, Some(key.uuid.clone()));
    assert_eq!(stored.version, 1);
    assert_eq!(store.find_credential(&jane.id, &key.cred_id).await.unwrap(), Some(key.clone()));
    assert_eq!(store.list_credentials(&jane.id).await.unwrap(), vec![key]);
    let events = store.events(&acme.org.id).await.unwrap();
    assert_eq!(events.last(), Some(&event));
    assert_eq!(event.kind, AuditKind::CredentialCreated);
}

#[tokio::test]
async fn credentials_are_listed_oldest_first_and_the_first_stays_primary() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let later = passkey(&acme.admin, "passkey-2", T0.plus(Duration::from_seconds(1)));
    let (registered, event) = registration(&acme.admin, &later);

    store.add_credential(&registered, &later, &event).await.unwrap();

    let listed = store.list_credentials(&acme.admin.id).await.unwrap();
    assert_eq!(listed, vec![acme.credential.clone(), later]);
    let stored = store.find_user(&acme.admin.id).await.unwrap().unwrap();
    assert_eq!(stored.credential_uuid, Some(acme.credential.uuid.clone()));
    assert_eq!(stored.assignments, acme.admin.assignments, "the assignments stay");
}

#[tokio::test]
async fn a_registration_decided_on_a_stale_version_is_a_conflict_and_changes_nothing() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    let first = passkey(&jane, "passkey-1", T0);
    let (registered, event) = registration(&jane, &first);
    store.add_credential(&registered, &first, &event).await.unwrap();
    let before = store.find_user(&jane.id).await.unwrap();
    let events_before = store.events(&acme.org.id).await.unwrap();

    // Decided on version 0, which is no longer the stored version.
    let second = passkey(&jane, "passkey-2", T0);
    let (stale, event) = registration(&jane, &second);
    let result = store.add_credential(&stale, &second, &event).await;

    assert!(matches!(result, Err(AddCredentialError::Conflict)), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), before);
    assert_eq!(store.find_credential(&jane.id, &second.cred_id).await.unwrap(), None);
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
}

#[tokio::test]
async fn a_cred_id_the_user_has_is_taken_and_nothing_changes() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let events_before = store.events(&acme.org.id).await.unwrap();

    let again = passkey(&acme.admin, acme.credential.cred_id.as_str(), T0);
    let (registered, event) = registration(&acme.admin, &again);
    let result = store.add_credential(&registered, &again, &event).await;

    assert!(matches!(result, Err(AddCredentialError::CredIdTaken)), "{result:?}");
    assert_eq!(store.find_user(&acme.admin.id).await.unwrap(), Some(acme.admin.clone()));
    let found = store.find_credential(&acme.admin.id, &acme.credential.cred_id).await.unwrap();
    assert_eq!(found, Some(acme.credential));
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
}

#[tokio::test]
async fn another_user_may_register_the_same_cred_id() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    let john = acme.insert_user(&store, "john@example.com", UserKind::EndUser).await;
    let hers = passkey(&jane, "shared", T0);
    let his = passkey(&john, "shared", T0);

    for (owner, key) in [(&jane, &hers), (&john, &his)] {
        let (registered, event) = registration(owner, key);
        store.add_credential(&registered, key, &event).await.unwrap();
    }

    assert_eq!(store.find_credential(&john.id, &his.cred_id).await.unwrap(), Some(his));
    assert_eq!(store.find_credential(&jane.id, &hers.cred_id).await.unwrap(), Some(hers));
}

#[tokio::test]
async fn a_registration_for_an_unknown_user_is_a_conflict() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let ghost = crate::fixtures::new_user(&acme.org.id, "ghost@example.com", UserKind::EndUser);
    let key = passkey(&ghost, "passkey-1", T0);
    let (registered, event) = registration(&ghost, &key);

    let result = store.add_credential(&registered, &key, &event).await;

    assert!(matches!(result, Err(AddCredentialError::Conflict)), "{result:?}");
    assert_eq!(store.find_credential(&ghost.id, &key.cred_id).await.unwrap(), None);
}

#[tokio::test]
async fn a_reused_credential_uuid_is_a_store_error_and_changes_nothing() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    let reused =
        Credential { uuid: acme.credential.uuid.clone(), ..passkey(&jane, "passkey-1", T0) };
    let (registered, event) = registration(&jane, &reused);

    let result = store.add_credential(&registered, &reused, &event).await;

    assert!(matches!(result, Err(AddCredentialError::Store(_))), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane.clone()));
    assert_eq!(store.list_credentials(&jane.id).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_sign_count_only_grows_up_to_the_largest_counter() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let key = passkey(&acme.admin, "passkey-1", T0);
    let (registered, event) = registration(&acme.admin, &key);
    store.add_credential(&registered, &key, &event).await.unwrap();
    let count = || async {
        let found = store.find_credential(&acme.admin.id, &key.cred_id).await.unwrap();
        found.unwrap().sign_count
    };

    assert!(!store.advance_sign_count(&key.uuid, 3).await.unwrap(), "equal");
    assert!(!store.advance_sign_count(&key.uuid, 2).await.unwrap(), "lower");
    assert_eq!(count().await, 3);
    assert!(store.advance_sign_count(&key.uuid, 4).await.unwrap());
    assert_eq!(count().await, 4);
    assert!(store.advance_sign_count(&key.uuid, u32::MAX).await.unwrap());
    assert!(!store.advance_sign_count(&key.uuid, u32::MAX).await.unwrap());
    assert_eq!(count().await, u32::MAX);
    // The key the admin was created with keeps no counter of its own.
    assert!(store.advance_sign_count(&acme.credential.uuid, 1).await.unwrap());
    let listed = store.list_credentials(&acme.admin.id).await.unwrap();
    assert_eq!(listed.iter().map(|c| c.sign_count).collect::<Vec<_>>(), [1, u32::MAX]);
}

#[tokio::test]
async fn a_sign_count_of_an_unknown_credential_is_not_raised() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let never_stored = key_credential(&acme.admin, "never-stored");

    let raised = store.advance_sign_count(&never_stored.uuid, 1).await.unwrap();

    assert!(!raised);
}
