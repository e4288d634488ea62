//! Changes by a caller: a change decided for a caller whose record moved
//! since is refused and changes nothing, and a permission update that
//! changes what its holders may do moves their versions.

use domain::{
    AssignmentId, AuditEvent, AuditKind, Caller, Operation, OrgId, Permission, PermissionId,
    PermissionName, User, archive_permission, assign_permission, revoke_assignment, set_active,
};
use ports::{
    AssignersSnapshot, AuditLog, Basis, InsertPermissionError, InsertUserError,
    PermissionRepository, UpdatePermissionError, UpdateUserError, UserRepository,
};
use store_memory::MemoryStore;

use crate::support::{
    NOW, NewOrg, by, create_org, create_permission, created, event, random, user,
};

/// `user`, as read, as the authenticated caller of a change.
fn caller(user: &User) -> Caller {
    Caller::from_token_subject(user.clone(), &user.org_id).unwrap()
}

/// Bases that name `caller`'s version one behind and one ahead of the
/// stored one.
fn stale_bases(caller: &User) -> [Basis; 2] {
    let current = by(caller);
    [
        Basis { actor_version: caller.version - 1, ..current.clone() },
        Basis { actor_version: caller.version + 1, ..current },
    ]
}

/// Everything of `org` a change could touch.
#[derive(Debug, PartialEq)]
struct Picture {
    events: Vec<AuditEvent>,
    users: Vec<User>,
    permissions: Vec<Permission>,
    assigners: AssignersSnapshot,
}

async fn picture(store: &MemoryStore, org: &OrgId) -> Picture {
    Picture {
        events: store.events(org).await.unwrap(),
        users: store.list_users(org, None, None, 100).await.unwrap().users,
        permissions: store.list_permissions(org, None, 100).await.unwrap().permissions,
        assigners: store.assigners(org).await.unwrap(),
    }
}

/// The stored versions of `users`, in order.
async fn versions(store: &MemoryStore, users: &[&User]) -> Vec<u64> {
    let mut versions = Vec::new();
    for user in users {
        versions.push(store.find_user(&user.id).await.unwrap().unwrap().version);
    }
    versions
}

/// Inserts an active member of `org` without assignments, by the admin.
async fn member(store: &MemoryStore, org: &NewOrg, seed: u32, username: &str) -> User {
    let member = user(&org.id, seed, username);
    store.insert_user(&member, &[], &created(&member), &org.basis()).await.unwrap();
    member
}

/// Assigns `permission` to the stored user `holder`, by the admin, and
/// answers the holder as stored afterwards.
async fn assign(
    store: &MemoryStore,
    org: &NewOrg,
    permission: &Permission,
    holder: &User,
    seed: u32,
) -> User {
    let current = store.find_user(&holder.id).await.unwrap().unwrap();
    let id = AssignmentId::from_random(&random(seed));
    let (assigned, event) =
        assign_permission(&org.caller(), permission, &current, id, NOW).unwrap();
    store.update_user(&assigned, &event, &org.basis()).await.unwrap();
    store.find_user(&holder.id).await.unwrap().unwrap()
}

/// Deactivates the stored user `target`, by the admin.
async fn deactivate(store: &MemoryStore, org: &NewOrg, target: &User) {
    let current = store.find_user(&target.id).await.unwrap().unwrap();
    let (inactive, event) = set_active(&org.caller(), &current, false, NOW).unwrap().unwrap();
    store.update_user(&inactive, &event, &org.basis()).await.unwrap();
}

/// A member of `org` who was granted a permission since it was created:
/// its record moved once.
async fn moved_member(store: &MemoryStore, org: &NewOrg, seed: u32, username: &str) -> User {
    let member = member(store, org, seed, username).await;
    let readers = create_permission(store, org, 500 + seed, &format!("Readers {seed}"), &[]).await;
    let moved = assign(store, org, &readers, &member, 600 + seed).await;
    assert_eq!(moved.version, 1);
    moved
}

#[tokio::test]
async fn an_insert_of_a_user_decided_for_a_stale_caller_is_a_conflict_and_stores_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = moved_member(&store, &org, 1, "jane@x.io").await;
    let before = picture(&store, &org.id).await;
    let newcomer = user(&org.id, 2, "newcomer@x.io");
    let made = event(AuditKind::UserCreated, &newcomer, &jane.id);

    for stale in stale_bases(&jane) {
        let result = store.insert_user(&newcomer, &[], &made, &stale).await;

        assert!(matches!(result, Err(InsertUserError::Conflict)), "{stale:?}: {result:?}");
        assert_eq!(store.find_user(&newcomer.id).await.unwrap(), None);
        assert_eq!(picture(&store, &org.id).await, before);
    }
    store.insert_user(&newcomer, &[], &made, &by(&jane)).await.unwrap();
}

#[tokio::test]
async fn an_update_of_a_user_decided_for_a_stale_caller_is_a_conflict_and_changes_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = moved_member(&store, &org, 1, "jane@x.io").await;
    let bob = member(&store, &org, 2, "bob@x.io").await;
    let before = picture(&store, &org.id).await;
    let (inactive, change) = set_active(&caller(&jane), &bob, false, NOW).unwrap().unwrap();
    // With a guard, which a refused change must not bump either.
    let guard = before.assigners.guard.clone();

    for stale in stale_bases(&jane) {
        let basis = Basis { guard: Some(guard.clone()), ..stale };
        let result = store.update_user(&inactive, &change, &basis).await;

        assert!(matches!(result, Err(UpdateUserError::Conflict)), "{basis:?}: {result:?}");
        assert_eq!(picture(&store, &org.id).await, before);
    }
    let current = Basis { guard: Some(guard), ..by(&jane) };
    store.update_user(&inactive, &change, &current).await.unwrap();
}

#[tokio::test]
async fn an_insert_of_a_permission_decided_for_a_stale_caller_is_a_conflict_and_stores_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = moved_member(&store, &org, 1, "jane@x.io").await;
    let before = picture(&store, &org.id).await;
    let id = PermissionId::from_random(&random(700));
    let name = PermissionName::parse("Auditors").unwrap();
    let (auditors, made) =
        domain::create_permission(&caller(&jane), id, name, vec![Operation::ReadUser], NOW);

    for stale in stale_bases(&jane) {
        let result = store.insert_permission(&auditors, &made, &stale).await;

        assert!(matches!(result, Err(InsertPermissionError::Conflict)), "{stale:?}: {result:?}");
        assert_eq!(store.find_permission(&auditors.id).await.unwrap(), None);
        assert_eq!(picture(&store, &org.id).await, before);
    }
    store.insert_permission(&auditors, &made, &by(&jane)).await.unwrap();
}

#[tokio::test]
async fn an_update_of_a_permission_decided_for_a_stale_caller_is_a_conflict_and_changes_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = moved_member(&store, &org, 1, "jane@x.io").await;
    let assigners =
        create_permission(&store, &org, 700, "Assigners", &[Operation::AssignPermission]).await;
    let bob = member(&store, &org, 2, "bob@x.io").await;
    assign(&store, &org, &assigners, &bob, 701).await;
    let before = picture(&store, &org.id).await;
    // An archive, which would end bob's assignment and move his version.
    let (archived, change) = archive_permission(&caller(&jane), &assigners, NOW).unwrap();
    let guard = before.assigners.guard.clone();

    for stale in stale_bases(&jane) {
        let basis = Basis { guard: Some(guard.clone()), ..stale };
        let result = store.update_permission(&archived, &change, &basis).await;

        assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{basis:?}: {result:?}");
        assert_eq!(picture(&store, &org.id).await, before);
        assert_eq!(store.list_assignments(&assigners.id).await.unwrap().len(), 1);
    }
    let current = Basis { guard: Some(guard), ..by(&jane) };
    store.update_permission(&archived, &change, &current).await.unwrap();
}

#[tokio::test]
async fn a_change_of_a_permissions_operations_moves_its_holders_versions_and_a_rename_does_not() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let readers = create_permission(&store, &org, 700, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let bob = member(&store, &org, 2, "bob@x.io").await;
    let carol = member(&store, &org, 3, "carol@x.io").await;
    let dave = member(&store, &org, 4, "dave@x.io").await;
    assign(&store, &org, &readers, &jane, 701).await;
    // An inactive holder still holds it; a former holder does not.
    let bob = assign(&store, &org, &readers, &bob, 702).await;
    deactivate(&store, &org, &bob).await;
    let carol = assign(&store, &org, &readers, &carol, 703).await;
    let carols = carol.assignments[0].assignment_id.clone();
    let (revoked, change) =
        revoke_assignment(&org.caller(), &readers, &carol, &carols, NOW).unwrap();
    store.update_user(&revoked, &change, &org.basis()).await.unwrap();
    let everyone = [&jane, &bob, &carol, &dave, &org.admin];
    let before = versions(&store, &everyone).await;
    let operations = vec![Operation::ReadUser, Operation::CreateUser];
    let (changed, change) =
        domain::update_permission(&org.caller(), &readers, None, Some(operations), NOW).unwrap();

    store.update_permission(&changed, &change, &org.basis()).await.unwrap();

    let after = versions(&store, &everyone).await;
    assert_eq!(after, [before[0] + 1, before[1] + 1, before[2], before[3], before[4]]);
    let current = store.find_permission(&readers.id).await.unwrap().unwrap();
    let name = PermissionName::parse("Viewers").unwrap();
    let (renamed, change) =
        domain::update_permission(&org.caller(), &current, Some(name), None, NOW).unwrap();
    store.update_permission(&renamed, &change, &org.basis()).await.unwrap();
    assert_eq!(versions(&store, &everyone).await, after, "a rename moves nobody");
}

#[tokio::test]
async fn archiving_a_permission_moves_its_holders_versions() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let readers = create_permission(&store, &org, 700, "Readers", &[Operation::ReadUser]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let bob = member(&store, &org, 2, "bob@x.io").await;
    let dave = member(&store, &org, 4, "dave@x.io").await;
    assign(&store, &org, &readers, &jane, 701).await;
    let bob = assign(&store, &org, &readers, &bob, 702).await;
    deactivate(&store, &org, &bob).await;
    let everyone = [&jane, &bob, &dave, &org.admin];
    let before = versions(&store, &everyone).await;
    let (archived, change) = archive_permission(&org.caller(), &readers, NOW).unwrap();

    store.update_permission(&archived, &change, &org.basis()).await.unwrap();

    let after = versions(&store, &everyone).await;
    assert_eq!(after, [before[0] + 1, before[1] + 1, before[2], before[3]]);
    assert_eq!(store.list_assignments(&readers.id).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_change_decided_for_a_holder_before_its_permission_lost_the_right_is_a_conflict() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let creators = create_permission(&store, &org, 700, "Creators", &[Operation::CreateUser]).await;
    let jane = member(&store, &org, 1, "jane@x.io").await;
    let jane = assign(&store, &org, &creators, &jane, 701).await;
    // Jane decides to create a user while she may ...
    let newcomer = user(&org.id, 2, "newcomer@x.io");
    let made = event(AuditKind::UserCreated, &newcomer, &jane.id);
    // ... and loses the right before her change is written.
    let operations = vec![Operation::ReadUser];
    let (changed, change) =
        domain::update_permission(&org.caller(), &creators, None, Some(operations), NOW).unwrap();
    store.update_permission(&changed, &change, &org.basis()).await.unwrap();

    let result = store.insert_user(&newcomer, &[], &made, &by(&jane)).await;

    assert!(matches!(result, Err(InsertUserError::Conflict)), "{result:?}");
    assert_eq!(store.find_user(&newcomer.id).await.unwrap(), None);
}
