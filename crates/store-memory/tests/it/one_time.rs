//! Challenges taken once, user actions spent once, nonces accepted once,
//! and the signing key stored once, also when many tasks race for them.

use std::sync::Arc;

use domain::{
    Challenge, ChallengeId, ChallengePurpose, CredentialUuid, HttpMethod, Timestamp,
    UserActionGrant, UserActionRequest, UserActionToken,
};
use ports::{OneTimeStore, SecretStore};
use store_memory::MemoryStore;
use tokio::task::JoinSet;

use crate::support::{NOW, org_id, random, user_id};

const RACERS: usize = 64;

fn challenge(seed: u8) -> Challenge {
    let purpose = ChallengePurpose::Login { org_id: org_id(1), user_id: user_id(1) };
    Challenge::issue(purpose, &[seed; 32], &[seed.wrapping_add(1); 32], NOW)
}

fn grant(seed: u8) -> UserActionGrant {
    UserActionGrant {
        token: UserActionToken::from_random(&[seed; 32]),
        org_id: org_id(1),
        user_id: user_id(1),
        credential_uuid: CredentialUuid::from_random(&random(1)),
        request: UserActionRequest {
            method: HttpMethod::Delete,
            path: "/auth/users/us-x".to_owned(),
            payload: "{}".to_owned(),
        },
        issued_at: NOW,
        used_at: None,
    }
}

#[tokio::test]
async fn a_challenge_is_taken_once() {
    let store = MemoryStore::new();
    let issued = challenge(1);
    store.insert_challenge(&issued).await.unwrap();

    let first = store.take_challenge(&issued.id).await.unwrap();
    let second = store.take_challenge(&issued.id).await.unwrap();

    assert_eq!(first, Some(issued));
    assert_eq!(second, None);
}

#[tokio::test]
async fn an_unknown_challenge_is_not_found() {
    let store = MemoryStore::new();
    store.insert_challenge(&challenge(1)).await.unwrap();

    let taken = store.take_challenge(&ChallengeId::from_wire("nope")).await.unwrap();

    assert_eq!(taken, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_takers_get_a_challenge_once() {
    let store = MemoryStore::new();
    let issued = challenge(1);
    store.insert_challenge(&issued).await.unwrap();
    let id = Arc::new(issued.id.clone());

    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let (store, id) = (store.clone(), Arc::clone(&id));
        racers.spawn(async move { store.take_challenge(&id).await.unwrap() });
    }
    let taken: Vec<Challenge> = racers.join_all().await.into_iter().flatten().collect();

    assert_eq!(taken, vec![issued]);
}

#[tokio::test]
async fn a_user_action_is_spent_once_and_remembers_when() {
    let store = MemoryStore::new();
    let issued = grant(1);
    store.insert_user_action(&issued).await.unwrap();
    let later = Timestamp::from_unix_millis(NOW.unix_millis() + 5);

    let first = store.spend_user_action(&issued.token, later).await.unwrap();
    let second = store.spend_user_action(&issued.token, later).await.unwrap();

    assert!(first);
    assert!(!second);
    let stored = store.find_user_action(&issued.token).await.unwrap().unwrap();
    assert_eq!(stored.used_at, Some(later));
}

#[tokio::test]
async fn an_unknown_user_action_is_never_spent() {
    let store = MemoryStore::new();
    store.insert_user_action(&grant(1)).await.unwrap();
    let unknown = UserActionToken::from_wire("unknown");

    assert!(!store.spend_user_action(&unknown, NOW).await.unwrap());
    assert_eq!(store.find_user_action(&unknown).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_spenders_spend_a_user_action_once() {
    let store = MemoryStore::new();
    let issued = grant(1);
    store.insert_user_action(&issued).await.unwrap();
    let token = Arc::new(issued.token.clone());

    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let (store, token) = (store.clone(), Arc::clone(&token));
        racers.spawn(async move { store.spend_user_action(&token, NOW).await.unwrap() });
    }
    let outcomes = racers.join_all().await;

    assert_eq!(outcomes.iter().filter(|spent| **spent).count(), 1);
    assert_eq!(outcomes.len(), RACERS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn every_caller_gets_the_first_stored_signing_key() {
    let store = MemoryStore::new();

    let mut racers = JoinSet::new();
    for racer in 0..RACERS {
        let store = store.clone();
        racers.spawn(async move { store.token_signing_key(&[racer as u8; 48]).await.unwrap() });
    }
    let keys = racers.join_all().await;

    let stored = store.token_signing_key(b"too late").await.unwrap();
    assert_eq!(stored.len(), 48);
    assert!(keys.iter().all(|key| *key == stored));
}

#[tokio::test]
async fn a_nonce_is_accepted_once_and_others_are_not_affected() {
    let store = MemoryStore::new();

    let first = store.use_nonce("0b6e7c4e-3f1a-4b8e", NOW).await.unwrap();
    let again = store.use_nonce("0b6e7c4e-3f1a-4b8e", NOW).await.unwrap();
    let other = store.use_nonce("0b6e7c4e-3f1a-4b8f", NOW).await.unwrap();

    assert!(first);
    assert!(!again);
    assert!(other);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_requests_use_a_nonce_once() {
    let store = MemoryStore::new();

    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let store = store.clone();
        racers.spawn(async move { store.use_nonce("racing-nonce-uuid", NOW).await.unwrap() });
    }
    let outcomes = racers.join_all().await;

    assert_eq!(outcomes.iter().filter(|accepted| **accepted).count(), 1);
    assert_eq!(outcomes.len(), RACERS);
}
