//! What the server spends on one signed archive of a user, next to the one
//! signature verification it cannot avoid.
//!
//! Every benchmark is in the one group `archive`, so that all figures come
//! from the same run on the same machine: `docs/benchmarks.md` reports them
//! as ratios to `bare_p256_verify`, which hold up on a noisy machine where
//! absolute times do not.
//!
//! - `bare_p256_verify`: aws-lc-rs verifies a P-256 signature over client
//!   data with the raw public point. No server can do less.
//! - `key_verifier_p256`: the same through the `SignatureVerifier` port,
//!   which reads the credential's PEM on every call.
//! - `archive_user_signed`: what the server does once the client has
//!   signed: `Service::action` (takes the challenge, checks the credential,
//!   the client data and the signature, issues the grant), then
//!   `Service::archive_user` (permission, spends the grant, loads, decides,
//!   compare-and-set, audit).
//! - `archive_user_only`: `Service::archive_user` with a grant stored
//!   beforehand: everything but the signature.
//! - the same for an admin with an Ed25519 key, with `bare_ed25519_verify`
//!   as its floor.
//!
//! The service runs on the real adapters: `MemoryStore`, `KeyVerifier`,
//! `JwtTokens`, the system clock and aws-lc-rs randomness. What a client
//! does (creating the target user, `action_init`, signing) is set up before
//! each iteration and not timed. No tracing subscriber is installed, so the
//! use cases' spans cost next to nothing.
//!
//! Run with `cargo bench -p app --bench archive`.

use std::cell::Cell;
use std::hint::black_box;

use app::{Assertion, Ports, Service, SignedRequest};
use auth_token::JwtTokens;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, UnparsedPublicKey, VerificationAlgorithm,
};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion};
use domain::{
    Caller, Challenge, CredId, HttpMethod, NewUser, OrgName, Timestamp, User, UserActionGrant,
    UserActionRequest, UserActionToken, UserId, UserKind, Username,
};
use ports::{Basis, Clock, OneTimeStore, Randomness, SignatureVerifier, UserRepository};
use signature::KeyVerifier;
use store_memory::MemoryStore;
use tokio::runtime::Runtime;

/// The adapters the benchmark runs the use cases on.
struct BenchPorts;

impl Ports for BenchPorts {
    type Users = MemoryStore;
    type Permissions = MemoryStore;
    type OneTime = MemoryStore;
    type Verifier = KeyVerifier;
    type Tokens = JwtTokens;
    type Clock = SystemClock;
    type Random = SystemRandom;
}

/// The system's wall clock, as the server reads it.
struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970");
        Timestamp::from_unix_millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// The cryptographic generator of aws-lc-rs, as the server draws from it.
struct SystemRandom;

impl Randomness for SystemRandom {
    fn fill(&self, buffer: &mut [u8]) {
        aws_lc_rs::rand::fill(buffer).expect("the system random generator failed");
    }
}

/// An admin's key pair, whose private half signs as a client would.
enum AdminKey {
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl AdminKey {
    fn p256() -> AdminKey {
        AdminKey::P256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap())
    }

    fn ed25519() -> AdminKey {
        AdminKey::Ed25519(Ed25519KeyPair::generate().unwrap())
    }

    /// The SubjectPublicKeyInfo as PEM: what the server stores.
    fn public_key_pem(&self) -> String {
        let spki = match self {
            AdminKey::P256(pair) => pair.public_key().as_der().unwrap(),
            AdminKey::Ed25519(pair) => pair.public_key().as_der().unwrap(),
        };
        pem::encode(&pem::Pem::new("PUBLIC KEY", spki.as_ref()))
    }

    /// The bare public key, as aws-lc-rs verifies with it.
    fn public_key_bytes(&self) -> &[u8] {
        match self {
            AdminKey::P256(pair) => pair.public_key().as_ref(),
            AdminKey::Ed25519(pair) => pair.public_key().as_ref(),
        }
    }

    fn verification_algorithm(&self) -> &'static dyn VerificationAlgorithm {
        match self {
            AdminKey::P256(_) => &ECDSA_P256_SHA256_ASN1,
            AdminKey::Ed25519(_) => &ED25519,
        }
    }

    /// Signs as the official SDK's key signer does: ASN.1 DER for ECDSA,
    /// the raw 64 bytes for Ed25519.
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            AdminKey::P256(pair) => {
                let random = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(&random, message).unwrap().as_ref().to_vec()
            }
            AdminKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

/// The client data a key signer signs for a challenge.
fn client_data(challenge: &Challenge) -> Vec<u8> {
    // A challenge is base64url, so it needs no JSON escaping.
    format!(r#"{{"type":"key.get","challenge":"{}"}}"#, challenge.challenge).into_bytes()
}

/// The request that archives `user_id`, as the TypeScript SDK sends it.
fn delete_request(user_id: &str) -> UserActionRequest {
    UserActionRequest {
        method: HttpMethod::Delete,
        path: format!("/auth/users/{user_id}"),
        payload: "{}".to_owned(),
    }
}

/// An archive the client has signed, ready to send.
struct SignedArchive {
    user_id: String,
    challenge_id: String,
    assertion: Assertion,
    request: UserActionRequest,
}

/// An archive whose user action was granted beforehand.
struct GrantedArchive {
    user_id: String,
    signed: SignedRequest,
}

/// One org on the real adapters, its admin logged in with `key`.
struct Fixture {
    runtime: Runtime,
    service: Service<BenchPorts>,
    store: MemoryStore,
    key: AdminKey,
    caller: Caller,
    cred_id: CredId,
    next_user: Cell<u64>,
}

impl Fixture {
    fn new(key: AdminKey) -> Fixture {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let store = MemoryStore::new();
        let tokens = JwtTokens::from_pkcs8(&auth_token::generate_signing_key()).unwrap();
        let service = Service::new(
            store.clone(),
            store.clone(),
            store.clone(),
            KeyVerifier::new(),
            tokens,
            SystemClock,
            SystemRandom,
        );
        let (caller, cred_id) = runtime.block_on(log_in(&service, &key));
        Fixture { runtime, service, store, key, caller, cred_id, next_user: Cell::new(0) }
    }

    /// A fresh active user of the org, stored as `create_user` stores one.
    fn new_target(&self) -> String {
        let n = self.next_user.replace(self.next_user.get() + 1);
        let new = NewUser {
            id: UserId::from_random(&ports::random_array(&SystemRandom)),
            username: Username::parse(&format!("user{n}@bench.example")).unwrap(),
            kind: UserKind::EndUser,
            external_id: None,
            is_sso_required: false,
            credential: None,
        };
        let (user, event) = domain::create_user(&self.caller, new, SystemClock.now()).unwrap();
        let basis = Basis {
            actor: self.caller.id().clone(),
            actor_version: self.caller.user().version,
            guard: None,
        };
        self.runtime.block_on(self.store.insert_user(&user, &[], &event, &basis)).unwrap();
        user.id.to_string()
    }

    /// What the client does before the server's part: a target to
    /// archive, a challenge for its `DELETE`, and the signed client data.
    fn sign_archive(&self) -> SignedArchive {
        let user_id = self.new_target();
        let request = delete_request(&user_id);
        let issued =
            self.runtime.block_on(self.service.action_init(&self.caller, request.clone())).unwrap();
        let client_data = client_data(&issued.challenge);
        let assertion = Assertion {
            cred_id: self.cred_id.as_str().to_owned(),
            signature: self.key.sign(&client_data),
            authenticator_data: None,
            client_data,
        };
        let challenge_id = issued.challenge.id.as_str().to_owned();
        SignedArchive { user_id, challenge_id, assertion, request }
    }

    /// The server's part of a signed archive: `POST /auth/action`, then
    /// `DELETE /auth/users/{id}` with the user action it earned.
    fn archive_signed(&self, archive: SignedArchive) -> User {
        self.runtime.block_on(async {
            let token = self
                .service
                .action(&self.caller, &archive.challenge_id, &archive.assertion)
                .await
                .expect("the signed user action is accepted");
            let signed = SignedRequest { user_action: Some(token), request: archive.request };
            self.service
                .archive_user(&self.caller, &signed, &archive.user_id)
                .await
                .expect("the user is archived")
        })
    }

    /// A target to archive and a user action granted for it, stored as
    /// `Service::action` stores one.
    fn grant_archive(&self) -> GrantedArchive {
        let user_id = self.new_target();
        let grant = UserActionGrant {
            token: UserActionToken::from_random(&ports::random_array(&SystemRandom)),
            org_id: self.caller.org_id().clone(),
            user_id: self.caller.id().clone(),
            credential_uuid: self.caller.user().credential_uuid.clone().unwrap(),
            request: delete_request(&user_id),
            issued_at: SystemClock.now(),
            used_at: None,
        };
        self.runtime.block_on(self.store.insert_user_action(&grant)).unwrap();
        let signed = SignedRequest { user_action: Some(grant.token), request: grant.request };
        GrantedArchive { user_id, signed }
    }

    fn archive_granted(&self, archive: GrantedArchive) -> User {
        self.runtime
            .block_on(self.service.archive_user(&self.caller, &archive.signed, &archive.user_id))
            .expect("the user is archived")
    }

    /// Client data of the length the archives sign, and its signature.
    fn signed_client_data(&self) -> (Vec<u8>, Vec<u8>) {
        let request = delete_request("any");
        let issued =
            self.runtime.block_on(self.service.action_init(&self.caller, request)).unwrap();
        let message = client_data(&issued.challenge);
        let signature = self.key.sign(&message);
        (message, signature)
    }
}

/// Creates the org with `key` as its admin's credential, logs the admin in
/// with it and authenticates the login token, as a client would.
async fn log_in(service: &Service<BenchPorts>, key: &AdminKey) -> (Caller, CredId) {
    let name = OrgName::parse("Bench").unwrap();
    let username = "admin@bench.example";
    let admin = Username::parse(username).unwrap();
    let created = service.create_org(name, admin, key.public_key_pem()).await.unwrap();

    let issued = service.login_init(username, created.org.id.as_str()).await.unwrap();
    let client_data = client_data(&issued.challenge);
    let assertion = Assertion {
        cred_id: created.cred_id.as_str().to_owned(),
        signature: key.sign(&client_data),
        authenticator_data: None,
        client_data,
    };
    let token = service.login(issued.challenge.id.as_str(), &assertion).await.unwrap();
    let caller = service.authenticate(&token).await.unwrap();
    (caller, created.cred_id)
}

/// The floor: aws-lc-rs verifying a precomputed signature with the raw
/// public key, which it parses on every call as the port must.
fn bare_verify(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, fixture: &Fixture) {
    let (message, signature) = fixture.signed_client_data();
    let algorithm = fixture.key.verification_algorithm();
    let public_key = fixture.key.public_key_bytes();
    group.bench_function(name, |b| {
        b.iter(|| {
            let key = UnparsedPublicKey::new(algorithm, black_box(public_key));
            assert!(key.verify(black_box(&message), black_box(&signature)).is_ok());
        })
    });
}

/// The port: the same verification, the PEM read on every call.
fn port_verify(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, fixture: &Fixture) {
    let (message, signature) = fixture.signed_client_data();
    let pem = fixture.key.public_key_pem();
    let verifier = KeyVerifier::new();
    group.bench_function(name, |b| {
        b.iter(|| {
            let verified = fixture.runtime.block_on(verifier.verify(
                black_box(&pem),
                black_box(&message),
                black_box(&signature),
            ));
            assert!(verified.is_ok());
        })
    });
}

fn archive_signed(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, fixture: &Fixture) {
    group.bench_function(name, |b| {
        b.iter_batched(
            || fixture.sign_archive(),
            |archive| fixture.archive_signed(archive),
            BatchSize::SmallInput,
        )
    });
}

fn archive_granted(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, fixture: &Fixture) {
    group.bench_function(name, |b| {
        b.iter_batched(
            || fixture.grant_archive(),
            |archive| fixture.archive_granted(archive),
            BatchSize::SmallInput,
        )
    });
}

fn archive(c: &mut Criterion) {
    let mut group = c.benchmark_group("archive");

    // A fixture per benchmark, so that no store carries the users another
    // benchmark created and archived.
    bare_verify(&mut group, "bare_p256_verify", &Fixture::new(AdminKey::p256()));
    port_verify(&mut group, "key_verifier_p256", &Fixture::new(AdminKey::p256()));
    archive_signed(&mut group, "archive_user_signed", &Fixture::new(AdminKey::p256()));
    archive_granted(&mut group, "archive_user_only", &Fixture::new(AdminKey::p256()));

    bare_verify(&mut group, "bare_ed25519_verify", &Fixture::new(AdminKey::ed25519()));
    port_verify(&mut group, "key_verifier_ed25519", &Fixture::new(AdminKey::ed25519()));
    archive_signed(&mut group, "archive_user_signed_ed25519", &Fixture::new(AdminKey::ed25519()));

    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    archive(&mut criterion);
    criterion.final_summary();
}
