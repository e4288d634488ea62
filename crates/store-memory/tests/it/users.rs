//! Users: unique names, compare-and-set updates, audit events, assignments
//! joined with their permissions, and pagination.

use std::collections::BTreeSet;

use domain::{AuditKind, Operation, UserKind, Username, archive_user};
use ports::{AuditLog, InsertUserError, UpdateUserError, UserRepository};
use store_memory::MemoryStore;

use crate::support::{
    NOW, assignment, create_org, create_permission, created, credential, event, operator, org_id,
    user, user_id,
};

async fn insert(store: &MemoryStore, user: &domain::User) -> Result<(), InsertUserError> {
    store.insert_user(user, &[], &created(user), &operator(store).await).await
}

#[tokio::test]
async fn a_case_or_unicode_variant_of_a_live_name_is_taken_and_nothing_is_stored() {
    let store = MemoryStore::new();
    let org = org_id(1);
    insert(&store, &user(&org, 1, "Jane@Example.com")).await.unwrap();
    insert(&store, &user(&org, 2, "jos\u{e9}@x.io")).await.unwrap();

    let variants = [(3, "jane@example.com"), (4, "JANE@EXAMPLE.COM"), (5, "jose\u{301}@x.io")];
    for (seed, name) in variants {
        let clash = user(&org, seed, name);
        let result = insert(&store, &clash).await;

        assert!(matches!(result, Err(InsertUserError::UsernameTaken)), "{name:?}");
        assert_eq!(store.find_user(&clash.id).await.unwrap(), None, "{name:?}");
    }
    assert_eq!(store.events(&org).await.unwrap().len(), 2);
    assert_eq!(store.list_users(&org, None, None, 10).await.unwrap().users.len(), 2);
}

#[tokio::test]
async fn a_taken_name_keeps_no_credential_of_the_refused_user() {
    let store = MemoryStore::new();
    let org = org_id(1);
    insert(&store, &user(&org, 1, "jane@x.io")).await.unwrap();
    let clash = user(&org, 2, "Jane@x.io");
    let key = credential(&clash, 9, true);

    let result = store
        .insert_user(&clash, std::slice::from_ref(&key), &created(&clash), &operator(&store).await)
        .await;

    assert!(matches!(result, Err(InsertUserError::UsernameTaken)));
    assert_eq!(store.find_credential(&clash.id, &key.cred_id).await.unwrap(), None);
}

#[tokio::test]
async fn the_same_name_is_free_in_another_org() {
    let store = MemoryStore::new();
    insert(&store, &user(&org_id(1), 1, "jane@x.io")).await.unwrap();

    insert(&store, &user(&org_id(2), 2, "Jane@x.io")).await.unwrap();

    let found = store
        .find_user_by_username(&org_id(2), &Username::parse("JANE@x.io").unwrap())
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(user_id(2)));
}

#[tokio::test]
async fn archiving_frees_the_name_and_the_archived_user_is_still_found_by_id() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = user(&org.id, 1, "jane@x.io");
    insert(&store, &jane).await.unwrap();
    let (archived, archive_event) = archive_user(&org.caller(), &jane, NOW).unwrap();
    store.update_user(&archived, &archive_event, &org.basis()).await.unwrap();

    let successor = user(&org.id, 2, "Jane@X.io");
    insert(&store, &successor).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert!(stored.is_archived());
    let by_name =
        store.find_user_by_username(&org.id, &Username::parse("jane@x.io").unwrap()).await.unwrap();
    assert_eq!(by_name.map(|u| u.id), Some(successor.id));
}

#[tokio::test]
async fn an_archived_user_is_not_found_by_name() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = user(&org.id, 1, "jane@x.io");
    insert(&store, &jane).await.unwrap();
    let (archived, archive_event) = archive_user(&org.caller(), &jane, NOW).unwrap();

    store.update_user(&archived, &archive_event, &org.basis()).await.unwrap();

    let by_name = store.find_user_by_username(&org.id, &jane.username).await.unwrap();
    assert_eq!(by_name, None);
}

#[tokio::test]
async fn an_update_bumps_the_version_and_writes_its_event() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = user(&org.id, 1, "jane@x.io");
    insert(&store, &jane).await.unwrap();
    let (archived, archive_event) = archive_user(&org.caller(), &jane, NOW).unwrap();

    store.update_user(&archived, &archive_event, &org.basis()).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.state, archived.state);
    let events = store.events(&org.id).await.unwrap();
    assert_eq!(events.last(), Some(&archive_event));
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn a_stale_update_is_a_conflict_and_changes_nothing() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = user(&org.id, 1, "jane@x.io");
    insert(&store, &jane).await.unwrap();
    let mut tagged = jane.clone();
    tagged.external_id = Some("first".to_owned());
    store
        .update_user(&tagged, &event(AuditKind::UserActivated, &jane, &org.admin.id), &org.basis())
        .await
        .unwrap();
    let before = store.find_user(&jane.id).await.unwrap();
    let events_before = store.events(&org.id).await.unwrap();

    // Decided on version 0, which is no longer the stored version.
    let (archived, archive_event) = archive_user(&org.caller(), &jane, NOW).unwrap();
    let result = store.update_user(&archived, &archive_event, &org.basis()).await;

    assert!(matches!(result, Err(UpdateUserError::Conflict)));
    assert_eq!(store.find_user(&jane.id).await.unwrap(), before);
    assert_eq!(store.events(&org.id).await.unwrap(), events_before);
    let by_name = store.find_user_by_username(&org.id, &jane.username).await.unwrap();
    assert_eq!(by_name.map(|u| u.id), Some(jane.id));
}

#[tokio::test]
async fn an_update_of_an_unknown_user_is_a_conflict() {
    let store = MemoryStore::new();
    let ghost = user(&org_id(1), 1, "ghost@x.io");

    let result = store.update_user(&ghost, &created(&ghost), &operator(&store).await).await;

    assert!(matches!(result, Err(UpdateUserError::Conflict)));
    assert_eq!(store.find_user(&ghost.id).await.unwrap(), None);
    assert!(store.events(&org_id(1)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_user_is_read_with_its_assignments() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;

    let admin = store.find_user(&org.admin.id).await.unwrap().unwrap();

    assert_eq!(admin, org.admin);
    assert!(admin.holds(Operation::DeleteUser));
}

#[tokio::test]
async fn an_update_ends_the_assignments_it_no_longer_lists() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let readers = create_permission(&store, &org, 102, "Readers", &[Operation::ReadUser]).await;
    let creators = create_permission(&store, &org, 103, "Creators", &[Operation::CreateUser]).await;
    let mut jane = user(&org.id, 1, "jane@x.io");
    jane.assignments = vec![assignment(&readers, 10), assignment(&creators, 11)];
    insert(&store, &jane).await.unwrap();

    let mut kept = jane.clone();
    kept.assignments.remove(0);
    let changed = event(AuditKind::UserActivated, &jane, &org.admin.id);
    store.update_user(&kept, &changed, &org.basis()).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(stored.assignments, vec![assignment(&creators, 11)]);
    assert!(!stored.holds(Operation::ReadUser));
}

#[tokio::test]
async fn archiving_ends_every_assignment() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let mut jane = user(&org.id, 1, "jane@x.io");
    jane.assignments = vec![assignment(&org.admin_permission, 10)];
    insert(&store, &jane).await.unwrap();
    let (archived, archive_event) = archive_user(&org.caller(), &jane, NOW).unwrap();

    store.update_user(&archived, &archive_event, &org.basis()).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert!(stored.assignments.is_empty());
}

#[tokio::test]
async fn an_assignment_of_another_orgs_permission_is_refused() {
    let store = MemoryStore::new();
    let one = create_org(&store, 1).await;
    let two = create_org(&store, 2).await;
    let mut jane = user(&two.id, 1, "jane@x.io");
    jane.assignments = vec![assignment(&one.admin_permission, 10)];

    let result = insert(&store, &jane).await;

    assert!(matches!(result, Err(InsertUserError::Store(_))));
    assert_eq!(store.find_user(&jane.id).await.unwrap(), None);
}

#[tokio::test]
async fn an_assignment_of_a_permission_never_stored_is_refused() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let jane = user(&org.id, 1, "jane@x.io");
    insert(&store, &jane).await.unwrap();
    let unknown = domain::Permission {
        id: domain::PermissionId::from_random(&crate::support::random(104)),
        ..org.admin_permission.clone()
    };
    let granted = domain::User { assignments: vec![assignment(&unknown, 10)], ..jane.clone() };

    let changed = event(AuditKind::UserActivated, &jane, &org.admin.id);
    let result = store.update_user(&granted, &changed, &org.basis()).await;

    assert!(matches!(result, Err(UpdateUserError::Store(_))), "{result:?}");
    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane));
}

#[tokio::test]
async fn orgs_are_counted_and_an_org_is_created_once() {
    let store = MemoryStore::new();
    assert_eq!(store.count_orgs().await.unwrap(), 0);
    let one = create_org(&store, 1).await;
    create_org(&store, 2).await;
    let admin = user(&one.id, 77, "other@x.io");
    let again = domain::Org {
        id: one.id.clone(),
        name: domain::OrgName::parse("Again").unwrap(),
        created_at: NOW,
    };
    let key = credential(&admin, 77, true);

    let result =
        store.create_org(&again, &one.admin_permission, &admin, &key, &created(&admin)).await;

    assert!(result.is_err());
    assert_eq!(store.count_orgs().await.unwrap(), 2);
    assert_eq!(store.find_user(&admin.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_inserts_of_one_name_store_one_user() {
    let store = MemoryStore::new();
    let org = org_id(1);
    let names = ["jos\u{e9}@x.io", "jose\u{301}@x.io", "JOS\u{c9}@x.io", "Jos\u{e9}@X.io"];
    operator(&store).await;

    let mut racers = tokio::task::JoinSet::new();
    for seed in 0..64 {
        let store = store.clone();
        let racer = user(&org, seed, names[seed as usize % names.len()]);
        racers.spawn(async move { insert(&store, &racer).await.is_ok() });
    }
    let outcomes = racers.join_all().await;

    assert_eq!(outcomes.iter().filter(|stored| **stored).count(), 1);
    let listed = store.list_users(&org, None, None, 100).await.unwrap();
    assert_eq!(listed.users.len(), 1);
    assert_eq!(store.events(&org).await.unwrap().len(), 1);
}

#[tokio::test]
async fn credentials_are_found_by_id_and_only_active_ones_are_listed() {
    let store = MemoryStore::new();
    let jane = user(&org_id(1), 1, "jane@x.io");
    let active = credential(&jane, 1, true);
    let retired = credential(&jane, 2, false);
    store
        .insert_user(
            &jane,
            &[active.clone(), retired.clone()],
            &created(&jane),
            &operator(&store).await,
        )
        .await
        .unwrap();

    let found = store.find_credential(&jane.id, &retired.cred_id).await.unwrap();
    let listed = store.list_credentials(&jane.id).await.unwrap();

    assert_eq!(found, Some(retired));
    assert_eq!(listed, vec![active]);
}

/// Every id the pages of a walk through `org`'s users show, in order.
async fn walk(
    store: &MemoryStore,
    org: &domain::OrgId,
    kind: Option<UserKind>,
    limit: usize,
) -> Vec<domain::UserId> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users(org, kind, after.clone(), limit).await.unwrap();
        assert!(page.users.len() <= limit);
        seen.extend(page.users.iter().map(|u| u.id.clone()));
        if !page.has_more {
            return seen;
        }
        after = page.users.last().map(|u| u.id.clone());
    }
}

#[tokio::test]
async fn pages_walk_each_live_user_once_in_id_order() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    insert(&store, &user(&org_id(2), 500, "elsewhere@x.io")).await.unwrap();
    let mut live = BTreeSet::from([org.admin.id.clone()]);
    let mut end_users = BTreeSet::new();
    // Seeds out of order, so insertion order is not id order.
    for seed in [17, 3, 11, 29, 5, 23, 2, 13, 19, 7, 31, 37, 41] {
        let mut member = user(&org.id, seed, &format!("member{seed}@x.io"));
        if seed % 3 == 0 {
            member.kind = UserKind::EndUser;
        }
        insert(&store, &member).await.unwrap();
        if seed % 4 == 1 {
            let (archived, archive_event) = archive_user(&org.caller(), &member, NOW).unwrap();
            store.update_user(&archived, &archive_event, &org.basis()).await.unwrap();
            continue;
        }
        if member.kind == UserKind::EndUser {
            end_users.insert(member.id.clone());
        }
        live.insert(member.id);
    }

    for limit in [1, 2, 3, 4, 100] {
        let seen = walk(&store, &org.id, None, limit).await;
        assert_eq!(seen, live.iter().cloned().collect::<Vec<_>>(), "limit {limit}");
        let seen = walk(&store, &org.id, Some(UserKind::EndUser), limit).await;
        assert_eq!(seen, end_users.iter().cloned().collect::<Vec<_>>(), "limit {limit}");
    }
}

#[tokio::test]
async fn a_full_last_page_says_nothing_more_follows() {
    let store = MemoryStore::new();
    let org = org_id(1);
    insert(&store, &user(&org, 1, "a@x.io")).await.unwrap();
    insert(&store, &user(&org, 2, "b@x.io")).await.unwrap();

    let page = store.list_users(&org, None, None, 2).await.unwrap();
    let short = store.list_users(&org, None, None, 1).await.unwrap();

    assert_eq!(page.users.len(), 2);
    assert!(!page.has_more);
    assert!(short.has_more);
}

#[tokio::test]
async fn a_walk_sees_once_every_user_that_lived_throughout_it() {
    let store = MemoryStore::new();
    let org = create_org(&store, 1).await;
    let mut throughout = BTreeSet::from([org.admin.id.clone()]);
    let mut doomed = Vec::new();
    for seed in 1..=20 {
        let member = user(&org.id, seed * 2, &format!("member{seed}@x.io"));
        insert(&store, &member).await.unwrap();
        if seed % 5 == 0 {
            doomed.push(member);
        } else {
            throughout.insert(member.id);
        }
    }

    let mut seen = Vec::new();
    let mut after = None;
    let mut step = 0;
    loop {
        let page = store.list_users(&org.id, None, after.clone(), 3).await.unwrap();
        seen.extend(page.users.iter().map(|u| u.id.clone()));
        // Between pages, a user is added and one archived.
        let newcomer = user(&org.id, 1000 + step, &format!("new{step}@x.io"));
        insert(&store, &newcomer).await.unwrap();
        if let Some(victim) = doomed.pop() {
            let (archived, archive_event) = archive_user(&org.caller(), &victim, NOW).unwrap();
            store.update_user(&archived, &archive_event, &org.basis()).await.unwrap();
        }
        step += 1;
        if !page.has_more {
            break;
        }
        after = page.users.last().map(|u| u.id.clone());
    }

    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a user was listed twice");
    assert!(throughout.is_subset(&unique));
}
