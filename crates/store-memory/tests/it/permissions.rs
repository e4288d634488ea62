//! Permissions: unique live names, compare-and-set updates, archives that
//! end assignments, the assigners of an org and the guard that orders the
//! changes deciding on them.

use std::collections::BTreeSet;

use domain::{
    AssignmentId, AuditKind, Duration, Operation, Permission, PermissionId, PermissionName,
    Timestamp, User, UserId, archive_permission, archive_user, assign_permission,
    revoke_assignment, set_active,
};
use ports::{
    AuditLog, InsertPermissionError, OrgGuard, PermissionRepository, UpdatePermissionError,
    UpdateUserError, UserRepository,
};
use store_memory::MemoryStore;

use crate::support::{NOW, NewOrg, create_org, create_permission, created, random, user};

fn name(name: &str) -> PermissionName {
    PermissionName::parse(name).unwrap()
}

fn later(seconds: i64) -> Timestamp {
    NOW.plus(Duration::from_seconds(seconds))
}

/// Inserts an active user of `org` without assignments.
async fn member(store: &MemoryStore, org: &NewOrg, seed: u32, username: &str) -> User {
    let member = user(&org.id, seed, username);
    store.insert_user(&member, &[], &created(&member), &org.basis()).await.unwrap();
    member
}

/// Assigns `permission` to the stored user `holder` at `at`, as the
/// permissions API does, and answers the user as stored afterwards.
async fn assign(
    store: &MemoryStore,
    org: &NewOrg,
    permission: &Permission,
    holder: &UserId,
    seed: u32,
    at: Timestamp,
) -> User {
    let current = store.find_user(holder).await.unwrap().unwrap();
    let id = AssignmentId::from_random(&random(seed));
    let (assigned, event) = assign_permission(&org.caller(), permission, &current, id, at).unwrap();
    store.update_user(&assigned, &event, &org.basis()).await.unwrap();
    store.find_user(holder).await.unwrap().unwrap()
}

/// Deactivates the stored user `target` under `guard`.
async fn deactivate(
    store: &MemoryStore,
    org: &NewOrg,
    target: &UserId,
    guard: &OrgGuard,
) -> Result<(), UpdateUserError> {
    let current = store.find_user(target).await.unwrap().unwrap();
    let (inactive, event) = set_active(&org.caller(), &current, false, NOW).unwrap().unwrap();
    store.update_user(&inactive, &event, &org.guarded(guard.clone())).await
}

#[tokio::test]
async fn a_created_org_stores_its_admin_permission_and_guard_at_version_zero() {
    let store = MemoryStore::new();

    let org = create_org(&store, 1).await;

    let stored = store.find_permission(&org.admin_permission.id).await.unwrap();
    assert_eq!(stored, Some(org.admin_permission.clone()));
    assert_eq!(org.admin_permission.version, 0);
    let snapshot = store.assigners(&org.id).await.unwrap();
    assert_eq!(snapshot.guard, OrgGuard { org_id: org.id.clone(), version: 0 });
    assert_eq!(snapshot.assigners, vec![org.admin.id.clone()]);
}

#[tokio::test]
async fn an_inserted_permission_is_found_and_its_event_names_it() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let id = PermissionId::from_random(&random(100));
    let operations = vec![Operation::ReadUser, Operation::CreateUser];
    let (readers, event) =
        domain::create_permission(&org.caller(), id, name("Readers"), operations, NOW);

    store.insert_permission(&readers, &event, &org.basis()).await.unwrap();

    assert_eq!(store.find_permission(&readers.id).await.unwrap(), Some(readers.clone()));
    let events = store.events(&org.id).await.unwrap();
    assert_eq!(events.last(), Some(&event));
    assert_eq!(event.permission_id, Some(readers.id));
    assert_eq!(event.kind, AuditKind::PermissionCreated);
}

#[tokio::test]
async fn an_unknown_permission_is_not_found() {
    let store = MemoryStore::new();
    create_org(&store, 1).await;

    let found = store.find_permission(&PermissionId::from_random(&random(100))).await.unwrap();

    assert_eq!(found, None);
}

#[tokio::test]
async fn a_live_name_is_taken_and_nothing_is_stored() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    create_permission(&store, &org, 100, "Readers", &[Operation::ReadUser]).await;
    let events_before = store.events(&org.id).await.unwrap();
    let id = PermissionId::from_random(&random(101));
    let (clash, event) = domain::create_permission(&org.caller(), id, name("Readers"), vec![], NOW);

    let result = store.insert_permission(&clash, &event, &org.basis()).await;

    assert!(matches!(result, Err(InsertPermissionError::NameTaken)), "{result:?}");
    assert_eq!(store.find_permission(&clash.id).await.unwrap(), None);
    assert_eq!(store.events(&org.id).await.unwrap(), events_before);
    let listed = store.list_permissions(&org.id, None, 10).await.unwrap();
    assert_eq!(listed.permissions.len(), 2, "OrgAdmin and the first Readers");
}

#[tokio::test]
async fn the_same_name_is_free_in_another_org() {
    let store = MemoryStore::new();
    let one = create_org(&store, 1).await;
    let two = create_org(&store, 2).await;
    create_permission(&store, &one, 100, "Readers", &[Operation::ReadUser]).await;

    let other = create_permission(&store, &two, 101, "Readers", &[Operation::ReadUser]).await;

    assert_eq!(store.find_permission(&other.id).await.unwrap(), Some(other));
}

#[tokio::test]
async fn an_archived_permission_frees_its_name() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let old = create_permission(&store, &org, 100, "Readers", &[Operation::ReadUser]).await;
    let (archived, event) = archive_permission(&org.caller(), &old, NOW).unwrap();
    store.update_permission(&archived, &event, &org.basis()).await.unwrap();

    let new = create_permission(&store, &org, 101, "Readers", &[Operation::ReadUser]).await;

    let stored_old = store.find_permission(&old.id).await.unwrap().unwrap();
    assert!(stored_old.is_archived);
    assert_eq!(stored_old.version, 1);
    assert_eq!(stored_old.name, name("Readers"));
    assert_eq!(store.find_permission(&new.id).await.unwrap(), Some(new));
}

#[tokio::test]
async fn an_update_bumps_the_version_and_a_stale_one_changes_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let readers = create_permission(&store, &org, 100, "Readers", &[Operation::ReadUser]).await;
    let caller = org.caller();
    let (renamed, event) =
        domain::update_permission(&caller, &readers, Some(name("Viewers")), None, later(1))
            .unwrap();
    store.update_permission(&renamed, &event, &org.basis()).await.unwrap();
    let after_first = store.find_permission(&readers.id).await.unwrap().unwrap();
    let events_before = store.events(&org.id).await.unwrap();

    // Decided on version 0, which is no longer the stored version.
    let (archived, archive_event) = archive_permission(&caller, &readers, later(2)).unwrap();
    let result = store.update_permission(&archived, &archive_event, &org.basis()).await;

    assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{result:?}");
    assert_eq!(after_first, Permission { version: 1, ..renamed });
    assert_eq!(store.find_permission(&readers.id).await.unwrap(), Some(after_first));
    assert_eq!(store.events(&org.id).await.unwrap(), events_before);
    assert_eq!(events_before.last(), Some(&event));
}

#[tokio::test]
async fn an_update_of_an_unknown_permission_is_a_conflict() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let id = PermissionId::from_random(&random(100));
    let (ghost, event) = domain::create_permission(&org.caller(), id, name("Ghost"), vec![], NOW);

    let result = store.update_permission(&ghost, &event, &org.basis()).await;

    assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{result:?}");
    assert_eq!(store.find_permission(&ghost.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_rename_to_a_live_name_is_taken_and_changes_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let readers = create_permission(&store, &org, 100, "Readers", &[Operation::ReadUser]).await;
    create_permission(&store, &org, 101, "Writers", &[Operation::CreateUser]).await;
    let events_before = store.events(&org.id).await.unwrap();
    let (clash, event) =
        domain::update_permission(&org.caller(), &readers, Some(name("Writers")), None, NOW)
            .unwrap();

    let result = store.update_permission(&clash, &event, &org.basis()).await;

    assert!(matches!(result, Err(UpdatePermissionError::NameTaken)), "{result:?}");
    assert_eq!(store.find_permission(&readers.id).await.unwrap(), Some(readers.clone()));
    assert_eq!(store.events(&org.id).await.unwrap(), events_before);
    // The name it failed to take stays with its holder; its own is kept.
    let id = PermissionId::from_random(&random(102));
    let (again, event) = domain::create_permission(&org.caller(), id, name("Readers"), vec![], NOW);
    let result = store.insert_permission(&again, &event, &org.basis()).await;
    assert!(matches!(result, Err(InsertPermissionError::NameTaken)), "{result:?}");
}

#[tokio::test]
async fn archiving_a_permission_ends_its_assignments_on_every_holder() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let readers = create_permission(&store, &org, 100, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let bob = member(&store, &org, 2, "bob@x.io").await;
    assign(&store, &org, &readers, &jane.id, 10, NOW).await;
    assign(&store, &org, &readers, &bob.id, 11, NOW).await;
    assign(&store, &org, &org.admin_permission, &bob.id, 12, NOW).await;
    let (archived, event) = archive_permission(&org.caller(), &readers, later(1)).unwrap();

    store.update_permission(&archived, &event, &org.basis()).await.unwrap();

    let jane_now = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(jane_now.assignments, vec![]);
    let bob_now = store.find_user(&bob.id).await.unwrap().unwrap();
    let held: Vec<_> = bob_now.assignments.iter().map(|a| a.permission_id.clone()).collect();
    assert_eq!(held, vec![org.admin_permission.id.clone()]);
    assert_eq!(store.list_assignments(&readers.id).await.unwrap(), vec![]);
    let listed = store.list_users(&org.id, None, None, 10).await.unwrap();
    assert!(
        listed.users.iter().all(|u| u.assignments.iter().all(|a| a.permission_id != readers.id))
    );
    assert_eq!(store.events(&org.id).await.unwrap().last(), Some(&event));
}

#[tokio::test]
async fn an_assignment_of_a_permission_archived_meanwhile_is_a_conflict() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let readers = create_permission(&store, &org, 100, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    // Decided on the live permission, stored after it was archived.
    let id = AssignmentId::from_random(&random(10));
    let (assigned, assigned_event) =
        assign_permission(&org.caller(), &readers, &jane, id, NOW).unwrap();
    let (archived, event) = archive_permission(&org.caller(), &readers, NOW).unwrap();
    store.update_permission(&archived, &event, &org.basis()).await.unwrap();

    let result = store.update_user(&assigned, &assigned_event, &org.basis()).await;

    assert!(matches!(result, Err(UpdateUserError::Conflict)), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane));
}

#[tokio::test]
async fn an_update_of_a_permissions_operations_shows_on_its_holders_at_once() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let role = create_permission(&store, &org, 100, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let before = assign(&store, &org, &role, &jane.id, 10, NOW).await;
    assert!(!before.holds(Operation::DeleteUser));
    let operations = vec![Operation::ReadUser, Operation::DeleteUser];
    let (changed, event) = domain::update_permission(
        &org.caller(),
        &role,
        Some(name("Archivists")),
        Some(operations.clone()),
        later(1),
    )
    .unwrap();

    store.update_permission(&changed, &event, &org.basis()).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(stored.assignments.len(), 1);
    assert_eq!(stored.assignments[0].permission_name, "Archivists");
    assert_eq!(stored.assignments[0].operations, operations);
    assert!(stored.holds(Operation::DeleteUser));
    let by_name = store.find_user_by_username(&org.id, &jane.username).await.unwrap();
    assert_eq!(by_name, Some(stored));
}

#[tokio::test]
async fn the_live_assignments_of_a_permission_are_listed_oldest_first() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let readers = create_permission(&store, &org, 100, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let bob = member(&store, &org, 2, "bob@x.io").await;
    let carol = member(&store, &org, 3, "carol@x.io").await;
    let dave = member(&store, &org, 4, "dave@x.io").await;
    // Bob and carol at the same moment: the first stored is the older.
    assign(&store, &org, &readers, &bob.id, 20, later(5)).await;
    assign(&store, &org, &readers, &carol.id, 10, later(5)).await;
    assign(&store, &org, &readers, &jane.id, 30, later(1)).await;
    let dave_now = assign(&store, &org, &readers, &dave.id, 40, later(9)).await;
    let dave_assignment = AssignmentId::from_random(&random(40));
    let (revoked, event) =
        revoke_assignment(&org.caller(), &readers, &dave_now, &dave_assignment, later(10)).unwrap();
    store.update_user(&revoked, &event, &org.basis()).await.unwrap();

    let listed = store.list_assignments(&readers.id).await.unwrap();

    let holders: Vec<_> = listed.iter().map(|a| a.user_id.clone()).collect();
    assert_eq!(holders, vec![jane.id.clone(), bob.id.clone(), carol.id.clone()]);
    let first = &listed[0];
    assert_eq!(first.id, AssignmentId::from_random(&random(30)));
    assert_eq!(first.permission_id, readers.id);
    assert_eq!(first.org_id, org.id);
    assert_eq!(first.created_at, later(1));
    assert_eq!(first.ended_at, None);
    assert!(!first.is_immutable);
    let events = store.events(&org.id).await.unwrap();
    assert_eq!(events.last().map(|e| e.kind), Some(AuditKind::PermissionRevoked));
    assert_eq!(events.last().and_then(|e| e.permission_id.clone()), Some(readers.id));
}

#[tokio::test]
async fn pages_walk_every_permission_of_the_org_once_archived_included() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let other = create_org(&store, 2).await;
    create_permission(&store, &other, 99, "Elsewhere", &[]).await;
    let mut expected = BTreeSet::from([org.admin_permission.id.clone()]);
    for seed in [117, 103, 111, 129, 105, 123, 102] {
        let permission = create_permission(&store, &org, seed, &format!("Role {seed}"), &[]).await;
        if seed % 2 == 1 {
            let (archived, event) = archive_permission(&org.caller(), &permission, NOW).unwrap();
            store.update_permission(&archived, &event, &org.basis()).await.unwrap();
        }
        expected.insert(permission.id);
    }

    for limit in [1, 2, 3, 100] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_permissions(&org.id, after.clone(), limit).await.unwrap();
            assert!(page.permissions.len() <= limit);
            seen.extend(page.permissions.iter().map(|p| p.id.clone()));
            if !page.has_more {
                break;
            }
            after = page.permissions.last().map(|p| p.id.clone());
        }
        assert_eq!(seen, expected.iter().cloned().collect::<Vec<_>>(), "limit {limit}");
    }
}

#[tokio::test]
async fn the_assigners_are_the_active_holders_of_a_live_permission_to_assign() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let assigners =
        create_permission(&store, &org, 100, "Assigners", &[Operation::AssignPermission]).await;
    let retired =
        create_permission(&store, &org, 101, "Retired", &[Operation::AssignPermission]).await;
    let readers = create_permission(&store, &org, 102, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let inactive = member(&store, &org, 2, "inactive@x.io").await;
    let archived = member(&store, &org, 3, "archived@x.io").await;
    let of_retired = member(&store, &org, 4, "retired@x.io").await;
    let reader = member(&store, &org, 5, "reader@x.io").await;
    assign(&store, &org, &assigners, &jane.id, 10, NOW).await;
    let to_deactivate = assign(&store, &org, &assigners, &inactive.id, 11, NOW).await;
    let to_archive = assign(&store, &org, &assigners, &archived.id, 12, NOW).await;
    assign(&store, &org, &retired, &of_retired.id, 13, NOW).await;
    assign(&store, &org, &readers, &reader.id, 14, NOW).await;
    let (off, event) = set_active(&org.caller(), &to_deactivate, false, NOW).unwrap().unwrap();
    store.update_user(&off, &event, &org.basis()).await.unwrap();
    let (gone, event) = archive_user(&org.caller(), &to_archive, NOW).unwrap();
    store.update_user(&gone, &event, &org.basis()).await.unwrap();
    let (ended, event) = archive_permission(&org.caller(), &retired, NOW).unwrap();
    store.update_permission(&ended, &event, &org.basis()).await.unwrap();
    let elsewhere = create_org(&store, 2).await;

    let snapshot = store.assigners(&org.id).await.unwrap();

    let expected: BTreeSet<_> = [org.admin.id.clone(), jane.id.clone()].into();
    assert_eq!(snapshot.assigners, expected.into_iter().collect::<Vec<_>>());
    assert_eq!(snapshot.guard, OrgGuard { org_id: org.id.clone(), version: 0 });
    let theirs = store.assigners(&elsewhere.id).await.unwrap();
    assert_eq!(theirs.assigners, vec![elsewhere.admin.id]);
}

#[tokio::test]
async fn the_assigners_of_an_unknown_org_are_a_store_error() {
    let store = MemoryStore::new();

    let result = store.assigners(&crate::support::org_id(9)).await;

    assert!(result.is_err());
}

#[tokio::test]
async fn of_two_changes_decided_on_one_guard_version_the_second_is_a_conflict() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let bob = member(&store, &org, 2, "bob@x.io").await;
    let guard = store.assigners(&org.id).await.unwrap().guard;
    deactivate(&store, &org, &jane.id, &guard).await.unwrap();
    let bob_before = store.find_user(&bob.id).await.unwrap();
    let events_before = store.events(&org.id).await.unwrap();

    let second = deactivate(&store, &org, &bob.id, &guard).await;

    assert!(matches!(second, Err(UpdateUserError::Conflict)), "{second:?}");
    assert_eq!(store.find_user(&bob.id).await.unwrap(), bob_before);
    assert_eq!(store.events(&org.id).await.unwrap(), events_before);
    let now = store.assigners(&org.id).await.unwrap().guard;
    assert_eq!(now.version, 1, "only the first change bumped the guard");
    deactivate(&store, &org, &bob.id, &now).await.unwrap();
    assert_eq!(store.assigners(&org.id).await.unwrap().guard.version, 2);
}

#[tokio::test]
async fn a_permission_change_on_a_stale_guard_changes_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let role =
        create_permission(&store, &org, 100, "Assigners", &[Operation::AssignPermission]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    assign(&store, &org, &role, &jane.id, 10, NOW).await;
    let stale = store.assigners(&org.id).await.unwrap().guard;
    let bob = member(&store, &org, 2, "bob@x.io").await;
    deactivate(&store, &org, &bob.id, &stale).await.unwrap();
    let events_before = store.events(&org.id).await.unwrap();
    let (archived, event) = archive_permission(&org.caller(), &role, NOW).unwrap();

    let result = store.update_permission(&archived, &event, &org.guarded(stale)).await;

    assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{result:?}");
    assert_eq!(store.find_permission(&role.id).await.unwrap(), Some(role.clone()));
    assert_eq!(store.list_assignments(&role.id).await.unwrap().len(), 1);
    assert_eq!(store.events(&org.id).await.unwrap(), events_before);
    let fresh = store.assigners(&org.id).await.unwrap().guard;
    store.update_permission(&archived, &event, &org.guarded(fresh.clone())).await.unwrap();
    let after = store.assigners(&org.id).await.unwrap();
    assert_eq!(after.guard.version, fresh.version + 1);
    assert_eq!(after.assigners, vec![org.admin.id.clone()]);
}

#[tokio::test]
async fn a_guard_of_another_org_is_a_store_error_and_changes_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let other = create_org(&store, 2).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let foreign = store.assigners(&other.id).await.unwrap().guard;

    let result = deactivate(&store, &org, &jane.id, &foreign).await;

    assert!(matches!(result, Err(UpdateUserError::Store(_))), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane));
    assert_eq!(store.assigners(&other.id).await.unwrap().guard.version, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn of_racing_guarded_changes_on_one_guard_version_one_is_stored() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let mut members = Vec::new();
    for seed in 1..=16 {
        members.push(member(&store, &org, seed, &format!("member{seed}@x.io")).await);
    }
    let guard = store.assigners(&org.id).await.unwrap().guard;
    let caller = org.caller();

    let mut racers = tokio::task::JoinSet::new();
    for target in members {
        let (store, guard) = (store.clone(), guard.clone());
        let (inactive, event) = set_active(&caller, &target, false, NOW).unwrap().unwrap();
        let basis = org.guarded(guard);
        racers.spawn(async move { store.update_user(&inactive, &event, &basis).await });
    }
    let outcomes = racers.join_all().await;

    assert_eq!(outcomes.iter().filter(|stored| stored.is_ok()).count(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .flat_map(|r| r.as_ref().err())
            .all(|e| matches!(e, UpdateUserError::Conflict))
    );
    let listed = store.list_users(&org.id, None, None, 100).await.unwrap();
    assert_eq!(listed.users.iter().filter(|u| !u.is_active()).count(), 1);
    assert_eq!(store.assigners(&org.id).await.unwrap().guard.version, 1);
}
