//! The user repository and the audit log it writes.

use domain::{
    AuditKind, Duration, LifecycleState, Operation, PermissionName, User, UserKind, archive_user,
    set_active,
};
use ports::{AuditLog, InsertUserError, UpdateUserError, UserRepository};

use crate::fixtures::{Db, OrgFixture, T0, assignment, event, key_credential, new_user, username};

#[tokio::test]
async fn a_created_org_has_its_admin_with_the_org_admin_assignment() {
    let db = Db::new();
    let store = db.open().await;

    let acme = OrgFixture::create(&store, "acme").await;

    let found = store.find_user(&acme.admin.id).await.unwrap().expect("the admin is stored");
    assert_eq!(found, acme.admin);
    assert_eq!(found.assignments.len(), 1);
    assert_eq!(found.assignments[0].permission_name, PermissionName::ORG_ADMIN);
    assert_eq!(found.assignments[0].operations, Operation::ALL);
    assert!(found.holds(Operation::DeleteUser));
    assert_eq!(store.count_orgs().await.unwrap(), 1);
    let credential = store
        .find_credential(&acme.admin.id, &acme.credential.cred_id)
        .await
        .unwrap()
        .expect("the admin's credential is stored");
    assert_eq!(credential, acme.credential);
    assert_eq!(store.list_credentials(&acme.admin.id).await.unwrap(), vec![acme.credential]);
    assert_eq!(store.events(&acme.org.id).await.unwrap(), vec![acme.event]);
}

#[tokio::test]
async fn an_inserted_user_is_found_by_id_and_by_any_spelling_of_its_name() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let mut jane = new_user(&acme.org.id, "Jane@Example.com", UserKind::EndUser);
    jane.external_id = Some("crm-42".to_owned());
    jane.is_sso_required = true;
    let credential = key_credential(&jane, "jane-key");
    jane.credential_uuid = Some(credential.uuid.clone());
    jane.is_registered = true;
    let created = event(AuditKind::UserCreated, &jane, &acme.admin.id, T0);

    store
        .insert_user(&jane, std::slice::from_ref(&credential), &created, &acme.basis())
        .await
        .unwrap();

    assert_eq!(store.find_user(&jane.id).await.unwrap(), Some(jane.clone()));
    let name = username("jane@EXAMPLE.com");
    let by_name = store.find_user_by_username(&acme.org.id, &name).await.unwrap();
    assert_eq!(by_name, Some(jane.clone()));
    assert_eq!(store.list_credentials(&jane.id).await.unwrap(), vec![credential]);
    assert_eq!(store.events(&acme.org.id).await.unwrap(), vec![acme.event, created]);
}

#[tokio::test]
async fn a_name_that_differs_only_in_case_or_normal_form_is_taken() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    acme.insert_user(&store, "Jane@Example.com", UserKind::EndUser).await;
    acme.insert_user(&store, "jos\u{e9}@example.com", UserKind::EndUser).await;
    let events_before = store.events(&acme.org.id).await.unwrap();

    for clash in
        ["jane@example.com", "JANE@EXAMPLE.COM", "jose\u{301}@example.com", "JOS\u{c9}@Example.com"]
    {
        let mut user = new_user(&acme.org.id, clash, UserKind::CustomerEmployee);
        user.assignments.push(assignment(&acme.permission));
        let credential = key_credential(&user, "clash-key");
        let created = event(AuditKind::UserCreated, &user, &acme.admin.id, T0);

        let inserted = store.insert_user(&user, &[credential], &created, &acme.basis()).await;

        assert!(matches!(inserted, Err(InsertUserError::UsernameTaken)), "{clash:?}: {inserted:?}");
        assert_eq!(store.find_user(&user.id).await.unwrap(), None, "{clash:?}");
        assert_eq!(store.list_credentials(&user.id).await.unwrap(), vec![], "{clash:?}");
    }
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
}

#[tokio::test]
async fn the_same_name_in_another_org_is_another_user() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let globex = OrgFixture::create(&store, "globex").await;

    let in_acme = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    let in_globex = globex.insert_user(&store, "Jane@Example.com", UserKind::EndUser).await;

    let name = username("jane@example.com");
    let found = store.find_user_by_username(&globex.org.id, &name).await.unwrap();
    assert_eq!(found, Some(in_globex));
    let found = store.find_user_by_username(&acme.org.id, &name).await.unwrap();
    assert_eq!(found, Some(in_acme));
    assert_eq!(store.count_orgs().await.unwrap(), 2);
}

#[tokio::test]
async fn archiving_frees_the_name_and_ends_every_assignment() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let mut jane = new_user(&acme.org.id, "jane@example.com", UserKind::CustomerEmployee);
    jane.assignments.push(assignment(&acme.permission));
    let created = event(AuditKind::UserCreated, &jane, &acme.admin.id, T0);
    store.insert_user(&jane, &[], &created, &acme.basis()).await.unwrap();
    let later = T0.plus(Duration::from_seconds(60));
    let (archived, archived_event) = archive_user(&acme.caller(), &jane, later).unwrap();

    store.update_user(&archived, &archived_event, &acme.basis()).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().expect("the record is kept");
    assert_eq!(stored.state, LifecycleState::Archived { at: later, by: acme.admin.id.clone() });
    assert_eq!(stored.assignments, vec![]);
    assert_eq!(stored.version, 1);
    let name = username("jane@example.com");
    assert_eq!(store.find_user_by_username(&acme.org.id, &name).await.unwrap(), None);
    let successor = acme.insert_user(&store, "Jane@example.com", UserKind::EndUser).await;
    let found = store.find_user_by_username(&acme.org.id, &name).await.unwrap();
    assert_eq!(found, Some(successor));
    let kinds: Vec<AuditKind> =
        store.events(&acme.org.id).await.unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::UserCreated,
            AuditKind::UserCreated,
            AuditKind::UserArchived,
            AuditKind::UserCreated
        ]
    );
}

#[tokio::test]
async fn an_update_adds_the_assignments_it_lists_with_the_permission_as_stored() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::CustomerEmployee).await;
    let mut listed = assignment(&acme.permission);
    // The stored permission decides the name and operations that are read.
    listed.permission_name = "stale name".to_owned();
    let granted = User { assignments: vec![listed.clone()], ..jane.clone() };
    let changed = event(AuditKind::UserActivated, &jane, &acme.admin.id, T0);

    store.update_user(&granted, &changed, &acme.basis()).await.unwrap();

    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(stored.assignments.len(), 1);
    assert_eq!(stored.assignments[0].assignment_id, listed.assignment_id);
    assert_eq!(stored.assignments[0].permission_name, PermissionName::ORG_ADMIN);
    assert_eq!(stored.version, 1);
}

#[tokio::test]
async fn an_update_from_a_stale_version_changes_nothing() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let jane = acme.insert_user(&store, "jane@example.com", UserKind::EndUser).await;
    let caller = acme.caller();
    let (inactive, deactivated) = set_active(&caller, &jane, false, T0).unwrap().unwrap();
    store.update_user(&inactive, &deactivated, &acme.basis()).await.unwrap();
    let events_before = store.events(&acme.org.id).await.unwrap();

    let (archived, archived_event) = archive_user(&caller, &jane, T0).unwrap();
    let updated = store.update_user(&archived, &archived_event, &acme.basis()).await;

    assert!(matches!(updated, Err(UpdateUserError::Conflict)), "{updated:?}");
    let stored = store.find_user(&jane.id).await.unwrap().unwrap();
    assert_eq!(stored, User { version: 1, ..inactive });
    assert_eq!(store.events(&acme.org.id).await.unwrap(), events_before);
}

#[tokio::test]
async fn an_update_of_an_unknown_user_is_a_conflict() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let ghost = new_user(&acme.org.id, "ghost@example.com", UserKind::EndUser);
    let changed = event(AuditKind::UserDeactivated, &ghost, &acme.admin.id, T0);

    let updated = store.update_user(&ghost, &changed, &acme.basis()).await;

    assert!(matches!(updated, Err(UpdateUserError::Conflict)), "{updated:?}");
    assert_eq!(store.events(&acme.org.id).await.unwrap(), vec![acme.event]);
}

#[tokio::test]
async fn paging_walks_every_live_user_of_a_kind_once() {
    let db = Db::new();
    let store = db.open().await;
    let acme = OrgFixture::create(&store, "acme").await;
    let globex = OrgFixture::create(&store, "globex").await;
    let mut end_users = Vec::new();
    let mut everyone = vec![acme.admin.id.clone()];
    for i in 0..7 {
        let kind = if i % 3 == 0 { UserKind::CustomerEmployee } else { UserKind::EndUser };
        let user = acme.insert_user(&store, &format!("user{i}@example.com"), kind).await;
        if kind == UserKind::EndUser {
            end_users.push(user.id.clone());
        }
        everyone.push(user.id);
    }
    globex.insert_user(&store, "outsider@example.com", UserKind::EndUser).await;
    let gone = acme.insert_user(&store, "gone@example.com", UserKind::EndUser).await;
    let (archived, archived_event) = archive_user(&acme.caller(), &gone, T0).unwrap();
    store.update_user(&archived, &archived_event, &acme.basis()).await.unwrap();

    for (kind, mut expected) in [(Some(UserKind::EndUser), end_users), (None, everyone)] {
        expected.sort();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_users(&acme.org.id, kind, after.clone(), 2).await.unwrap();
            assert!(page.users.len() <= 2);
            seen.extend(page.users.iter().map(|u| u.id.clone()));
            if !page.has_more {
                break;
            }
            after = page.users.last().map(|u| u.id.clone());
        }
        assert_eq!(seen, expected, "kind {kind:?}");
    }
    let all = store.list_users(&acme.org.id, None, None, 100).await.unwrap();
    assert!(!all.has_more);
    assert!(all.users.contains(&acme.admin), "users are listed with their assignments");
}
