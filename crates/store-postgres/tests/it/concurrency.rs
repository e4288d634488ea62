//! Many callers at once, in two stores connected separately as two server
//! processes would be: each one-time record is spent by exactly one
//! caller, each version of a user is changed by exactly one writer, each
//! name is taken by exactly one insert, each `credId` of a user is
//! registered once, each counter value is reached by exactly one raise,
//! and each version of an org's guard is passed by exactly one change.

use std::sync::Arc;

use domain::{
    AuditKind, Caller, Challenge, ChallengePurpose, Operation, PermissionId, PermissionName,
    UserId, UserKind,
};
use ports::{
    AddCredentialError, AuditLog, Basis, InsertPermissionError, InsertUserError, OneTimeStore,
    PermissionRepository, SecretStore, UpdateUserError, UserRepository,
};
use store_postgres::PostgresStore;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::fixtures::{
    Db, OrgFixture, T0, by, event, fresh_random, new_user, passkey, registration, username,
};
use crate::one_time::grant;

/// How many callers race in each test.
pub(crate) const CALLERS: usize = 16;

/// Runs `CALLERS` calls of `call` at once, alternating between `stores`,
/// and returns every answer.
async fn all_at_once<T, F, Fut>(stores: &[PostgresStore; 2], call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize, PostgresStore) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let start = Arc::new(Barrier::new(CALLERS));
    let mut tasks = JoinSet::new();
    for i in 0..CALLERS {
        let start = Arc::clone(&start);
        let call = call(i, stores[i % 2].clone());
        tasks.spawn(async move {
            start.wait().await;
            call.await
        });
    }
    tasks.join_all().await
}

/// Two stores on one database, opened as two server processes would.
pub(crate) async fn two_processes(db: &Db) -> [PostgresStore; 2] {
    [db.open().await, db.open().await]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_action_spent_by_many_at_once_is_spent_once() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let grant = grant();
    stores[0].insert_user_action(&grant).await.unwrap();

    let spent = all_at_once(&stores, |_, store| {
        let token = grant.token.clone();
        async move { store.spend_user_action(&token, T0).await.unwrap() }
    })
    .await;

    assert_eq!(spent.iter().filter(|won| **won).count(), 1, "{spent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_challenge_taken_by_many_at_once_is_returned_once() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let grant = grant();
    let purpose = ChallengePurpose::Login { org_id: grant.org_id, user_id: grant.user_id };
    let challenge = Challenge::issue(purpose, &[1; 32], &[2; 32], T0);
    stores[1].insert_challenge(&challenge).await.unwrap();

    let taken = all_at_once(&stores, |_, store| {
        let id = challenge.id.clone();
        async move { store.take_challenge(&id).await.unwrap() }
    })
    .await;

    assert_eq!(taken.iter().flatten().collect::<Vec<_>>(), vec![&challenge]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_updates_from_one_version_exactly_one_is_stored() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let jane = acme.insert_user(&stores[0], "jane@example.com", UserKind::EndUser).await;
    let caller = acme.caller();

    let updated = all_at_once(&stores, |i, store| {
        // Half archive, half deactivate: the winner's change must be whole.
        let (changed, change) = if i % 4 < 2 {
            domain::archive_user(&caller, &jane, T0).unwrap()
        } else {
            domain::set_active(&caller, &jane, false, T0).unwrap().unwrap()
        };
        let basis = acme.basis();
        async move { store.update_user(&changed, &change, &basis).await.map(|()| changed) }
    })
    .await;

    let winners: Vec<_> = updated.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{updated:?}");
    for lost in updated.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(lost, UpdateUserError::Conflict), "{lost:?}");
    }
    let stored = stores[1].find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(stored.state, winners[0].state);
    assert_eq!(stored.version, 1);
    let events = stores[1].events(&acme.org.id).await.unwrap();
    assert_eq!(events.len(), 3, "the org, jane, and one change");
    assert_ne!(events[2].kind, AuditKind::UserCreated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_guarded_changes_from_one_guard_version_exactly_one_is_stored() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let mut members = Vec::new();
    for i in 0..CALLERS {
        let name = format!("member{i}@example.com");
        members.push(acme.insert_user(&stores[0], &name, UserKind::CustomerEmployee).await);
    }
    let guard = stores[1].assigners(&acme.org.id).await.unwrap().guard;
    let caller = acme.caller();

    // Each deactivates another user, so only the guard can refuse them.
    let updated = all_at_once(&stores, |i, store| {
        let (inactive, change) =
            domain::set_active(&caller, &members[i], false, T0).unwrap().unwrap();
        let basis = acme.guarded(guard.clone());
        async move { store.update_user(&inactive, &change, &basis).await }
    })
    .await;

    assert_eq!(updated.iter().filter(|r| r.is_ok()).count(), 1, "{updated:?}");
    for lost in updated.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(lost, UpdateUserError::Conflict), "{lost:?}");
    }
    let listed = stores[0].list_users(&acme.org.id, None, None, 100).await.unwrap();
    assert_eq!(listed.users.iter().filter(|u| !u.is_active()).count(), 1);
    assert_eq!(stores[0].assigners(&acme.org.id).await.unwrap().guard.version, 1);
    let events = stores[1].events(&acme.org.id).await.unwrap();
    assert_eq!(events.len(), 1 + CALLERS + 1, "the org, the members, and one change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_inserts_of_one_name_at_once_exactly_one_is_stored() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    // One user name in case and Unicode variants: composed and decomposed
    // é, upper and lower case.
    let spellings = [
        "jos\u{e9}@example.com",
        "jose\u{301}@example.com",
        "JOS\u{c9}@Example.com",
        "Jose\u{301}@EXAMPLE.COM",
    ];

    let inserted = all_at_once(&stores, |i, store| {
        let user = new_user(&acme.org.id, spellings[i % spellings.len()], UserKind::EndUser);
        let created = event(AuditKind::UserCreated, &user, &acme.admin.id, T0);
        let basis = acme.basis();
        async move { store.insert_user(&user, &[], &created, &basis).await.map(|()| user) }
    })
    .await;

    let winners: Vec<_> = inserted.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{inserted:?}");
    for lost in inserted.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(lost, InsertUserError::UsernameTaken), "{lost:?}");
    }
    let name = username("jos\u{c9}@EXAMPLE.com");
    let found = stores[1].find_user_by_username(&acme.org.id, &name).await.unwrap();
    assert_eq!(found.as_ref(), Some(winners[0]));
    assert_eq!(stores[1].events(&acme.org.id).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_inserts_of_one_permission_name_at_once_exactly_one_is_stored() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let caller = acme.caller();

    let inserted = all_at_once(&stores, |_, store| {
        let id = PermissionId::from_random(&fresh_random());
        let name = PermissionName::parse("Readers").unwrap();
        let (readers, created) =
            domain::create_permission(&caller, id, name, vec![Operation::ReadUser], T0);
        let basis = acme.basis();
        async move { store.insert_permission(&readers, &created, &basis).await.map(|()| readers) }
    })
    .await;

    let winners: Vec<_> = inserted.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{inserted:?}");
    for lost in inserted.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(lost, InsertPermissionError::NameTaken), "{lost:?}");
    }
    let listed = stores[1].list_permissions(&acme.org.id, None, 100).await.unwrap();
    assert_eq!(listed.permissions.len(), 2, "OrgAdmin and one Readers");
    assert_eq!(stores[1].events(&acme.org.id).await.unwrap().len(), 2);
}

/// Deactivates `target` as the use cases do: decides on a fresh picture of
/// the org's assigners, refuses when `target` is the last, and decides again
/// when the guard or the user changed meanwhile. Answers whether `target`
/// was deactivated.
async fn deactivate_unless_last(store: &PostgresStore, caller: &Caller, target: &UserId) -> bool {
    loop {
        let snapshot = store.assigners(caller.org_id()).await.unwrap();
        if domain::keep_an_assigner(&snapshot.assigners, std::slice::from_ref(target)).is_err() {
            return false;
        }
        let current = store.find_user(target).await.unwrap().unwrap();
        let (inactive, change) = domain::set_active(caller, &current, false, T0).unwrap().unwrap();
        let basis = Basis { guard: Some(snapshot.guard), ..by(caller.user()) };
        match store.update_user(&inactive, &change, &basis).await {
            Ok(()) => return true,
            Err(UpdateUserError::Conflict) => continue,
            Err(error) => panic!("{error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deactivating_every_assigner_at_once_leaves_exactly_one() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let assign =
        acme.create_permission(&stores[0], "Assigners", &[Operation::AssignPermission]).await;
    let mut targets = vec![acme.admin.id.clone()];
    for i in 1..CALLERS {
        let name = format!("assigner{i}@example.com");
        let mut member = new_user(&acme.org.id, &name, UserKind::CustomerEmployee);
        member.assignments.push(crate::fixtures::assignment(&assign));
        let created = event(AuditKind::UserCreated, &member, &acme.admin.id, T0);
        stores[0].insert_user(&member, &[], &created, &acme.basis()).await.unwrap();
        targets.push(member.id);
    }
    // The operator holds no permission, so every assigner is a target.
    let operator = acme.insert_user(&stores[0], "operator@example.com", UserKind::EndUser).await;
    let operator = Caller::from_token_subject(operator, &acme.org.id).unwrap();

    let deactivated = all_at_once(&stores, |i, store| {
        let (operator, target) = (operator.clone(), targets[i].clone());
        async move { deactivate_unless_last(&store, &operator, &target).await }
    })
    .await;

    assert_eq!(deactivated.iter().filter(|done| !**done).count(), 1, "{deactivated:?}");
    let left = stores[1].assigners(&acme.org.id).await.unwrap();
    assert_eq!(left.assigners.len(), 1, "{left:?}");
    assert_eq!(left.guard.version, u64::try_from(CALLERS - 1).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_registrations_of_one_cred_id_from_one_version_exactly_one_is_stored() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let jane = acme.insert_user(&stores[0], "jane@example.com", UserKind::EndUser).await;

    let added = all_at_once(&stores, |_, store| {
        let key = passkey(&jane, "racing-passkey", T0);
        let (registered, event) = registration(&jane, &key);
        async move { store.add_credential(&registered, &key, &event).await.map(|()| key) }
    })
    .await;

    let winners: Vec<_> = added.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{added:?}");
    for lost in added.iter().filter_map(|r| r.as_ref().err()) {
        let expected =
            matches!(lost, AddCredentialError::Conflict | AddCredentialError::CredIdTaken);
        assert!(expected, "{lost:?}");
    }
    assert_eq!(stores[1].list_credentials(&jane.id).await.unwrap(), vec![winners[0].clone()]);
    let stored = stores[1].find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(stored.credential_uuid.as_ref(), Some(&winners[0].uuid));
    assert_eq!(stored.version, 1);
    let events = stores[1].events(&acme.org.id).await.unwrap();
    assert_eq!(events.len(), 3, "the org, jane, and one registration");
    assert_eq!(events[2].kind, AuditKind::CredentialCreated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_raises_of_one_counter_to_one_value_exactly_one_succeeds() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let key = passkey(&acme.admin, "passkey-1", T0);
    let (registered, event) = registration(&acme.admin, &key);
    stores[0].add_credential(&registered, &key, &event).await.unwrap();

    let raised = all_at_once(&stores, |_, store| {
        let uuid = key.uuid.clone();
        async move { store.advance_sign_count(&uuid, 9).await.unwrap() }
    })
    .await;

    assert_eq!(raised.iter().filter(|won| **won).count(), 1, "{raised:?}");
    let found = stores[1].find_credential(&acme.admin.id, &key.cred_id).await.unwrap();
    assert_eq!(found.map(|c| c.sign_count), Some(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_process_gets_the_signing_key_that_was_stored_first() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;

    let keys = all_at_once(&stores, |i, store| async move {
        store.token_signing_key(&[u8::try_from(i).unwrap(); 48]).await.unwrap()
    })
    .await;

    let first = &keys[0];
    assert!(keys.iter().all(|key| key == first), "{keys:?}");
    assert_eq!(&stores[0].token_signing_key(b"another").await.unwrap(), first);
}
