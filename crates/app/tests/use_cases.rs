//! The use cases against mocked ports: what they write, what they never
//! write, and how they decide again after losing a race.

use std::sync::{Arc, Mutex};

use app::{
    AccessError, ActionError, ArchivePermissionError, ArchiveUserError, Assertion,
    CreateCredentialError, CreateCredentialRequest, LoginError, Ports, Service, SignedRequest,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{
    Assignment, AssignmentId, AuditKind, Caller, Challenge, ChallengeId, ChallengePurpose, CredId,
    Credential, CredentialKind, CredentialUuid, HttpMethod, LifecycleState, Operation, OrgId,
    Permission, PermissionAssignment, PermissionId, PermissionName, Timestamp, User,
    UserActionError, UserActionGrant, UserActionRequest, UserActionToken, UserId, UserKind,
    Username, WebAuthnError,
};
use mockall::predicate::eq;
use ports::{
    AddCredentialError, AssignersSnapshot, KeyAlgorithm, MockAuthTokens, MockClock,
    MockOneTimeStore, MockPermissionRepository, MockRandomness, MockSignatureVerifier,
    MockUserRepository, OrgGuard, UpdatePermissionError, UpdateUserError, VerifyError,
};
use sha2::{Digest, Sha256};

/// Every port mocked.
struct Mocked;

impl Ports for Mocked {
    type Users = MockUserRepository;
    type Permissions = MockPermissionRepository;
    type OneTime = MockOneTimeStore;
    type Verifier = MockSignatureVerifier;
    type Tokens = MockAuthTokens;
    type Clock = MockClock;
    type Random = MockRandomness;
}

type TestService = Service<Mocked>;

const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// The mocks a test sets expectations on before building the service.
struct Mocks {
    users: MockUserRepository,
    permissions: MockPermissionRepository,
    one_time: MockOneTimeStore,
    verifier: MockSignatureVerifier,
    tokens: MockAuthTokens,
}

impl Mocks {
    fn new() -> Mocks {
        Mocks {
            users: MockUserRepository::new(),
            permissions: MockPermissionRepository::new(),
            one_time: MockOneTimeStore::new(),
            verifier: MockSignatureVerifier::new(),
            tokens: MockAuthTokens::new(),
        }
    }

    fn service(self) -> TestService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        let mut random = MockRandomness::new();
        random.expect_fill().returning(|buffer| buffer.fill(7));
        Service::new(
            self.users,
            self.permissions,
            self.one_time,
            self.verifier,
            self.tokens,
            clock,
            random,
        )
    }
}

fn org() -> OrgId {
    OrgId::from_random(&[1; 26])
}

fn user(seed: u8, name: &str, operations: &[Operation]) -> User {
    let assignments = if operations.is_empty() {
        Vec::new()
    } else {
        vec![PermissionAssignment {
            assignment_id: AssignmentId::from_random(&[seed; 26]),
            permission_id: PermissionId::from_random(&[seed; 26]),
            permission_name: "Role".to_owned(),
            operations: operations.to_vec(),
        }]
    };
    User {
        id: UserId::from_random(&[seed; 26]),
        org_id: org(),
        kind: UserKind::CustomerEmployee,
        username: Username::parse(name).unwrap(),
        credential_uuid: None,
        is_registered: true,
        is_service_account: false,
        is_sso_required: false,
        external_id: None,
        state: LifecycleState::Active,
        assignments,
        created_at: NOW,
        version: 3,
    }
}

fn admin() -> Caller {
    let admin = user(10, "admin@x.io", Operation::ALL);
    Caller::from_token_subject(admin, &org()).unwrap()
}

fn archive_request(target: &UserId) -> SignedRequest {
    SignedRequest {
        user_action: Some(UserActionToken::from_wire("token")),
        request: UserActionRequest {
            method: HttpMethod::Delete,
            path: format!("/auth/users/{target}"),
            payload: "{}".to_owned(),
        },
    }
}

fn grant_for(caller: &Caller, request: &SignedRequest) -> UserActionGrant {
    UserActionGrant {
        token: UserActionToken::from_wire("token"),
        org_id: caller.org_id().clone(),
        user_id: caller.id().clone(),
        credential_uuid: CredentialUuid::from_random(&[4; 26]),
        request: request.request.clone(),
        issued_at: NOW,
        used_at: None,
    }
}

fn expect_valid_user_action(mocks: &mut Mocks, caller: &Caller, request: &SignedRequest) {
    let grant = grant_for(caller, request);
    mocks.one_time.expect_find_user_action().return_once(move |_| Ok(Some(grant)));
    mocks.one_time.expect_spend_user_action().times(1).returning(|_, _| Ok(true));
}

/// Expects the caller's record to be read once more, after a lost race,
/// and answers it unchanged.
fn expect_caller_read_again(mocks: &mut Mocks, caller: &Caller) {
    let record = caller.user().clone();
    mocks
        .users
        .expect_find_user()
        .with(eq(caller.id().clone()))
        .times(1)
        .return_once(move |_| Ok(Some(record)));
}

#[tokio::test]
async fn archive_writes_the_change_and_its_audit_event_together() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[Operation::ReadUser]);
    let request = archive_request(&target.id);
    let mut mocks = Mocks::new();
    expect_valid_user_action(&mut mocks, &caller, &request);
    let stored = target.clone();
    mocks.users.expect_find_user().return_once(move |_| Ok(Some(stored)));
    let (target_id, caller_id) = (target.id.clone(), caller.id().clone());
    mocks
        .users
        .expect_update_user()
        .withf(move |user, event, basis| {
            user.id == target_id
                && user.version == 3
                && user.is_archived()
                && user.assignments.is_empty()
                && event.kind == AuditKind::UserArchived
                && event.user_id == target_id
                && event.actor == caller_id
                && event.at == NOW
                && basis.actor == caller_id
                && basis.actor_version == 3
                && basis.guard.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(()));

    let archived =
        mocks.service().archive_user(&caller, &request, target.id.as_str()).await.unwrap();

    assert!(!archived.is_active());
    assert!(archived.assignments.is_empty());
    assert_eq!(archived.version, 4);
}

#[tokio::test]
async fn a_lost_race_is_decided_again_on_fresh_data() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[]);
    let request = archive_request(&target.id);
    let mut mocks = Mocks::new();
    expect_valid_user_action(&mut mocks, &caller, &request);
    let mut reads = vec![User { version: 4, ..target.clone() }, target.clone()];
    let target_id = target.id.clone();
    mocks.users.expect_find_user().with(eq(target_id)).times(2).returning(move |_| Ok(reads.pop()));
    expect_caller_read_again(&mut mocks, &caller);
    let mut answers = vec![Ok(()), Err(UpdateUserError::Conflict)];
    mocks
        .users
        .expect_update_user()
        .times(2)
        .returning(move |_, _, _| answers.pop().expect("two writes"));

    let archived =
        mocks.service().archive_user(&caller, &request, target.id.as_str()).await.unwrap();

    assert_eq!(archived.version, 5, "the second decision was made on version 4");
}

#[tokio::test]
async fn a_race_lost_to_another_archive_ends_in_not_found() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[]);
    let request = archive_request(&target.id);
    let mut mocks = Mocks::new();
    expect_valid_user_action(&mut mocks, &caller, &request);
    let archived_meanwhile = User {
        state: LifecycleState::Archived { at: NOW, by: caller.id().clone() },
        version: 4,
        ..target.clone()
    };
    let mut reads = vec![archived_meanwhile, target.clone()];
    let target_id = target.id.clone();
    mocks.users.expect_find_user().with(eq(target_id)).times(2).returning(move |_| Ok(reads.pop()));
    expect_caller_read_again(&mut mocks, &caller);
    mocks.users.expect_update_user().times(1).returning(|_, _, _| Err(UpdateUserError::Conflict));

    let outcome = mocks.service().archive_user(&caller, &request, target.id.as_str()).await;

    assert!(matches!(outcome, Err(ArchiveUserError::Refused(domain::ArchiveUserError::NotFound))));
}

#[tokio::test]
async fn a_caller_without_the_permission_is_refused_before_the_user_action_is_read() {
    let caller =
        Caller::from_token_subject(user(11, "reader@x.io", &[Operation::ReadUser]), &org())
            .unwrap();
    let target = user(20, "jane@x.io", &[]);
    let mut mocks = Mocks::new();
    mocks.one_time.expect_find_user_action().times(0);
    mocks.users.expect_update_user().times(0);

    let outcome = mocks
        .service()
        .archive_user(&caller, &archive_request(&target.id), target.id.as_str())
        .await;

    assert!(matches!(outcome, Err(ArchiveUserError::Access(AccessError::NotAuthorized(_)))));
}

#[tokio::test]
async fn a_misbound_user_action_is_refused_and_left_unspent() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[]);
    let signed_for_other = archive_request(&UserId::from_random(&[30; 26]));
    let grant = grant_for(&caller, &signed_for_other);
    let mut mocks = Mocks::new();
    mocks.one_time.expect_find_user_action().return_once(move |_| Ok(Some(grant)));
    mocks.one_time.expect_spend_user_action().times(0);
    mocks.users.expect_update_user().times(0);

    let outcome = mocks
        .service()
        .archive_user(&caller, &archive_request(&target.id), target.id.as_str())
        .await;

    assert!(matches!(
        outcome,
        Err(ArchiveUserError::Access(AccessError::UserAction(UserActionError::MissingOrInvalid)))
    ));
}

#[tokio::test]
async fn a_user_action_spent_by_a_concurrent_request_is_refused() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[]);
    let request = archive_request(&target.id);
    let grant = grant_for(&caller, &request);
    let mut mocks = Mocks::new();
    mocks.one_time.expect_find_user_action().return_once(move |_| Ok(Some(grant)));
    mocks.one_time.expect_spend_user_action().times(1).returning(|_, _| Ok(false));
    mocks.users.expect_update_user().times(0);

    let outcome = mocks.service().archive_user(&caller, &request, target.id.as_str()).await;

    assert!(matches!(
        outcome,
        Err(ArchiveUserError::Access(AccessError::UserAction(UserActionError::AlreadyUsed)))
    ));
}

fn action_challenge(caller: &Caller) -> Challenge {
    let purpose = ChallengePurpose::UserAction {
        org_id: caller.org_id().clone(),
        user_id: caller.id().clone(),
        request: archive_request(caller.id()).request,
    };
    Challenge::issue(purpose, &[5; 32], &[6; 32], NOW)
}

fn credential_of(caller: &Caller) -> Credential {
    Credential {
        uuid: CredentialUuid::from_random(&[4; 26]),
        cred_id: CredId::parse("cred-1").unwrap(),
        user_id: caller.id().clone(),
        org_id: caller.org_id().clone(),
        kind: CredentialKind::Key,
        name: String::new(),
        public_key_pem: "-----BEGIN PUBLIC KEY-----".to_owned(),
        sign_count: 0,
        relying_party_id: None,
        origin: None,
        is_active: true,
        created_at: NOW,
    }
}

fn assertion_for(challenge: &Challenge) -> Assertion {
    Assertion {
        cred_id: "cred-1".to_owned(),
        client_data: format!(r#"{{"type":"key.get","challenge":"{}"}}"#, challenge.challenge)
            .into_bytes(),
        signature: vec![1, 2, 3],
        authenticator_data: None,
    }
}

#[tokio::test]
async fn a_failed_signature_issues_no_user_action() {
    let caller = admin();
    let challenge = action_challenge(&caller);
    let assertion = assertion_for(&challenge);
    let credential = credential_of(&caller);
    let mut mocks = Mocks::new();
    let taken = challenge.clone();
    mocks
        .one_time
        .expect_take_challenge()
        .with(eq(challenge.id.clone()))
        .return_once(move |_| Ok(Some(taken)));
    mocks.users.expect_find_credential().return_once(move |_, _| Ok(Some(credential)));
    mocks.verifier.expect_verify().return_once(|_, _, _| Err(VerifyError::InvalidSignature));
    mocks.one_time.expect_insert_user_action().times(0);

    let outcome = mocks.service().action(&caller, challenge.id.as_str(), &assertion).await;

    assert!(matches!(outcome, Err(ActionError::InvalidSignature)));
}

#[tokio::test]
async fn a_good_signature_issues_a_grant_bound_to_the_signed_request() {
    let caller = admin();
    let challenge = action_challenge(&caller);
    let assertion = assertion_for(&challenge);
    let credential = credential_of(&caller);
    let mut mocks = Mocks::new();
    let taken = challenge.clone();
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(taken)));
    mocks.users.expect_find_credential().return_once(move |_, _| Ok(Some(credential)));
    mocks
        .verifier
        .expect_verify()
        .withf(|pem, message, signature| {
            pem.starts_with("-----BEGIN") && message.starts_with(b"{") && signature == [1, 2, 3]
        })
        .return_once(|_, _, _| Ok(()));
    let expected_request = archive_request(caller.id()).request;
    let caller_id = caller.id().clone();
    mocks
        .one_time
        .expect_insert_user_action()
        .withf(move |grant| {
            grant.request == expected_request
                && grant.user_id == caller_id
                && grant.used_at.is_none()
        })
        .times(1)
        .returning(|_| Ok(()));

    let token = mocks.service().action(&caller, challenge.id.as_str(), &assertion).await;

    assert!(token.is_ok());
}

#[tokio::test]
async fn client_data_for_another_challenge_is_an_invalid_signature() {
    let caller = admin();
    let challenge = action_challenge(&caller);
    let mut assertion = assertion_for(&challenge);
    assertion.client_data = br#"{"type":"key.get","challenge":"other"}"#.to_vec();
    let credential = credential_of(&caller);
    let mut mocks = Mocks::new();
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(challenge)));
    mocks.users.expect_find_credential().return_once(move |_, _| Ok(Some(credential)));
    mocks.verifier.expect_verify().times(0);
    mocks.one_time.expect_insert_user_action().times(0);

    let outcome = mocks.service().action(&caller, "any", &assertion).await;

    assert!(matches!(outcome, Err(ActionError::InvalidSignature)));
}

#[tokio::test]
async fn a_failed_login_signature_issues_no_token() {
    let admin = admin();
    let purpose = ChallengePurpose::Login { org_id: org(), user_id: admin.id().clone() };
    let challenge = Challenge::issue(purpose, &[5; 32], &[6; 32], NOW);
    let assertion = assertion_for(&challenge);
    let credential = credential_of(&admin);
    let stored = admin.user().clone();
    let mut mocks = Mocks::new();
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(challenge)));
    mocks.users.expect_find_user().return_once(move |_| Ok(Some(stored)));
    mocks.users.expect_find_credential().return_once(move |_, _| Ok(Some(credential)));
    mocks.verifier.expect_verify().return_once(|_, _, _| Err(VerifyError::InvalidSignature));
    mocks.tokens.expect_issue().times(0);

    let outcome = mocks.service().login(ChallengeId::from_wire("c").as_str(), &assertion).await;

    assert!(matches!(outcome, Err(LoginError::InvalidSignature)));
}

/// The caller's passkey, whose counter stands at 7.
fn passkey_of(caller: &Caller) -> Credential {
    Credential {
        kind: CredentialKind::Fido2,
        sign_count: 7,
        relying_party_id: Some("localhost".to_owned()),
        ..credential_of(caller)
    }
}

/// A passkey's answer to `challenge` on `http://localhost`, its counter at
/// `count`, the user present and verified.
fn passkey_assertion(challenge: &Challenge, count: u32) -> Assertion {
    let mut authenticator_data = Sha256::digest(b"localhost").to_vec();
    authenticator_data.push(0x05);
    authenticator_data.extend_from_slice(&count.to_be_bytes());
    let signed = URL_SAFE_NO_PAD.encode(challenge.challenge.as_bytes());
    let client_data =
        format!(r#"{{"type":"webauthn.get","challenge":"{signed}","origin":"http://localhost"}}"#);
    Assertion {
        cred_id: "cred-1".to_owned(),
        client_data: client_data.into_bytes(),
        signature: vec![1, 2, 3],
        authenticator_data: Some(authenticator_data),
    }
}

#[tokio::test]
async fn a_passkey_signature_raises_its_counter_after_it_verified() {
    let caller = admin();
    let challenge = action_challenge(&caller);
    let assertion = passkey_assertion(&challenge, 8);
    let credential = passkey_of(&caller);
    let uuid = credential.uuid.clone();
    let mut mocks = Mocks::new();
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(challenge)));
    mocks.users.expect_find_credential().return_once(move |_, _| Ok(Some(credential)));
    let expected = assertion.clone();
    mocks
        .verifier
        .expect_verify()
        .withf(move |_, message, _| {
            let data = expected.authenticator_data.as_ref().unwrap();
            message == domain::signed_message(data, &expected.client_data)
        })
        .times(1)
        .return_once(|_, _, _| Ok(()));
    mocks
        .users
        .expect_advance_sign_count()
        .with(eq(uuid), eq(8))
        .times(1)
        .return_once(|_, _| Ok(true));
    mocks.one_time.expect_insert_user_action().times(1).returning(|_| Ok(()));

    let outcome = mocks.service().action(&caller, "any", &assertion).await;

    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn a_forged_passkey_signature_leaves_the_counter_alone() {
    let caller = admin();
    let challenge = action_challenge(&caller);
    let assertion = passkey_assertion(&challenge, 1_000);
    let credential = passkey_of(&caller);
    let mut mocks = Mocks::new();
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(challenge)));
    mocks.users.expect_find_credential().return_once(move |_, _| Ok(Some(credential)));
    mocks.verifier.expect_verify().return_once(|_, _, _| Err(VerifyError::InvalidSignature));
    mocks.users.expect_advance_sign_count().times(0);
    mocks.one_time.expect_insert_user_action().times(0);

    let outcome = mocks.service().action(&caller, "any", &assertion).await;

    assert!(matches!(outcome, Err(ActionError::InvalidSignature)));
}

#[tokio::test]
async fn a_passkey_counter_raised_meanwhile_by_another_request_refuses_this_one() {
    let caller = admin();
    let challenge = action_challenge(&caller);
    let assertion = passkey_assertion(&challenge, 8);
    let credential = passkey_of(&caller);
    let mut mocks = Mocks::new();
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(challenge)));
    mocks.users.expect_find_credential().return_once(move |_, _| Ok(Some(credential)));
    mocks.verifier.expect_verify().return_once(|_, _, _| Ok(()));
    // Another process spent an assertion with the same counter first.
    mocks.users.expect_advance_sign_count().return_once(|_, _| Ok(false));
    mocks.one_time.expect_insert_user_action().times(0);

    let outcome = mocks.service().action(&caller, "any", &assertion).await;

    assert!(matches!(outcome, Err(ActionError::WebAuthn(WebAuthnError::CounterNotIncreased))));
}

#[tokio::test]
async fn a_passkey_counter_that_did_not_grow_is_judged_after_the_signature() {
    let caller = admin();
    let challenge = action_challenge(&caller);
    let mut mocks = Mocks::new();
    let taken = challenge.clone();
    mocks.one_time.expect_take_challenge().times(2).returning(move |_| Ok(Some(taken.clone())));
    let credential = passkey_of(&caller);
    mocks
        .users
        .expect_find_credential()
        .times(2)
        .returning(move |_, _| Ok(Some(credential.clone())));
    // A forged signature with a stale counter is told "invalid signature",
    // not that its counter is stale; a genuine one, that it is.
    let mut verdicts = vec![Err(VerifyError::InvalidSignature), Ok(())].into_iter();
    mocks.verifier.expect_verify().times(2).returning(move |_, _, _| verdicts.next().unwrap());
    mocks.users.expect_advance_sign_count().times(0);
    mocks.one_time.expect_insert_user_action().times(0);
    let service = mocks.service();

    let forged = service.action(&caller, "any", &passkey_assertion(&challenge, 7)).await;
    let stale = service.action(&caller, "any", &passkey_assertion(&challenge, 7)).await;

    assert!(matches!(forged, Err(ActionError::InvalidSignature)));
    assert!(matches!(stale, Err(ActionError::WebAuthn(WebAuthnError::CounterNotIncreased))));
}

/// A `Key` registration of a key whose signature the mocked verifier
/// takes, for the registration challenge `challenge`.
fn key_registration(challenge: &Challenge) -> CreateCredentialRequest {
    let client_data = format!(r#"{{"type":"key.create","challenge":"{}"}}"#, challenge.challenge);
    let attestation = r#"{"publicKey":"-----BEGIN PUBLIC KEY-----","signature":"0a0b"}"#;
    CreateCredentialRequest {
        challenge_id: challenge.id.as_str().to_owned(),
        kind: CredentialKind::Key,
        name: "backup key".to_owned(),
        cred_id: "backup".to_owned(),
        client_data: client_data.into_bytes(),
        attestation_data: attestation.as_bytes().to_vec(),
    }
}

fn registration_challenge(caller: &Caller) -> Challenge {
    let purpose = ChallengePurpose::Registration {
        org_id: caller.org_id().clone(),
        user_id: caller.id().clone(),
        kind: CredentialKind::Key,
    };
    Challenge::issue(purpose, &[5; 32], &[6; 32], NOW)
}

fn registration_request() -> SignedRequest {
    SignedRequest {
        user_action: Some(UserActionToken::from_wire("token")),
        request: UserActionRequest {
            method: HttpMethod::Post,
            path: "/auth/credentials".to_owned(),
            payload: "{}".to_owned(),
        },
    }
}

/// Expects the registration's user action to be found and spent.
fn grant_registration(mocks: &mut Mocks, caller: &Caller) {
    let grant = UserActionGrant {
        token: UserActionToken::from_wire("token"),
        org_id: caller.org_id().clone(),
        user_id: caller.id().clone(),
        credential_uuid: CredentialUuid::from_random(&[4; 26]),
        request: registration_request().request,
        issued_at: NOW,
        used_at: None,
    };
    mocks.one_time.expect_find_user_action().return_once(move |_| Ok(Some(grant)));
    mocks.one_time.expect_spend_user_action().return_once(|_, _| Ok(true));
}

#[tokio::test]
async fn a_registration_whose_signature_fails_stores_nothing() {
    let caller = admin();
    let challenge = registration_challenge(&caller);
    let request = key_registration(&challenge);
    let mut mocks = Mocks::new();
    grant_registration(&mut mocks, &caller);
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(challenge)));
    mocks.verifier.expect_check_public_key().return_once(|_| Ok(KeyAlgorithm::EcdsaP256));
    mocks.verifier.expect_verify().return_once(|_, _, _| Err(VerifyError::InvalidSignature));
    mocks.users.expect_add_credential().times(0);

    let outcome =
        mocks.service().create_credential(&caller, &registration_request(), request).await;

    assert!(matches!(outcome, Err(CreateCredentialError::InvalidSignature)));
}

#[tokio::test]
async fn a_registration_that_loses_a_race_is_decided_again_on_the_fresh_user() {
    let caller = admin();
    let challenge = registration_challenge(&caller);
    let request = key_registration(&challenge);
    let mut mocks = Mocks::new();
    grant_registration(&mut mocks, &caller);
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(challenge)));
    mocks.verifier.expect_check_public_key().return_once(|_| Ok(KeyAlgorithm::EcdsaP256));
    mocks.verifier.expect_verify().return_once(|_, _, _| Ok(()));
    let first = caller.user().clone();
    let fresh = User { version: first.version + 1, ..first.clone() };
    let mut reads = vec![first, fresh].into_iter();
    mocks.users.expect_find_user().times(2).returning(move |_| Ok(reads.next()));
    let mut outcomes = vec![Err(AddCredentialError::Conflict), Ok(())].into_iter();
    let versions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = versions.clone();
    mocks.users.expect_add_credential().times(2).returning(move |user, credential, event| {
        assert_eq!(credential.name, "backup key");
        assert_eq!(event.kind, AuditKind::CredentialCreated);
        seen.lock().unwrap().push(user.version);
        outcomes.next().unwrap()
    });

    let outcome =
        mocks.service().create_credential(&caller, &registration_request(), request).await;

    let credential = outcome.unwrap();
    assert_eq!(credential.kind, CredentialKind::Key);
    assert_eq!(credential.cred_id.as_str(), "backup");
    assert_eq!(*versions.lock().unwrap(), [3, 4]);
}

#[tokio::test]
async fn a_registration_of_a_user_deactivated_meanwhile_is_refused() {
    let caller = admin();
    let challenge = registration_challenge(&caller);
    let request = key_registration(&challenge);
    let mut mocks = Mocks::new();
    grant_registration(&mut mocks, &caller);
    mocks.one_time.expect_take_challenge().return_once(move |_| Ok(Some(challenge)));
    mocks.verifier.expect_check_public_key().return_once(|_| Ok(KeyAlgorithm::EcdsaP256));
    mocks.verifier.expect_verify().return_once(|_, _, _| Ok(()));
    let deactivated = User { state: LifecycleState::Inactive, ..caller.user().clone() };
    mocks.users.expect_find_user().return_once(move |_| Ok(Some(deactivated)));
    mocks.users.expect_add_credential().times(0);

    let outcome =
        mocks.service().create_credential(&caller, &registration_request(), request).await;

    assert!(matches!(outcome, Err(CreateCredentialError::UserNotFound)));
}

/// Sets up an archive of `target` by `caller` whose first write loses its
/// race, after which the caller's record reads as `caller_now`.
fn archive_losing_once(caller: &Caller, target: &User, caller_now: Option<User>) -> Mocks {
    let request = archive_request(&target.id);
    let mut mocks = Mocks::new();
    expect_valid_user_action(&mut mocks, caller, &request);
    let stored = target.clone();
    mocks
        .users
        .expect_find_user()
        .with(eq(target.id.clone()))
        .times(1)
        .return_once(move |_| Ok(Some(stored)));
    mocks
        .users
        .expect_find_user()
        .with(eq(caller.id().clone()))
        .times(1)
        .return_once(move |_| Ok(caller_now));
    mocks.users.expect_update_user().times(1).returning(|_, _, _| Err(UpdateUserError::Conflict));
    mocks
}

#[tokio::test]
async fn a_caller_deactivated_while_its_change_was_decided_is_refused() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[]);
    let deactivated = User { state: LifecycleState::Inactive, version: 4, ..caller.user().clone() };
    let mocks = archive_losing_once(&caller, &target, Some(deactivated));

    let outcome = mocks
        .service()
        .archive_user(&caller, &archive_request(&target.id), target.id.as_str())
        .await;

    assert!(matches!(outcome, Err(ArchiveUserError::Access(AccessError::Unauthenticated))));
}

#[tokio::test]
async fn a_caller_archived_while_its_change_was_decided_is_refused() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[]);
    let archived = User {
        state: LifecycleState::Archived { at: NOW, by: target.id.clone() },
        assignments: Vec::new(),
        version: 4,
        ..caller.user().clone()
    };
    let mocks = archive_losing_once(&caller, &target, Some(archived));

    let outcome = mocks
        .service()
        .archive_user(&caller, &archive_request(&target.id), target.id.as_str())
        .await;

    assert!(matches!(outcome, Err(ArchiveUserError::Access(AccessError::Unauthenticated))));
}

#[tokio::test]
async fn a_caller_who_lost_the_right_meanwhile_is_refused() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[]);
    let reader = user(10, "admin@x.io", &[Operation::ReadUser]);
    let mocks = archive_losing_once(&caller, &target, Some(User { version: 4, ..reader }));

    let outcome = mocks
        .service()
        .archive_user(&caller, &archive_request(&target.id), target.id.as_str())
        .await;

    assert!(matches!(outcome, Err(ArchiveUserError::Access(AccessError::NotAuthorized(_)))));
}

#[tokio::test]
async fn a_change_that_loses_every_race_gives_up_as_contended() {
    let caller = admin();
    let target = user(20, "jane@x.io", &[]);
    let request = archive_request(&target.id);
    let mut mocks = Mocks::new();
    expect_valid_user_action(&mut mocks, &caller, &request);
    let (caller_record, target_record) = (caller.user().clone(), target.clone());
    mocks.users.expect_find_user().returning(move |id| {
        Ok(Some(if *id == caller_record.id {
            caller_record.clone()
        } else {
            target_record.clone()
        }))
    });
    mocks.users.expect_update_user().times(256).returning(|_, _, _| Err(UpdateUserError::Conflict));

    let outcome = mocks.service().archive_user(&caller, &request, target.id.as_str()).await;

    assert!(matches!(outcome, Err(ArchiveUserError::Contended(_))));
}

/// A second assignment that grants `Permissions:Assign`, of a permission
/// other than `user`'s.
fn second_assign_grant() -> PermissionAssignment {
    PermissionAssignment {
        assignment_id: AssignmentId::from_random(&[21; 26]),
        permission_id: PermissionId::from_random(&[21; 26]),
        permission_name: "Second".to_owned(),
        operations: vec![Operation::AssignPermission],
    }
}

/// The live, mutable permission behind `held`, which grants
/// `Permissions:Assign`.
fn assign_permission_behind(held: &PermissionAssignment) -> Permission {
    Permission {
        id: held.permission_id.clone(),
        org_id: org(),
        name: PermissionName::parse("Role").unwrap(),
        operations: vec![Operation::AssignPermission],
        is_immutable: false,
        is_archived: false,
        created_at: NOW,
        updated_at: NOW,
        version: 0,
    }
}

/// The live assignment `held` of `holder`, as the permission lists it.
fn listed(held: &PermissionAssignment, holder: &User) -> Assignment {
    Assignment {
        id: held.assignment_id.clone(),
        permission_id: held.permission_id.clone(),
        user_id: holder.id.clone(),
        org_id: org(),
        is_immutable: false,
        created_at: NOW,
        ended_at: None,
    }
}

/// A request carrying a user action for `method path` with body `{}`.
fn signed(method: HttpMethod, path: String) -> SignedRequest {
    SignedRequest {
        user_action: Some(UserActionToken::from_wire("token")),
        request: UserActionRequest { method, path, payload: "{}".to_owned() },
    }
}

#[tokio::test]
async fn a_revoke_that_leaves_the_holder_another_grant_still_takes_the_guard() {
    // The holder keeps `Permissions:Assign` through a second assignment;
    // the revoke must still compare and set the org's guard, or a
    // concurrent change taking the second grant away would pass the guard
    // on a picture where this one still stands.
    let caller = admin();
    let mut holder = user(20, "holder@x.io", &[Operation::AssignPermission]);
    holder.assignments.push(second_assign_grant());
    let revoked = holder.assignments[0].clone();
    let permission = assign_permission_behind(&revoked);
    let path = format!("/permissions/{}/assignments/{}", permission.id, revoked.assignment_id);
    let request = signed(HttpMethod::Delete, path);
    let mut mocks = Mocks::new();
    expect_valid_user_action(&mut mocks, &caller, &request);
    let found = permission.clone();
    mocks.permissions.expect_find_permission().return_once(move |_| Ok(Some(found)));
    let listed = listed(&revoked, &holder);
    mocks.permissions.expect_list_assignments().return_once(move |_| Ok(vec![listed]));
    let stored = holder.clone();
    mocks.users.expect_find_user().return_once(move |_| Ok(Some(stored)));
    let guard = OrgGuard { org_id: org(), version: 9 };
    let snapshot = AssignersSnapshot { guard: guard.clone(), assigners: vec![holder.id.clone()] };
    mocks.permissions.expect_assigners().times(1).return_once(move |_| Ok(snapshot));
    mocks
        .users
        .expect_update_user()
        .withf(move |user, _, basis| {
            user.assignments.len() == 1 && basis.guard == Some(guard.clone())
        })
        .times(1)
        .returning(|_, _, _| Ok(()));

    let outcome = mocks
        .service()
        .revoke_assignment(
            &caller,
            &request,
            permission.id.as_str(),
            revoked.assignment_id.as_str(),
        )
        .await;

    assert!(outcome.is_ok(), "{outcome:?}");
}

/// The org as a concurrent revoke leaves it, for
/// `a_permission_archive_that_missed_a_concurrent_revoke_is_decided_again`:
/// the holder's second grant, and the org's guard version.
struct RevokedMeanwhile {
    holds_second: bool,
    guard: u64,
}

#[tokio::test]
async fn a_permission_archive_that_missed_a_concurrent_revoke_is_decided_again() {
    // The holder can assign through the archived permission and a second
    // one. Right after the archive reads the holder, another request
    // revokes the second one, and moves the guard. The archive must not
    // count on the second grant: it conflicts, reads again, and finds it
    // would leave nobody who can assign.
    let caller =
        Caller::from_token_subject(user(10, "admin@x.io", &[Operation::ArchivePermission]), &org())
            .unwrap();
    let holder = user(20, "holder@x.io", &[Operation::AssignPermission]);
    let held = holder.assignments[0].clone();
    let second = second_assign_grant();
    let permission = assign_permission_behind(&held);
    let request = signed(HttpMethod::Put, format!("/permissions/{}/archive", permission.id));
    let world = Arc::new(Mutex::new(RevokedMeanwhile { holds_second: true, guard: 9 }));
    let mut mocks = Mocks::new();
    expect_valid_user_action(&mut mocks, &caller, &request);
    let found = permission.clone();
    mocks.permissions.expect_find_permission().returning(move |_| Ok(Some(found.clone())));
    let listed = listed(&held, &holder);
    mocks.permissions.expect_list_assignments().returning(move |_| Ok(vec![listed.clone()]));
    let seen = Arc::clone(&world);
    let holder_id = holder.id.clone();
    mocks.permissions.expect_assigners().returning(move |_| {
        let guard = OrgGuard { org_id: org(), version: seen.lock().unwrap().guard };
        Ok(AssignersSnapshot { guard, assigners: vec![holder_id.clone()] })
    });
    let (changed, caller_record) = (Arc::clone(&world), caller.user().clone());
    mocks.users.expect_find_user().returning(move |id| {
        if *id == caller_record.id {
            return Ok(Some(caller_record.clone()));
        }
        let mut world = changed.lock().unwrap();
        let mut read = holder.clone();
        if world.holds_second {
            read.assignments.push(second.clone());
            // The revoke commits right after this read.
            *world = RevokedMeanwhile { holds_second: false, guard: world.guard + 1 };
        }
        Ok(Some(read))
    });
    let written = Arc::clone(&world);
    mocks.permissions.expect_update_permission().returning(move |_, _, basis| {
        let guard = basis.guard.as_ref().map(|guard| guard.version);
        if guard == Some(written.lock().unwrap().guard) {
            Ok(())
        } else {
            Err(UpdatePermissionError::Conflict)
        }
    });

    let outcome =
        mocks.service().archive_permission(&caller, &request, permission.id.as_str()).await;

    assert!(matches!(outcome, Err(ArchivePermissionError::LastAssigner(_))), "{outcome:?}");
}
