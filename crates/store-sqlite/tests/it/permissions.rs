//! The permission repository: unique live names, compare-and-set updates,
//! archives that end assignments, the assigners of an org and the guard
//! that orders the changes deciding on them.

use domain::{
    AssignmentId, AuditKind, Duration, Operation, Permission, PermissionId, PermissionName,
    Timestamp, User, UserId, UserKind, archive_permission, archive_user, assign_permission,
    revoke_assignment, set_active,
};
use ports::{
    AuditLog, InsertPermissionError, OrgGuard, PermissionRepository, UpdatePermissionError,
    UpdateUserError, UserRepository,
};
use store_sqlite::SqliteStore;

use crate::fixtures::{Db, OrgFixture, T0, fresh_random};

fn name(name: &str) -> PermissionName {
    PermissionName::parse(name).expect("a valid permission name")
}

fn later(seconds: i64) -> Timestamp {
    T0.plus(Duration::from_seconds(seconds))
}

/// Assigns `permission` to the stored user `holder` at `at`, as the
/// permissions API does, and answers the assignment's id.
async fn assign(
    store: &SqliteStore,
    org: &OrgFixture,
    permission: &Permission,
    holder: &UserId,
    at: Timestamp,
) -> AssignmentId {
    let current = store.find_user(holder).await.unwrap().unwrap();
    let id = AssignmentId::from_random(&fresh_random());
    let (assigned, event) =
        assign_permission(&org.caller(), permission, &current, id.clone(), at).unwrap();
    store.update_user(&assigned, &event, &org.basis()).await.unwrap();
    id
}

/// Deactivates the stored user `target` under `guard`.
async fn deactivate(
    store: &SqliteStore,
    org: &OrgFixture,
    target: &UserId,
    guard: &OrgGuard,
) -> Result<(), UpdateUserError> {
    let current = store.find_user(target).await.unwrap().unwrap();
    let (inactive, event) = set_active(&org.caller(), &current, false, T0).unwrap().unwrap();
    store.update_user(&inactive, &event, &org.guarded(guard.clone())).await
}

async fn member(store: &SqliteStore, org: &OrgFixture, username: &str) -> User {
    org.insert_user(store, username, UserKind::CustomerEmployee).await
}

#[tokio::test]
async fn a_created_org_stores_its_admin_permission_and_guard_at_version_zero() {
    let db = Db::new();
    let store = db.open().await;

    let acme = OrgFixture::create(&store, "acme").await;

    let stored = store.find_permission(&acme.permission.id).await.unwrap();
    assert_eq!(stored, Some(acme.permission.clone()));
    assert_eq!(acme.permission.version, 0);
    let snapshot = store.assigners(&acme.org.id).await.unwrap();
    assert_eq!(snapshot.guard, OrgGuard { org_id: acme.org.id.clone(), version: 0 });
    assert_eq!(snapshot.assigners, vec![acme.admin.id.clone()]);
}

#[tokio::test]
async fn an_inserted_permission_is_found_and_its_event_names_it() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let id = PermissionId::from_random(&fresh_random());
    let operations = vec![Operation::ReadUser, Operation::CreateUser];
    let (readers, event) =
        domain::create_permission(&acme.caller(), id, name("Readers"), operations, T0);

    store.insert_permission(&readers, &event, &acme.basis()).await.unwrap();

    assert_eq!(store.find_permission(&readers.id).await.unwrap(), Some(readers.clone()));
    assert_eq!(store.events(&acme.org.id).await.unwrap(), vec![acme.event, event.clone()]);
    assert_eq!(event.permission_id, Some(readers.id));
    let unknown = PermissionId::from_random(&fresh_random());
    assert_eq!(store.find_permission(&unknown).await.unwrap(), None);
}

#[tokio::test]
async fn a_live_name_is_taken_and_nothing_is_stored() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let globex = OrgFixture::create(&store, "globex").await;
    acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let events_before = store.events(&acme.org.id).await.unwrap();
    let id = PermissionId::from_random(&fresh_random());
    let (clash, event) = domain::create_permission(&acme.caller(), id, name("Readers"), vec![], T0);

    let result = store.insert_permission(&clash, &event, &acme.basis()).await;

    assert!(matches!(result, Err(InsertPermissionError::NameTaken)), "{result:?}");
    assert_eq!(store.find_permission(&clash.id).await.unwrap(), None);
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
    let listed = store.list_permissions(&acme.org.id, None, 10).await.unwrap();
    assert_eq!(listed.permissions.len(), 2, "OrgAdmin and the first Readers");
    let elsewhere = globex.create_permission(&store, "Readers", &[]).await;
    assert_eq!(store.find_permission(&elsewhere.id).await.unwrap(), Some(elsewhere));
}

#[tokio::test]
async fn an_archived_permission_frees_its_name() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let old = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let (archived, event) = archive_permission(&acme.caller(), &old, later(1)).unwrap();
    store.update_permission(&archived, &event, &acme.basis()).await.unwrap();

    let new = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;

    let stored_old = store.find_permission(&old.id).await.unwrap().unwrap();
    assert_eq!(stored_old, Permission { version: 1, ..archived });
    assert_eq!(store.find_permission(&new.id).await.unwrap(), Some(new));
}

#[tokio::test]
async fn an_update_bumps_the_version_and_a_stale_one_changes_nothing() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let readers = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let caller = acme.caller();
    let (renamed, event) =
        domain::update_permission(&caller, &readers, Some(name("Viewers")), None, later(1))
            .unwrap();
    store.update_permission(&renamed, &event, &acme.basis()).await.unwrap();
    let after_first = store.find_permission(&readers.id).await.unwrap().unwrap();
    let events_before = store.events(&acme.org.id).await.unwrap();

    // Decided on version 0, which is no longer the stored version.
    let (archived, archive_event) = archive_permission(&caller, &readers, later(2)).unwrap();
    let result = store.update_permission(&archived, &archive_event, &acme.basis()).await;

    assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{result:?}");
    assert_eq!(after_first, Permission { version: 1, ..renamed });
    assert_eq!(store.find_permission(&readers.id).await.unwrap(), Some(after_first));
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
    assert_eq!(events_before.last(), Some(&event));
}

#[tokio::test]
async fn an_update_of_an_unknown_permission_is_a_conflict() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let id = PermissionId::from_random(&fresh_random());
    let (ghost, event) = domain::create_permission(&acme.caller(), id, name("Ghost"), vec![], T0);

    let result = store.update_permission(&ghost, &event, &acme.basis()).await;

    assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{result:?}");
    assert_eq!(store.find_permission(&ghost.id).await.unwrap(), None);
    assert_eq!(store.events(&acme.org.id).await.unwrap(), vec![acme.event]);
}

#[tokio::test]
async fn a_change_that_names_another_org_for_a_permission_is_a_conflict_and_changes_nothing() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let globex = OrgFixture::create(&store, "globex").await;
    let readers = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &acme, "jane@example.com").await;
    assign(&store, &acme, &readers, &jane.id, T0).await;
    let jane = store.find_user(&jane.id).await.unwrap().unwrap();
    let acme_events = store.events(&acme.org.id).await.unwrap();
    // Acme's permission, its id and version as stored, said to be globex's
    // and archived by globex's admin.
    let claimed = Permission { org_id: globex.org.id.clone(), ..readers.clone() };
    let (archived, event) = archive_permission(&globex.caller(), &claimed, later(1)).unwrap();

    let result = store.update_permission(&archived, &event, &globex.basis()).await;

    assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{result:?}");
    assert_eq!(store.find_permission(&readers.id).await.unwrap(), Some(readers.clone()));
    assert_eq!(store.list_assignments(&readers.id).await.unwrap().len(), 1);
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane));
    assert_eq!(store.events(&acme.org.id).await.unwrap(), acme_events);
    assert_eq!(store.events(&globex.org.id).await.unwrap(), vec![globex.event]);
}

#[tokio::test]
async fn a_rename_to_a_live_name_is_taken_and_changes_nothing() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let readers = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    acme.create_permission(&store, "Writers", &[Operation::CreateUser]).await;
    let events_before = store.events(&acme.org.id).await.unwrap();
    let (clash, event) =
        domain::update_permission(&acme.caller(), &readers, Some(name("Writers")), None, T0)
            .unwrap();

    let result = store.update_permission(&clash, &event, &acme.basis()).await;

    assert!(matches!(result, Err(UpdatePermissionError::NameTaken)), "{result:?}");
    assert_eq!(store.find_permission(&readers.id).await.unwrap(), Some(readers));
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
}

#[tokio::test]
async fn archiving_a_permission_ends_its_assignments_on_every_holder() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let readers = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &acme, "jane@example.com").await;
    let bob = member(&store, &acme, "bob@example.com").await;
    assign(&store, &acme, &readers, &jane.id, T0).await;
    assign(&store, &acme, &readers, &bob.id, T0).await;
    assign(&store, &acme, &acme.permission, &bob.id, T0).await;
    let (archived, event) = archive_permission(&acme.caller(), &readers, later(1)).unwrap();

    store.update_permission(&archived, &event, &acme.basis()).await.unwrap();

    let jane_now = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(jane_now.assignments, vec![]);
    let bob_now = store.find_user(&bob.id).await.unwrap().unwrap();
    let held: Vec<_> = bob_now.assignments.iter().map(|a| a.permission_id.clone()).collect();
    assert_eq!(held, vec![acme.permission.id.clone()]);
    assert_eq!(store.list_assignments(&readers.id).await.unwrap(), vec![]);
    let listed = store.list_users(&acme.org.id, None, None, 10).await.unwrap();
    let shown = listed.users.iter().flat_map(|u| &u.assignments);
    assert!(shown.clone().all(|a| a.permission_id != readers.id));
    assert_eq!(shown.count(), 2, "the admin's and bob's OrgAdmin");
    assert_eq!(store.events(&acme.org.id).await.unwrap().last(), Some(&event));
}

#[tokio::test]
async fn an_assignment_of_a_permission_archived_meanwhile_is_a_conflict() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let readers = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &acme, "jane@example.com").await;
    // Decided on the live permission, stored after it was archived.
    let id = AssignmentId::from_random(&fresh_random());
    let (assigned, assigned_event) =
        assign_permission(&acme.caller(), &readers, &jane, id, T0).unwrap();
    let (archived, event) = archive_permission(&acme.caller(), &readers, T0).unwrap();
    store.update_permission(&archived, &event, &acme.basis()).await.unwrap();

    let result = store.update_user(&assigned, &assigned_event, &acme.basis()).await;

    assert!(matches!(result, Err(UpdateUserError::Conflict)), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane));
}

#[tokio::test]
async fn an_assignment_of_another_orgs_or_an_unknown_permission_is_a_store_error() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let globex = OrgFixture::create(&store, "globex").await;
    let jane = member(&store, &acme, "jane@example.com").await;
    let unknown =
        Permission { id: PermissionId::from_random(&fresh_random()), ..acme.permission.clone() };

    for permission in [globex.permission.clone(), unknown] {
        let mut assigned = jane.clone();
        assigned.assignments.push(crate::fixtures::assignment(&permission));
        let event =
            crate::fixtures::event(AuditKind::PermissionAssigned, &jane, &acme.admin.id, T0);

        let result = store.update_user(&assigned, &event, &acme.basis()).await;

        assert!(matches!(result, Err(UpdateUserError::Store(_))), "{result:?}");
        assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane.clone()));
    }
}

#[tokio::test]
async fn an_update_of_a_permissions_operations_shows_on_its_holders_at_once() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let role = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &acme, "jane@example.com").await;
    assign(&store, &acme, &role, &jane.id, T0).await;
    let operations = vec![Operation::ReadUser, Operation::DeleteUser];
    let (changed, event) = domain::update_permission(
        &acme.caller(),
        &role,
        Some(name("Archivists")),
        Some(operations.clone()),
        later(1),
    )
    .unwrap();

    store.update_permission(&changed, &event, &acme.basis()).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(stored.assignments.len(), 1);
    assert_eq!(stored.assignments[0].permission_name, "Archivists");
    assert_eq!(stored.assignments[0].operations, operations);
    assert!(stored.holds(Operation::DeleteUser));
    let by_name = store.find_user_by_username(&acme.org.id, &jane.username).await.unwrap();
    assert_eq!(by_name, Some(stored));
}

#[tokio::test]
async fn the_live_assignments_of_a_permission_are_listed_oldest_first() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let readers = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &acme, "jane@example.com").await;
    let bob = member(&store, &acme, "bob@example.com").await;
    let carol = member(&store, &acme, "carol@example.com").await;
    let dave = member(&store, &acme, "dave@example.com").await;
    // Bob and carol at the same moment: the first stored is the older.
    assign(&store, &acme, &readers, &bob.id, later(5)).await;
    assign(&store, &acme, &readers, &carol.id, later(5)).await;
    let janes = assign(&store, &acme, &readers, &jane.id, later(1)).await;
    let daves = assign(&store, &acme, &readers, &dave.id, later(9)).await;
    let dave_now = store.find_user(&dave.id).await.unwrap().unwrap();
    let (revoked, event) =
        revoke_assignment(&acme.caller(), &readers, &dave_now, &daves, later(10)).unwrap();
    store.update_user(&revoked, &event, &acme.basis()).await.unwrap();

    let listed = store.list_assignments(&readers.id).await.unwrap();

    let holders: Vec<_> = listed.iter().map(|a| a.user_id.clone()).collect();
    assert_eq!(holders, vec![jane.id.clone(), bob.id.clone(), carol.id.clone()]);
    let first = &listed[0];
    assert_eq!(first.id, janes);
    assert_eq!(first.permission_id, readers.id);
    assert_eq!(first.org_id, acme.org.id);
    assert_eq!(first.created_at, later(1));
    assert_eq!(first.ended_at, None);
    assert!(!first.is_immutable);
    let events = store.events(&acme.org.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.kind, AuditKind::PermissionRevoked);
    assert_eq!(last.permission_id, Some(readers.id));
    assert!(events.iter().any(|e| e.kind == AuditKind::PermissionAssigned
        && e.user_id == jane.id
        && e.permission_id == last.permission_id));
}

#[tokio::test]
async fn pages_walk_every_permission_of_the_org_once_archived_included() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let globex = OrgFixture::create(&store, "globex").await;
    globex.create_permission(&store, "Elsewhere", &[]).await;
    let mut expected = vec![acme.permission.id.clone()];
    for i in 0..7 {
        let permission = acme.create_permission(&store, &format!("Role {i}"), &[]).await;
        if i % 2 == 1 {
            let (archived, event) = archive_permission(&acme.caller(), &permission, T0).unwrap();
            store.update_permission(&archived, &event, &acme.basis()).await.unwrap();
        }
        expected.push(permission.id);
    }
    expected.sort();

    for limit in [1, 2, 3, 100] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_permissions(&acme.org.id, after.clone(), limit).await.unwrap();
            assert!(page.permissions.len() <= limit);
            seen.extend(page.permissions.iter().map(|p| p.id.clone()));
            if !page.has_more {
                break;
            }
            after = page.permissions.last().map(|p| p.id.clone());
        }
        assert_eq!(seen, expected, "limit {limit}");
    }
}

#[tokio::test]
async fn the_assigners_are_the_active_holders_of_a_live_permission_to_assign() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let globex = OrgFixture::create(&store, "globex").await;
    let assigners =
        acme.create_permission(&store, "Assigners", &[Operation::AssignPermission]).await;
    let retired = acme.create_permission(&store, "Retired", &[Operation::AssignPermission]).await;
    let readers = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &acme, "jane@example.com").await;
    let inactive = member(&store, &acme, "inactive@example.com").await;
    let archived = member(&store, &acme, "archived@example.com").await;
    let of_retired = member(&store, &acme, "retired@example.com").await;
    let reader = member(&store, &acme, "reader@example.com").await;
    for holder in [&jane, &inactive, &archived] {
        assign(&store, &acme, &assigners, &holder.id, T0).await;
    }
    // Twice through two permissions, listed once.
    assign(&store, &acme, &acme.permission, &jane.id, T0).await;
    assign(&store, &acme, &retired, &of_retired.id, T0).await;
    assign(&store, &acme, &readers, &reader.id, T0).await;
    let current = store.find_user(&inactive.id).await.unwrap().unwrap();
    let (off, event) = set_active(&acme.caller(), &current, false, T0).unwrap().unwrap();
    store.update_user(&off, &event, &acme.basis()).await.unwrap();
    let current = store.find_user(&archived.id).await.unwrap().unwrap();
    let (gone, event) = archive_user(&acme.caller(), &current, T0).unwrap();
    store.update_user(&gone, &event, &acme.basis()).await.unwrap();
    let (ended, event) = archive_permission(&acme.caller(), &retired, T0).unwrap();
    store.update_permission(&ended, &event, &acme.basis()).await.unwrap();

    let snapshot = store.assigners(&acme.org.id).await.unwrap();

    let mut expected = vec![acme.admin.id.clone(), jane.id.clone()];
    expected.sort();
    assert_eq!(snapshot.assigners, expected);
    assert_eq!(snapshot.guard, OrgGuard { org_id: acme.org.id.clone(), version: 0 });
    let theirs = store.assigners(&globex.org.id).await.unwrap();
    assert_eq!(theirs.assigners, vec![globex.admin.id.clone()]);
    let nowhere = domain::OrgId::from_random(&fresh_random());
    assert!(store.assigners(&nowhere).await.is_err());
}

#[tokio::test]
async fn of_two_changes_decided_on_one_guard_version_the_second_is_a_conflict() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = member(&store, &acme, "jane@example.com").await;
    let bob = member(&store, &acme, "bob@example.com").await;
    let guard = store.assigners(&acme.org.id).await.unwrap().guard;
    deactivate(&store, &acme, &jane.id, &guard).await.unwrap();
    let events_before = store.events(&acme.org.id).await.unwrap();

    let second = deactivate(&store, &acme, &bob.id, &guard).await;

    assert!(matches!(second, Err(UpdateUserError::Conflict)), "{second:?}");
    assert_eq!(store.find_user(&bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
    let now = store.assigners(&acme.org.id).await.unwrap().guard;
    assert_eq!(now.version, 1, "only the first change bumped the guard");
    deactivate(&store, &acme, &bob.id, &now).await.unwrap();
    assert_eq!(store.assigners(&acme.org.id).await.unwrap().guard.version, 2);
}

#[tokio::test]
async fn a_permission_change_on_a_stale_guard_changes_nothing() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let role = acme.create_permission(&store, "Assigners", &[Operation::AssignPermission]).await;
    let jane = member(&store, &acme, "jane@example.com").await;
    assign(&store, &acme, &role, &jane.id, T0).await;
    let stale = store.assigners(&acme.org.id).await.unwrap().guard;
    let bob = member(&store, &acme, "bob@example.com").await;
    deactivate(&store, &acme, &bob.id, &stale).await.unwrap();
    let events_before = store.events(&acme.org.id).await.unwrap();
    let (archived, event) = archive_permission(&acme.caller(), &role, T0).unwrap();

    let result = store.update_permission(&archived, &event, &acme.guarded(stale)).await;

    assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{result:?}");
    assert_eq!(store.find_permission(&role.id).await.unwrap(), Some(role.clone()));
    assert_eq!(store.list_assignments(&role.id).await.unwrap().len(), 1);
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
    assert_eq!(store.assigners(&acme.org.id).await.unwrap().guard.version, 1);
    let fresh = store.assigners(&acme.org.id).await.unwrap().guard;
    store.update_permission(&archived, &event, &acme.guarded(fresh)).await.unwrap();
    let after = store.assigners(&acme.org.id).await.unwrap();
    assert_eq!(after.guard.version, 2);
    assert_eq!(after.assigners, vec![acme.admin.id.clone()]);
}

#[tokio::test]
async fn a_guard_of_another_org_is_a_store_error_and_changes_nothing() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let globex = OrgFixture::create(&store, "globex").await;
    let jane = member(&store, &acme, "jane@example.com").await;
    let foreign = store.assigners(&globex.org.id).await.unwrap().guard;

    let result = deactivate(&store, &acme, &jane.id, &foreign).await;

    assert!(matches!(result, Err(UpdateUserError::Store(_))), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane));
    assert_eq!(store.assigners(&globex.org.id).await.unwrap().guard.version, 0);
}
