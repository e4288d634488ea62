//! Challenges, user-action grants and request nonces.

use domain::{
    Challenge, ChallengeId, ChallengePurpose, CredentialKind, CredentialUuid, HttpMethod, OrgId,
    Timestamp, UserActionGrant, UserActionRequest, UserActionToken, UserId,
};
use ports::OneTimeStore;

use crate::fixtures::{Db, T0, fresh_random, fresh_token};

fn delete_request() -> UserActionRequest {
    UserActionRequest {
        method: HttpMethod::Delete,
        path: "/auth/users/us-3v9kq-2m1c8-7tq0d5l3h2b9a8xw".to_owned(),
        payload: "{}".to_owned(),
    }
}

/// An unspent grant for a fresh token.
pub(crate) fn grant() -> UserActionGrant {
    UserActionGrant {
        token: fresh_token(),
        org_id: OrgId::from_random(&fresh_random()),
        user_id: UserId::from_random(&fresh_random()),
        credential_uuid: CredentialUuid::from_random(&fresh_random()),
        request: delete_request(),
        issued_at: T0,
        used_at: None,
    }
}

#[tokio::test]
async fn a_challenge_is_taken_once_whatever_its_purpose() {
    let db = Db::new();
    let store = db.open().await;
    let org_id = OrgId::from_random(&fresh_random());
    let user_id = UserId::from_random(&fresh_random());
    let login = ChallengePurpose::Login { org_id: org_id.clone(), user_id: user_id.clone() };
    let action = ChallengePurpose::UserAction {
        org_id: org_id.clone(),
        user_id: user_id.clone(),
        request: delete_request(),
    };
    let registrations = CredentialKind::ALL.iter().map(|&kind| ChallengePurpose::Registration {
        org_id: org_id.clone(),
        user_id: user_id.clone(),
        kind,
    });

    for (i, purpose) in [login, action].into_iter().chain(registrations).enumerate() {
        let challenge = Challenge::issue(purpose, &[7; 32], &[i as u8; 32], T0);
        store.insert_challenge(&challenge).await.unwrap();

        assert_eq!(store.take_challenge(&challenge.id).await.unwrap(), Some(challenge.clone()));
        assert_eq!(store.take_challenge(&challenge.id).await.unwrap(), None);
    }
    let unknown = ChallengeId::from_wire("never-issued");
    assert_eq!(store.take_challenge(&unknown).await.unwrap(), None);
}

#[tokio::test]
async fn a_user_action_is_spent_once_and_still_found_afterwards() {
    let db = Db::new();
    let store = db.open().await;
    let grant = grant();
    store.insert_user_action(&grant).await.unwrap();
    assert_eq!(store.find_user_action(&grant.token).await.unwrap(), Some(grant.clone()));
    let spent_at = Timestamp::from_unix_millis(T0.unix_millis() + 1_000);

    assert!(store.spend_user_action(&grant.token, spent_at).await.unwrap());
    assert!(!store.spend_user_action(&grant.token, spent_at).await.unwrap());

    let found = store.find_user_action(&grant.token).await.unwrap();
    assert_eq!(found, Some(UserActionGrant { used_at: Some(spent_at), ..grant }));
    let unknown = UserActionToken::from_wire("never-issued");
    assert_eq!(store.find_user_action(&unknown).await.unwrap(), None);
    assert!(!store.spend_user_action(&unknown, spent_at).await.unwrap());
}

#[tokio::test]
async fn a_nonce_is_accepted_once_by_every_process_on_the_file() {
    let db = Db::new();
    let (first, second) = (db.open().await, db.open().await);

    assert!(first.use_nonce("0b6e7c4e-3f1a-4b8e", T0).await.unwrap());
    assert!(!first.use_nonce("0b6e7c4e-3f1a-4b8e", T0).await.unwrap());
    assert!(!second.use_nonce("0b6e7c4e-3f1a-4b8e", T0).await.unwrap());
    assert!(second.use_nonce("0b6e7c4e-3f1a-4b8f", T0).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nonce_presented_by_many_at_once_is_accepted_once() {
    let db = Db::new();
    let stores = [db.open().await, db.open().await];

    let mut racers = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = stores[i % 2].clone();
        racers.spawn(async move { store.use_nonce("racing-nonce-uuid", T0).await.unwrap() });
    }
    let accepted = racers.join_all().await;

    assert_eq!(accepted.iter().filter(|won| **won).count(), 1, "{accepted:?}");
}
