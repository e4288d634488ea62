//! Credentials registered after a user was created: compare-and-set on the
//! user's version, one `credId` per user, the audit event with the change,
//! and signature counters that only grow.

use domain::{AuditKind, Caller, Duration, User, register_credential};
use ports::{AddCredentialError, AuditLog, UserRepository};
use store_memory::MemoryStore;

use crate::support::{NOW, create_org, created, credential, operator, org_id, passkey, user};

/// Inserts `user` without credentials, as a user that must still register.
async fn insert(store: &MemoryStore, user: &User) {
    store.insert_user(user, &[], &created(user), &operator(store).await).await.unwrap();
}

/// `user` as the caller that registers its own credential.
fn caller(user: &User) -> Caller {
    Caller::from_token_subject(user.clone(), &user.org_id).unwrap()
}

#[tokio::test]
async fn a_registration_stores_the_credential_marks_the_user_and_writes_its_event() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    insert(&store, &jane).await;
    let key = passkey(&jane, 10, "passkey-1", NOW);
    let (registered, event) = register_credential(&caller(&jane), &key, NOW).unwrap();

    store.add_credential(&registered, &key, &event).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert!(stored.is_registered);
    assert_eq!(stored.credential_uuid, Some(key.uuid.clone()));
    assert_eq!(stored.version, 1);
    assert_eq!(store.find_credential(&jane.id, &key.cred_id).await.unwrap(), Some(key.clone()));
    assert_eq!(store.list_credentials(&jane.id).await.unwrap(), vec![key]);
    let events = store.events(&jane.org_id).await.unwrap();
    assert_eq!(events.last(), Some(&event));
    assert_eq!(events.last().unwrap().kind, AuditKind::CredentialCreated);
}

#[tokio::test]
async fn credentials_are_listed_oldest_first_and_the_first_stays_primary() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let admin = &org.admin;
    let first = store.list_credentials(&admin.id).await.unwrap();
    let later = passkey(admin, 20, "passkey-2", NOW.plus(Duration::from_seconds(1)));
    let (registered, event) = register_credential(&org.caller(), &later, NOW).unwrap();

    store.add_credential(&registered, &later, &event).await.unwrap();

    let listed = store.list_credentials(&admin.id).await.unwrap();
    assert_eq!(listed, [first.clone(), vec![later]].concat());
    let stored = store.find_user(&admin.id).await.unwrap().unwrap();
    assert_eq!(stored.credential_uuid, Some(first[0].uuid.clone()));
    assert_eq!(stored.assignments, admin.assignments, "the assignments stay");
}

#[tokio::test]
async fn a_registration_decided_on_a_stale_version_is_a_conflict_and_changes_nothing() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    insert(&store, &jane).await;
    let first = passkey(&jane, 10, "passkey-1", NOW);
    let (registered, event) = register_credential(&caller(&jane), &first, NOW).unwrap();
    store.add_credential(&registered, &first, &event).await.unwrap();
    let before = store.find_user(&jane.id).await.unwrap();
    let events_before = store.events(&jane.org_id).await.unwrap();

    // Decided on version 0, which is no longer the stored version.
    let second = passkey(&jane, 11, "passkey-2", NOW);
    let (stale, event) = register_credential(&caller(&jane), &second, NOW).unwrap();
    let result = store.add_credential(&stale, &second, &event).await;

    assert!(matches!(result, Err(AddCredentialError::Conflict)), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), before);
    assert_eq!(store.find_credential(&jane.id, &second.cred_id).await.unwrap(), None);
    assert_eq!(store.events(&jane.org_id).await.unwrap(), events_before);
}

#[tokio::test]
async fn a_cred_id_the_user_has_is_taken_and_nothing_changes() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    let key = credential(&jane, 5, false);
    store
        .insert_user(&jane, std::slice::from_ref(&key), &created(&jane), &operator(&store).await)
        .await
        .unwrap();
    let events_before = store.events(&jane.org_id).await.unwrap();

    // Even an inactive credential keeps its id.
    let again = passkey(&jane, 10, key.cred_id.as_str(), NOW);
    let (registered, event) = register_credential(&caller(&jane), &again, NOW).unwrap();
    let result = store.add_credential(&registered, &again, &event).await;

    assert!(matches!(result, Err(AddCredentialError::CredIdTaken)), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane.clone()));
    assert_eq!(store.find_credential(&jane.id, &key.cred_id).await.unwrap(), Some(key));
    assert_eq!(store.events(&jane.org_id).await.unwrap(), events_before);
}

#[tokio::test]
async fn another_user_may_register_the_same_cred_id() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    let john = user(&org_id(1), 2, "john@x.io");
    insert(&store, &jane).await;
    insert(&store, &john).await;
    let hers = passkey(&jane, 10, "shared", NOW);
    let his = passkey(&john, 11, "shared", NOW);

    for (owner, key) in [(&jane, &hers), (&john, &his)] {
        let (registered, event) = register_credential(&caller(owner), key, NOW).unwrap();
        store.add_credential(&registered, key, &event).await.unwrap();
    }

    let found = store.find_credential(&john.id, &his.cred_id).await.unwrap();
    assert_eq!(found, Some(his));
    assert_eq!(store.find_credential(&jane.id, &hers.cred_id).await.unwrap(), Some(hers));
}

#[tokio::test]
async fn a_registration_for_an_unknown_user_is_a_conflict() {
    let store = MemoryStore::new();
    let ghost = user(&org_id(1), 1, "ghost@x.io");
    let key = passkey(&ghost, 10, "passkey-1", NOW);
    let (registered, event) = register_credential(&caller(&ghost), &key, NOW).unwrap();

    let result = store.add_credential(&registered, &key, &event).await;

    assert!(matches!(result, Err(AddCredentialError::Conflict)), "{result:?}");
    assert_eq!(store.find_credential(&ghost.id, &key.cred_id).await.unwrap(), None);
}

#[tokio::test]
async fn a_credential_of_someone_else_or_a_reused_uuid_is_a_store_error() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    let john = user(&org_id(1), 2, "john@x.io");
    insert(&store, &jane).await;
    insert(&store, &john).await;
    let hers = passkey(&jane, 10, "passkey-1", NOW);
    let (registered, event) = register_credential(&caller(&jane), &hers, NOW).unwrap();
    store.add_credential(&registered, &hers, &event).await.unwrap();

    let (john_registered, event) = register_credential(&caller(&john), &hers, NOW).unwrap();
    let foreign = store.add_credential(&john_registered, &hers, &event).await;
    let reused = passkey(&john, 10, "passkey-2", NOW);
    let reuse = store.add_credential(&john_registered, &reused, &event).await;

    assert!(matches!(foreign, Err(AddCredentialError::Store(_))), "{foreign:?}");
    assert!(matches!(reuse, Err(AddCredentialError::Store(_))), "{reuse:?}");
    assert_eq!(store.find_user(&john.id).await.unwrap(), Some(john.clone()));
    assert_eq!(store.list_credentials(&john.id).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_sign_count_only_grows() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    insert(&store, &jane).await;
    let key = passkey(&jane, 10, "passkey-1", NOW);
    let (registered, event) = register_credential(&caller(&jane), &key, NOW).unwrap();
    store.add_credential(&registered, &key, &event).await.unwrap();
    let count = |store: MemoryStore| {
        let (user, cred_id) = (jane.id.clone(), key.cred_id.clone());
        async move { store.find_credential(&user, &cred_id).await.unwrap().unwrap().sign_count }
    };

    assert!(!store.advance_sign_count(&key.uuid, 3).await.unwrap(), "equal");
    assert!(!store.advance_sign_count(&key.uuid, 2).await.unwrap(), "lower");
    assert_eq!(count(store.clone()).await, 3);
    assert!(store.advance_sign_count(&key.uuid, 4).await.unwrap());
    assert_eq!(count(store.clone()).await, 4);
    assert!(store.advance_sign_count(&key.uuid, u32::MAX).await.unwrap());
    assert!(!store.advance_sign_count(&key.uuid, u32::MAX).await.unwrap());
    assert_eq!(count(store.clone()).await, u32::MAX);
}

#[tokio::test]
async fn a_sign_count_of_an_unknown_credential_is_not_raised() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");

    let raised = store.advance_sign_count(&passkey(&jane, 10, "x", NOW).uuid, 1).await.unwrap();

    assert!(!raised);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_registrations_of_one_cred_id_store_one_credential() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    insert(&store, &jane).await;

    let mut racers = tokio::task::JoinSet::new();
    for seed in 0..64 {
        let store = store.clone();
        let key = passkey(&jane, 100 + seed, "racing", NOW);
        let (registered, event) = register_credential(&caller(&jane), &key, NOW).unwrap();
        racers.spawn(async move { store.add_credential(&registered, &key, &event).await });
    }
    let outcomes = racers.join_all().await;

    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1, "{outcomes:?}");
    for lost in outcomes.iter().filter_map(|r| r.as_ref().err()) {
        let expected =
            matches!(lost, AddCredentialError::Conflict | AddCredentialError::CredIdTaken);
        assert!(expected, "{lost:?}");
    }
    assert_eq!(store.list_credentials(&jane.id).await.unwrap().len(), 1);
    assert_eq!(store.events(&jane.org_id).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_raises_to_one_count_succeed_once() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    insert(&store, &jane).await;
    let key = passkey(&jane, 10, "passkey-1", NOW);
    let (registered, event) = register_credential(&caller(&jane), &key, NOW).unwrap();
    store.add_credential(&registered, &key, &event).await.unwrap();

    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (store, uuid) = (store.clone(), key.uuid.clone());
        racers.spawn(async move { store.advance_sign_count(&uuid, 9).await.unwrap() });
    }
    let raised = racers.join_all().await;

    assert_eq!(raised.iter().filter(|won| **won).count(), 1);
}
