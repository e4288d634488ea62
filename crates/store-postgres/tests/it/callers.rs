//! Changes by a caller, in two stores connected separately as two server
//! processes would be: a change decided for a caller whose record moved
//! since is refused and changes nothing, even when that move is still in
//! flight, a permission update that changes what its holders may do moves
//! their versions, of two users who change each other at once exactly
//! one succeeds, writes take user rows in id order and before permission
//! rows, and a write the database aborts in a deadlock with another
//! session is a conflict that changes nothing.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use domain::{
    AssignmentId, AuditEvent, AuditKind, Caller, Operation, OrgId, Permission, PermissionId,
    PermissionName, User, UserKind, archive_permission, archive_user, assign_permission,
    revoke_assignment, set_active,
};
use ports::{
    AssignersSnapshot, AuditLog, Basis, InsertPermissionError, InsertUserError,
    PermissionRepository, UpdatePermissionError, UpdateUserError, UserRepository,
};
use store_postgres::PostgresStore;
use tokio::sync::Barrier;
use tokio::task::{JoinHandle, JoinSet};

use crate::concurrency::{CALLERS, two_processes};
use crate::fixtures::{
    Db, OrgFixture, T0, backend_pid, blocked_by, by, event, fresh_random, new_user,
};

fn name(name: &str) -> PermissionName {
    PermissionName::parse(name).expect("a valid permission name")
}

/// `user`, as read, as the authenticated caller of a change.
fn caller(user: &User) -> Caller {
    Caller::from_token_subject(user.clone(), &user.org_id).expect("an active user")
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

/// Everything of `org` a change could touch, as `store` reads it.
#[derive(Debug, PartialEq)]
struct Picture {
    events: Vec<AuditEvent>,
    users: Vec<User>,
    permissions: Vec<Permission>,
    assigners: AssignersSnapshot,
}

async fn picture(store: &PostgresStore, org: &OrgId) -> Picture {
    Picture {
        events: store.events(org).await.unwrap(),
        users: store.list_users(org, None, None, 100).await.unwrap().users,
        permissions: store.list_permissions(org, None, 100).await.unwrap().permissions,
        assigners: store.assigners(org).await.unwrap(),
    }
}

/// The stored versions of `users`, in order.
async fn versions(store: &PostgresStore, users: &[&User]) -> Vec<u64> {
    let mut versions = Vec::new();
    for user in users {
        versions.push(store.find_user(&user.id).await.unwrap().unwrap().version);
    }
    versions
}

/// Assigns `permission` to the stored user `holder`, by the admin, and
/// answers the holder as stored afterwards.
async fn assign(
    store: &PostgresStore,
    acme: &OrgFixture,
    permission: &Permission,
    holder: &User,
) -> User {
    let current = store.find_user(&holder.id).await.unwrap().unwrap();
    let id = AssignmentId::from_random(&fresh_random());
    let (assigned, event) =
        assign_permission(&acme.caller(), permission, &current, id, T0).unwrap();
    store.update_user(&assigned, &event, &acme.basis()).await.unwrap();
    store.find_user(&holder.id).await.unwrap().unwrap()
}

/// Deactivates the stored user `target`, by the admin, and answers it as
/// stored afterwards.
async fn deactivate(store: &PostgresStore, acme: &OrgFixture, target: &User) -> User {
    let current = store.find_user(&target.id).await.unwrap().unwrap();
    let (inactive, event) = set_active(&acme.caller(), &current, false, T0).unwrap().unwrap();
    store.update_user(&inactive, &event, &acme.basis()).await.unwrap();
    store.find_user(&target.id).await.unwrap().unwrap()
}

/// A member of `acme` who was granted `Readers` through the second store:
/// its record moved once since it was created.
async fn moved_member(stores: &[PostgresStore; 2], acme: &OrgFixture, username: &str) -> User {
    let member = acme.insert_user(&stores[0], username, UserKind::CustomerEmployee).await;
    let readers = acme.create_permission(&stores[0], &format!("Readers of {username}"), &[]).await;
    let moved = assign(&stores[1], acme, &readers, &member).await;
    assert_eq!(moved.version, 1);
    moved
}

/// Another process's session that holds row locks in an open transaction,
/// and a session that watches it.
struct OtherProcess {
    session: tokio_postgres::Client,
    observer: tokio_postgres::Client,
}

impl OtherProcess {
    /// Begins a transaction, in which the database looks for a deadlock
    /// only a minute into a wait, and runs `sql` with `id` in it: a locking
    /// read or a write of that row.
    async fn holding(db: &Db, sql: &str, id: &str) -> OtherProcess {
        let (session, observer) = (db.session().await, db.session().await);
        session.batch_execute("SET deadlock_timeout = '1min'; BEGIN").await.unwrap();
        session.execute(sql, &[&id]).await.unwrap();
        OtherProcess { session, observer }
    }

    /// Spawns `write` and returns once it waits for a lock this process
    /// holds; fails the test if `write` ends first.
    async fn blocks<T>(&self, write: impl Future<Output = T> + Send + 'static) -> JoinHandle<T>
    where
        T: Send + fmt::Debug + 'static,
    {
        let mut write = tokio::spawn(write);
        let pid = backend_pid(&self.session).await;
        tokio::select! {
            () = blocked_by(&self.observer, pid) => write,
            done = &mut write => panic!("the write did not wait for the held row: {done:?}"),
        }
    }
}

#[tokio::test]
async fn an_insert_of_a_user_decided_for_a_stale_caller_is_a_conflict_and_stores_nothing() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let jane = moved_member(&stores, &acme, "jane@example.com").await;
    let before = picture(&stores[1], &acme.org.id).await;
    let newcomer = new_user(&acme.org.id, "newcomer@example.com", UserKind::EndUser);
    let created = event(AuditKind::UserCreated, &newcomer, &jane.id, T0);

    for stale in stale_bases(&jane) {
        let result = stores[0].insert_user(&newcomer, &[], &created, &stale).await;

        assert!(matches!(result, Err(InsertUserError::Conflict)), "{stale:?}: {result:?}");
        assert_eq!(stores[1].find_user(&newcomer.id).await.unwrap(), None);
        assert_eq!(picture(&stores[1], &acme.org.id).await, before);
    }
    stores[0].insert_user(&newcomer, &[], &created, &by(&jane)).await.unwrap();
}

#[tokio::test]
async fn an_update_of_a_user_decided_for_a_stale_caller_is_a_conflict_and_changes_nothing() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let jane = moved_member(&stores, &acme, "jane@example.com").await;
    let bob = acme.insert_user(&stores[0], "bob@example.com", UserKind::EndUser).await;
    let before = picture(&stores[1], &acme.org.id).await;
    let (inactive, change) = set_active(&caller(&jane), &bob, false, T0).unwrap().unwrap();
    // With a guard, which a refused change must not bump either.
    let guard = before.assigners.guard.clone();

    for stale in stale_bases(&jane) {
        let basis = Basis { guard: Some(guard.clone()), ..stale };
        let result = stores[0].update_user(&inactive, &change, &basis).await;

        assert!(matches!(result, Err(UpdateUserError::Conflict)), "{basis:?}: {result:?}");
        assert_eq!(picture(&stores[1], &acme.org.id).await, before);
    }
    let current = Basis { guard: Some(guard), ..by(&jane) };
    stores[0].update_user(&inactive, &change, &current).await.unwrap();
}

#[tokio::test]
async fn an_insert_of_a_permission_decided_for_a_stale_caller_is_a_conflict_and_stores_nothing() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let jane = moved_member(&stores, &acme, "jane@example.com").await;
    let before = picture(&stores[1], &acme.org.id).await;
    let id = PermissionId::from_random(&fresh_random());
    let operations = vec![Operation::ReadUser];
    let (auditors, created) =
        domain::create_permission(&caller(&jane), id, name("Auditors"), operations, T0);

    for stale in stale_bases(&jane) {
        let result = stores[0].insert_permission(&auditors, &created, &stale).await;

        assert!(matches!(result, Err(InsertPermissionError::Conflict)), "{stale:?}: {result:?}");
        assert_eq!(stores[1].find_permission(&auditors.id).await.unwrap(), None);
        assert_eq!(picture(&stores[1], &acme.org.id).await, before);
    }
    stores[0].insert_permission(&auditors, &created, &by(&jane)).await.unwrap();
}

#[tokio::test]
async fn an_update_of_a_permission_decided_for_a_stale_caller_is_a_conflict_and_changes_nothing() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let jane = moved_member(&stores, &acme, "jane@example.com").await;
    let assigners =
        acme.create_permission(&stores[0], "Assigners", &[Operation::AssignPermission]).await;
    let bob = acme.insert_user(&stores[0], "bob@example.com", UserKind::CustomerEmployee).await;
    assign(&stores[0], &acme, &assigners, &bob).await;
    let before = picture(&stores[1], &acme.org.id).await;
    // An archive, which would end bob's assignment and move his version.
    let (archived, change) = archive_permission(&caller(&jane), &assigners, T0).unwrap();
    let guard = before.assigners.guard.clone();

    for stale in stale_bases(&jane) {
        let basis = Basis { guard: Some(guard.clone()), ..stale };
        let result = stores[0].update_permission(&archived, &change, &basis).await;

        assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{basis:?}: {result:?}");
        assert_eq!(picture(&stores[1], &acme.org.id).await, before);
        assert_eq!(stores[1].list_assignments(&assigners.id).await.unwrap().len(), 1);
    }
    let current = Basis { guard: Some(guard), ..by(&jane) };
    stores[0].update_permission(&archived, &change, &current).await.unwrap();
}

#[tokio::test]
async fn a_change_of_a_permissions_operations_moves_its_holders_versions_and_a_rename_does_not() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let readers = acme.create_permission(&stores[0], "Readers", &[Operation::ReadUser]).await;
    let member = |name| acme.insert_user(&stores[0], name, UserKind::CustomerEmployee);
    let (jane, bob) = (member("jane@example.com").await, member("bob@example.com").await);
    let (carol, dave) = (member("carol@example.com").await, member("dave@example.com").await);
    assign(&stores[0], &acme, &readers, &jane).await;
    // An inactive holder still holds it; a former holder does not.
    let bob = assign(&stores[0], &acme, &readers, &bob).await;
    deactivate(&stores[0], &acme, &bob).await;
    let carol = assign(&stores[0], &acme, &readers, &carol).await;
    let carols = carol.assignments[0].assignment_id.clone();
    let (revoked, change) =
        revoke_assignment(&acme.caller(), &readers, &carol, &carols, T0).unwrap();
    stores[0].update_user(&revoked, &change, &acme.basis()).await.unwrap();
    let everyone = [&jane, &bob, &carol, &dave, &acme.admin];
    let before = versions(&stores[1], &everyone).await;
    let operations = vec![Operation::ReadUser, Operation::CreateUser];
    let (changed, change) =
        domain::update_permission(&acme.caller(), &readers, None, Some(operations), T0).unwrap();

    stores[0].update_permission(&changed, &change, &acme.basis()).await.unwrap();

    let after = versions(&stores[1], &everyone).await;
    assert_eq!(after, [before[0] + 1, before[1] + 1, before[2], before[3], before[4]]);
    let current = stores[1].find_permission(&readers.id).await.unwrap().unwrap();
    let (renamed, change) =
        domain::update_permission(&acme.caller(), &current, Some(name("Viewers")), None, T0)
            .unwrap();
    stores[0].update_permission(&renamed, &change, &acme.basis()).await.unwrap();
    assert_eq!(versions(&stores[1], &everyone).await, after, "a rename moves nobody");
    let jane_now = stores[1].find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(jane_now.assignments[0].permission_name, "Viewers");
}

#[tokio::test]
async fn archiving_a_permission_moves_its_holders_versions() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let readers = acme.create_permission(&stores[0], "Readers", &[Operation::ReadUser]).await;
    let member = |name| acme.insert_user(&stores[0], name, UserKind::CustomerEmployee);
    let (jane, bob) = (member("jane@example.com").await, member("bob@example.com").await);
    let dave = member("dave@example.com").await;
    assign(&stores[0], &acme, &readers, &jane).await;
    let bob = assign(&stores[0], &acme, &readers, &bob).await;
    deactivate(&stores[0], &acme, &bob).await;
    let everyone = [&jane, &bob, &dave, &acme.admin];
    let before = versions(&stores[1], &everyone).await;
    let (archived, change) = archive_permission(&acme.caller(), &readers, T0).unwrap();

    stores[0].update_permission(&archived, &change, &acme.basis()).await.unwrap();

    let after = versions(&stores[1], &everyone).await;
    assert_eq!(after, [before[0] + 1, before[1] + 1, before[2], before[3]]);
    assert_eq!(stores[1].list_assignments(&readers.id).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_change_decided_for_a_holder_before_its_permission_lost_the_right_is_a_conflict() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let creators = acme.create_permission(&stores[0], "Creators", &[Operation::CreateUser]).await;
    let jane = acme.insert_user(&stores[0], "jane@example.com", UserKind::EndUser).await;
    let jane = assign(&stores[0], &acme, &creators, &jane).await;
    // Jane decides to create a user while she may ...
    let newcomer = new_user(&acme.org.id, "newcomer@example.com", UserKind::EndUser);
    let created = event(AuditKind::UserCreated, &newcomer, &jane.id, T0);
    // ... and loses the right before her change is written.
    let operations = vec![Operation::ReadUser];
    let (changed, change) =
        domain::update_permission(&acme.caller(), &creators, None, Some(operations), T0).unwrap();
    stores[1].update_permission(&changed, &change, &acme.basis()).await.unwrap();

    let result = stores[0].insert_user(&newcomer, &[], &created, &by(&jane)).await;

    assert!(matches!(result, Err(InsertUserError::Conflict)), "{result:?}");
    assert_eq!(stores[1].find_user(&newcomer.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_change_by_a_caller_deactivated_between_decision_and_write_is_a_conflict() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let jane = acme.insert_user(&stores[0], "jane@example.com", UserKind::EndUser).await;
    let bob = acme.insert_user(&stores[0], "bob@example.com", UserKind::EndUser).await;
    // Jane decides to archive bob ...
    let (archived, change) = archive_user(&caller(&jane), &bob, T0).unwrap();
    // ... and is deactivated before her change is written.
    deactivate(&stores[1], &acme, &jane).await;
    let before = picture(&stores[1], &acme.org.id).await;

    let result = stores[0].update_user(&archived, &change, &by(&jane)).await;

    assert!(matches!(result, Err(UpdateUserError::Conflict)), "{result:?}");
    assert_eq!(stores[1].find_user(&bob.id).await.unwrap(), Some(bob));
    assert_eq!(picture(&stores[1], &acme.org.id).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_users_archiving_each_other_at_once_exactly_one_succeeds() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let mut pairs = Vec::new();
    let (acme, stores) = (&acme, &stores);
    let member = |name: String| async move {
        acme.insert_user(&stores[0], &name, UserKind::CustomerEmployee).await
    };
    for i in 0..CALLERS {
        let left = member(format!("left{i}@example.com")).await;
        let right = member(format!("right{i}@example.com")).await;
        pairs.push((left, right));
    }

    // Each of a pair archives the other, through its own store.
    let start = Arc::new(Barrier::new(2 * CALLERS));
    let mut tasks = JoinSet::new();
    for (i, (left, right)) in pairs.iter().enumerate() {
        for (side, (actor, target)) in [(left, right), (right, left)].into_iter().enumerate() {
            let (archived, change) = archive_user(&caller(actor), target, T0).unwrap();
            let (store, start, basis) = (stores[side].clone(), Arc::clone(&start), by(actor));
            tasks.spawn(async move {
                start.wait().await;
                (i, side, store.update_user(&archived, &change, &basis).await)
            });
        }
    }
    let mut outcomes = tasks.join_all().await;
    outcomes.sort_by_key(|(i, side, _)| (*i, *side));

    for (pair, (left, right)) in outcomes.chunks(2).zip(&pairs) {
        let won: Vec<bool> = pair.iter().map(|(_, _, result)| result.is_ok()).collect();
        assert_eq!(won.iter().filter(|won| **won).count(), 1, "{pair:?}");
        for (_, _, lost) in pair.iter().filter(|(_, _, result)| result.is_err()) {
            assert!(matches!(lost, Err(UpdateUserError::Conflict)), "{lost:?}");
        }
        let left = stores[0].find_user(&left.id).await.unwrap().unwrap();
        let right = stores[0].find_user(&right.id).await.unwrap().unwrap();
        // The winner archived the loser; the winner itself is untouched.
        assert_eq!((left.is_archived(), right.is_archived()), (won[1], won[0]));
        assert_eq!(left.version + right.version, 1);
    }
    let events = stores[1].events(&acme.org.id).await.unwrap();
    assert_eq!(events.len(), 1 + 2 * CALLERS + CALLERS, "the org, the pairs, one archive each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_by_a_caller_whose_deactivation_is_in_flight_waits_for_it_and_conflicts() {
    let Some(db) = Db::new().await else { return };
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    let bob = acme.insert_user(&store, "bob@example.com", UserKind::EndUser).await;
    let (archived, change) = archive_user(&caller(&jane), &bob, T0).unwrap();
    // Another process deactivates jane, and has not committed yet.
    let update = "UPDATE users SET state = 'Inactive', version = version + 1 WHERE id = $1";
    let deactivation = OtherProcess::holding(&db, update, jane.id.as_str()).await;

    let (writer, basis) = (store.clone(), by(&jane));
    let write = deactivation
        .blocks(async move { writer.update_user(&archived, &change, &basis).await })
        .await;
    deactivation.session.batch_execute("COMMIT").await.unwrap();
    let result = write.await.unwrap();

    assert!(matches!(result, Err(UpdateUserError::Conflict)), "{result:?}");
    assert_eq!(store.find_user(&bob.id).await.unwrap(), Some(bob));
}

/// An org with two members besides its admin, the one with the lower id
/// first: the order the store locks user rows in.
async fn org_of_two(store: &PostgresStore) -> (OrgFixture, User, User) {
    let acme = OrgFixture::create(store, "acme").await;
    let jane = acme.insert_user(store, "jane@example.com", UserKind::EndUser).await;
    let bob = acme.insert_user(store, "bob@example.com", UserKind::EndUser).await;
    if jane.id.as_str() < bob.id.as_str() { (acme, jane, bob) } else { (acme, bob, jane) }
}

/// Starts an archive of `target` by `actor` through `store` while another
/// process holds the target's row with `hold`, and returns once the archive
/// waits for it.
async fn archive_held_up(
    db: &Db,
    store: &PostgresStore,
    (actor, target): (&User, &User),
    hold: &str,
) -> (OtherProcess, JoinHandle<Result<(), UpdateUserError>>) {
    let (archived, change) = archive_user(&caller(actor), target, T0).unwrap();
    let other = OtherProcess::holding(db, hold, target.id.as_str()).await;
    let (writer, basis) = (store.clone(), by(actor));
    let write =
        other.blocks(async move { writer.update_user(&archived, &change, &basis).await }).await;
    (other, write)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_locks_the_lower_of_its_users_first_and_holds_nothing_while_it_waits() {
    let Some(db) = Db::new().await else { return };
    // Were the write to hold a row while it waits, the other session's
    // lock below would deadlock with it, and the database would abort the
    // write within 100 ms.
    let store = db.open_with("deadlock_timeout=100ms").await;
    // The caller's id is the higher: its row comes second.
    let (_acme, target, actor) = org_of_two(&store).await;
    let hold = "SELECT version FROM users WHERE id = $1 FOR UPDATE";
    let (other, write) = archive_held_up(&db, &store, (&actor, &target), hold).await;

    // The caller's row is free: the write has not reached it.
    let free = "SELECT version FROM users WHERE id = $1 FOR UPDATE NOWAIT";
    let locked = other.session.query_one(free, &[&actor.id.as_str()]).await;
    other.session.batch_execute("ROLLBACK").await.unwrap();

    assert!(locked.is_ok(), "the write held its caller's row while it waited: {locked:?}");
    write.await.unwrap().unwrap();
    assert!(store.find_user(&target.id).await.unwrap().unwrap().is_archived());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permission_update_locks_the_holders_it_moves_before_the_permission() {
    let Some(db) = Db::new().await else { return };
    let store = db.open_with("deadlock_timeout=100ms").await;
    let acme = OrgFixture::create(&store, "acme").await;
    let readers = acme.create_permission(&store, "Readers", &[Operation::ReadUser]).await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::CustomerEmployee).await;
    let jane = assign(&store, &acme, &readers, &jane).await;
    let operations = vec![Operation::ReadUser, Operation::CreateUser];
    let (changed, change) =
        domain::update_permission(&acme.caller(), &readers, None, Some(operations), T0).unwrap();
    // Another write by jane holds her row, as a change she makes would ...
    let hold = "SELECT version FROM users WHERE id = $1 FOR SHARE";
    let other = OtherProcess::holding(&db, hold, jane.id.as_str()).await;
    let (writer, basis) = (store.clone(), acme.basis());
    let write = other
        .blocks(async move { writer.update_permission(&changed, &change, &basis).await })
        .await;

    // ... and then wants the permission, as a new assignment of it does:
    // the update has not locked it yet.
    let assigning = "SELECT is_archived FROM permissions WHERE id = $1 FOR SHARE NOWAIT";
    let locked = other.session.query_one(assigning, &[&readers.id.as_str()]).await;
    other.session.batch_execute("ROLLBACK").await.unwrap();

    assert!(locked.is_ok(), "the update held the permission while it waited: {locked:?}");
    write.await.unwrap().unwrap();
    assert_eq!(versions(&store, &[&jane]).await, [jane.version + 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permission_update_that_missed_a_new_holder_is_a_conflict_and_changes_nothing() {
    let Some(db) = Db::new().await else { return };
    let stores = two_processes(&db).await;
    let acme = OrgFixture::create(&stores[0], "acme").await;
    let readers = acme.create_permission(&stores[0], "Readers", &[Operation::ReadUser]).await;
    let member = |name| acme.insert_user(&stores[0], name, UserKind::CustomerEmployee);
    let (jane, bob) = (member("jane@example.com").await, member("bob@example.com").await);
    let jane = assign(&stores[0], &acme, &readers, &jane).await;
    let operations = vec![Operation::ReadUser, Operation::CreateUser];
    let (changed, change) =
        domain::update_permission(&acme.caller(), &readers, None, Some(operations), T0).unwrap();
    // The admin's row is held elsewhere, so the update has read the
    // holders (jane) and waits for its caller's row ...
    let hold = "SELECT version FROM users WHERE id = $1 FOR UPDATE";
    let other = OtherProcess::holding(&db, hold, acme.admin.id.as_str()).await;
    let (writer, basis) = (stores[0].clone(), acme.basis());
    let write = other
        .blocks(async move { writer.update_permission(&changed, &change, &basis).await })
        .await;
    // ... while the other process gives bob the permission, by jane, whose
    // row the update may hold but does not write.
    let id = AssignmentId::from_random(&fresh_random());
    let (assigned, event) = assign_permission(&caller(&jane), &readers, &bob, id, T0).unwrap();
    stores[1].update_user(&assigned, &event, &by(&jane)).await.unwrap();
    let before = picture(&stores[1], &acme.org.id).await;
    other.session.batch_execute("ROLLBACK").await.unwrap();
    let result = write.await.unwrap();

    assert!(matches!(result, Err(UpdatePermissionError::Conflict)), "{result:?}");
    assert_eq!(picture(&stores[1], &acme.org.id).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_that_loses_a_deadlock_is_a_conflict_and_changes_nothing() {
    let Some(db) = Db::new().await else { return };
    // The store's session looks for a deadlock 3 s into a wait, the other
    // session never within the test: the store's write is the one the
    // database aborts.
    let store = db.open_with("deadlock_timeout=3s").await;
    // The caller's id is the lower: the store holds its row first.
    let (acme, actor, target) = org_of_two(&store).await;
    let before = picture(&store, &acme.org.id).await;
    // Another process holds the target's row, so the store's write, holding
    // its caller's row in share mode, waits for it ...
    let hold = "SELECT version FROM users WHERE id = $1 FOR SHARE";
    let (other, write) = archive_held_up(&db, &store, (&actor, &target), hold).await;

    // ... and then the other process, against the store's order, waits for
    // the caller's row: a deadlock.
    let touch = "UPDATE users SET external_id = 'touched' WHERE id = $1";
    let touched = other.session.execute(touch, &[&actor.id.as_str()]).await;
    other.session.batch_execute("ROLLBACK").await.unwrap();
    let result = write.await.unwrap();

    assert!(matches!(result, Err(UpdateUserError::Conflict)), "{result:?}");
    assert_eq!(touched.unwrap(), 1, "the other process went on once the store gave way");
    assert_eq!(picture(&store, &acme.org.id).await, before);
}
