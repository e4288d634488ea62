//! The test harness: the router over a service on real adapters, with a
//! clock the tests move, two orgs with their admins, and the client side of
//! the login and user-action flows, signed as the official SDK's key signer
//! signs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use app::{Ports, Service};
use auth_token::JwtTokens;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use domain::{Credential, Duration, OrgName, RelyingParty, Timestamp, User, UserId, Username};
use http_body_util::BodyExt;
use ports::{AuditLog, Clock, PermissionRepository, Randomness, UserRepository};
use serde_json::{Value, json};
use signature::KeyVerifier;
use store_memory::MemoryStore;
use tower::ServiceExt;

/// When every test starts: a whole second, so that a login token's `exp`
/// (whole seconds) falls exactly one lifetime later.
const START_MILLIS: i64 = 1_700_000_000_000;

/// A status and a JSON body, as the API answered.
pub(crate) type Reply = (StatusCode, Value);

/// The reply an error must be: `status` and the contract's error body.
pub(crate) fn error(status: StatusCode, message: &str) -> Reply {
    (status, json!({"error": {"status": status.as_u16(), "message": message}}))
}

/// The real adapters, but for a clock the test moves.
struct TestPorts;

impl Ports for TestPorts {
    type Users = MemoryStore;
    type Permissions = MemoryStore;
    type OneTime = MemoryStore;
    type Verifier = KeyVerifier;
    type Tokens = JwtTokens;
    type Clock = TestClock;
    type Random = OsRandom;
}

/// A clock that stands still until a test moves it.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

/// The system's cryptographic generator.
struct OsRandom;

impl Randomness for OsRandom {
    fn fill(&self, buffer: &mut [u8]) {
        aws_lc_rs::rand::fill(buffer).expect("the system random generator failed");
    }
}

/// An ECDSA P-256 key whose private half the test keeps.
#[derive(Clone)]
pub(crate) struct UserKey(Arc<EcdsaKeyPair>);

impl UserKey {
    /// A fresh key.
    pub(crate) fn generate() -> UserKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        UserKey(Arc::new(pair))
    }

    /// The public key as the server takes it: PEM SubjectPublicKeyInfo.
    pub(crate) fn public_key_pem(&self) -> String {
        let der = self.0.public_key().as_der().unwrap();
        let base64 = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> =
            base64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    /// A DER ECDSA signature over `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec()
    }

    /// The first factor the official SDK's key signer sends for a challenge
    /// answer: it signs `{"type":"key.get","challenge":...}`.
    pub(crate) fn answer(&self, challenge: &Value) -> Value {
        let client_data =
            json!({"type": "key.get", "challenge": challenge["challenge"]}).to_string();
        self.answer_with(challenge, &client_data)
    }

    /// A first factor that signs `client_data` as given, with the first
    /// credential the challenge allows: DER ECDSA, base64url without
    /// padding.
    pub(crate) fn answer_with(&self, challenge: &Value, client_data: &str) -> Value {
        let signature = self.0.sign(&SystemRandom::new(), client_data.as_bytes()).unwrap();
        json!({
            "kind": "Key",
            "credentialAssertion": {
                "credId": challenge["allowCredentials"]["key"][0]["id"],
                "clientData": URL_SAFE_NO_PAD.encode(client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
            }
        })
    }
}

/// A user of an org, as a client knows it: its ids, its email and its key.
#[derive(Clone)]
pub(crate) struct TestUser {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) email: String,
    pub(crate) key: UserKey,
}

/// A logged-in user and its login token.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) user: TestUser,
    pub(crate) token: String,
}

/// The router over a fresh service, with orgs A and B, each with an admin
/// who holds `OrgAdmin`.
pub(crate) struct TestApp {
    router: Router,
    store: MemoryStore,
    clock: Arc<AtomicI64>,
    pub(crate) admin_a: TestUser,
    pub(crate) admin_b: TestUser,
}

impl TestApp {
    pub(crate) async fn new() -> TestApp {
        TestApp::with_options(http_api::ApiOptions::default()).await
    }

    /// A fresh app whose router is built with `options`.
    pub(crate) async fn with_options(options: http_api::ApiOptions) -> TestApp {
        TestApp::with_relying_party(options, None).await
    }

    /// A fresh app whose router is built with `options`, accepting `Fido2`
    /// credentials of `relying_party` (the service's default when `None`).
    pub(crate) async fn with_relying_party(
        options: http_api::ApiOptions,
        relying_party: Option<RelyingParty>,
    ) -> TestApp {
        let store = MemoryStore::new();
        let clock = Arc::new(AtomicI64::new(START_MILLIS));
        let tokens = JwtTokens::from_pkcs8(&auth_token::generate_signing_key()).unwrap();
        let mut service = Service::<TestPorts>::new(
            store.clone(),
            store.clone(),
            store.clone(),
            KeyVerifier::new(),
            tokens,
            TestClock(clock.clone()),
            OsRandom,
        );
        if let Some(relying_party) = relying_party {
            service = service.with_relying_party(relying_party);
        }
        let service = Arc::new(service);
        let admin_a = create_org(&service, "Org A", "admin@a.example").await;
        let admin_b = create_org(&service, "Org B", "admin@b.example").await;
        let router = http_api::router(service, options);
        TestApp { router, store, clock, admin_a, admin_b }
    }

    /// The router, to serve on a real port.
    pub(crate) fn router(&self) -> Router {
        self.router.clone()
    }

    /// What the app's clock says now.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.clock.load(Ordering::SeqCst))
    }

    /// Moves the clock forward.
    pub(crate) fn advance(&self, span: Duration) {
        self.clock.fetch_add(span.millis(), Ordering::SeqCst);
    }

    /// Sends one request. Whatever the request, the answer must not be a
    /// 5xx, must be JSON, and an error must have the contract's body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        user_action: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        let mut request = Request::builder().method(method.clone()).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(user_action) = user_action {
            request = request.header("x-dfns-useraction", user_action);
        }
        let body: Vec<u8> = body.into();
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Body::from(body)).unwrap();

        let response = self.router.clone().oneshot(request).await.unwrap();

        let status = response.status();
        assert!(!status.is_server_error(), "{method} {path} answered {status}");
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!("{method} {path} answered {status} with {:?}", String::from_utf8_lossy(&bytes))
        });
        assert_eq!(content_type.as_ref().map(|v| v.to_str().unwrap()), Some("application/json"));
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert_eq!(body, error(status, message).1, "{method} {path}: not an error body");
        }
        (status, body)
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call(Method::POST, path, token, None, body.to_string()).await
    }

    /// `POST /auth/login/init` for `user`.
    pub(crate) async fn login_init(&self, user: &TestUser) -> Reply {
        let body = json!({"username": user.email, "orgId": user.org_id});
        self.post("/auth/login/init", None, &body).await
    }

    /// A login challenge for `user`, which must be issued.
    pub(crate) async fn login_challenge(&self, user: &TestUser) -> Value {
        let (status, challenge) = self.login_init(user).await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
        challenge
    }

    /// `POST /auth/login` answering `challenge` with `first_factor`.
    pub(crate) async fn complete_login(&self, challenge: &Value, first_factor: Value) -> Reply {
        let body = json!({
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": first_factor,
        });
        self.post("/auth/login", None, &body).await
    }

    /// Logs `user` in, as `DfnsAuthenticator.login` does.
    pub(crate) async fn login(&self, user: &TestUser) -> Session {
        let challenge = self.login_challenge(user).await;
        let (status, body) = self.complete_login(&challenge, user.key.answer(&challenge)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = body["token"].as_str().unwrap().to_owned();
        Session { user: user.clone(), token }
    }

    /// `POST /auth/action/init` for `method path` with `payload`.
    pub(crate) async fn action_init(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        payload: &str,
    ) -> Reply {
        let body = json!({
            "userActionPayload": payload,
            "userActionHttpMethod": method.as_str(),
            "userActionHttpPath": path,
            "userActionServerKind": "Api",
        });
        self.post("/auth/action/init", Some(&session.token), &body).await
    }

    /// A user-action challenge for `method path` with `payload`, which must
    /// be issued.
    pub(crate) async fn action_challenge(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        payload: &str,
    ) -> Value {
        let (status, challenge) = self.action_init(session, method, path, payload).await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
        challenge
    }

    /// `POST /auth/action` answering `challenge` with `first_factor`.
    pub(crate) async fn complete_action(
        &self,
        session: &Session,
        challenge: &Value,
        first_factor: Value,
    ) -> Reply {
        let body = json!({
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": first_factor,
        });
        self.post("/auth/action", Some(&session.token), &body).await
    }

    /// A user-action token for `method path` with `payload`, signed with
    /// the session user's key.
    pub(crate) async fn user_action(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        payload: &str,
    ) -> String {
        let challenge = self.action_challenge(session, method, path, payload).await;
        let first_factor = session.user.key.answer(&challenge);
        let (status, body) = self.complete_action(session, &challenge, first_factor).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["userAction"].as_str().unwrap().to_owned()
    }

    /// A state-changing request with a user action signed for exactly it.
    pub(crate) async fn signed(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        payload: &str,
    ) -> Reply {
        let user_action = self.user_action(session, method.clone(), path, payload).await;
        self.call(method, path, Some(&session.token), Some(&user_action), payload).await
    }

    /// Creates a user with a fresh key through `POST /auth/users`; it holds
    /// no permission.
    pub(crate) async fn create_user(&self, admin: &Session, email: &str) -> TestUser {
        let key = UserKey::generate();
        let body = json!({
            "email": email,
            "kind": "CustomerEmployee",
            "publicKey": key.public_key_pem(),
        });
        let (status, user) =
            self.signed(admin, Method::POST, "/auth/users", &body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{user}");
        TestUser {
            id: user["userId"].as_str().unwrap().to_owned(),
            org_id: user["orgId"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
            key,
        }
    }

    /// Creates a user who holds `OrgAdmin`, assigned by `admin` through
    /// `POST /permissions/{id}/assignments`.
    pub(crate) async fn create_admin(&self, admin: &Session, email: &str) -> TestUser {
        let user = self.create_user(admin, email).await;
        let (status, admin_record) = self.get_user(admin, &admin.user.id).await;
        assert_eq!(status, StatusCode::OK, "{admin_record}");
        let org_admin = &admin_record["permissionAssignments"][0];
        assert_eq!(org_admin["permissionName"], "OrgAdmin");
        let path =
            format!("/permissions/{}/assignments", org_admin["permissionId"].as_str().unwrap());
        let body = json!({"identityId": user.id}).to_string();
        let (status, assignment) = self.signed(admin, Method::POST, &path, &body).await;
        assert_eq!(status, StatusCode::OK, "{assignment}");
        user
    }

    /// `GET /auth/users/{id}`.
    pub(crate) async fn get_user(&self, session: &Session, id: &str) -> Reply {
        let path = format!("/auth/users/{id}");
        self.call(Method::GET, &path, Some(&session.token), None, "").await
    }

    /// The ids `GET /auth/users` lists, all on one page.
    pub(crate) async fn listed_ids(&self, session: &Session) -> Vec<String> {
        let path = "/auth/users?limit=200";
        let (status, page) = self.call(Method::GET, path, Some(&session.token), None, "").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.get("nextPageToken").is_none(), "{page}");
        let items = page["items"].as_array().unwrap();
        items.iter().map(|u| u["userId"].as_str().unwrap().to_owned()).collect()
    }

    /// Archives as the TypeScript SDK does: `DELETE` with body `{}`.
    pub(crate) async fn archive(&self, session: &Session, id: &str) -> Reply {
        self.signed(session, Method::DELETE, &format!("/auth/users/{id}"), "{}").await
    }

    /// `PUT /auth/users/{id}/deactivate`, signed, without a body.
    pub(crate) async fn deactivate(&self, session: &Session, id: &str) -> Reply {
        self.signed(session, Method::PUT, &format!("/auth/users/{id}/deactivate"), "").await
    }

    /// `PUT /auth/users/{id}/activate`, signed, without a body.
    pub(crate) async fn activate(&self, session: &Session, id: &str) -> Reply {
        self.signed(session, Method::PUT, &format!("/auth/users/{id}/activate"), "").await
    }

    /// How many audit events the org of `user` has recorded.
    pub(crate) async fn audit_event_count(&self, user: &TestUser) -> usize {
        let org = domain::OrgId::parse(&user.org_id).unwrap();
        self.store.events(&org).await.unwrap().len()
    }

    /// The stored record of a user, archived or not.
    pub(crate) async fn stored_user(&self, id: &str) -> User {
        let id = UserId::parse(id).unwrap();
        self.store.find_user(&id).await.unwrap().unwrap()
    }

    /// A stored credential of `user`, by its `credentialUuid`.
    pub(crate) async fn stored_credential(&self, user: &TestUser, uuid: &str) -> Credential {
        let id = UserId::parse(&user.id).unwrap();
        let credentials = self.store.list_credentials(&id).await.unwrap();
        credentials.into_iter().find(|c| c.uuid.as_str() == uuid).unwrap()
    }

    /// What `GET /auth/credentials` lists for the session's user.
    pub(crate) async fn listed_credentials(&self, session: &Session) -> Vec<Value> {
        let (status, list) = self.get(session, "/auth/credentials").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["items"].as_array().unwrap().clone()
    }

    /// `GET path` with the session's login token.
    pub(crate) async fn get(&self, session: &Session, path: &str) -> Reply {
        self.call(Method::GET, path, Some(&session.token), None, "").await
    }

    /// The id of `OrgAdmin` in the org of `user`, read from the store so
    /// that any test can arrange with it.
    pub(crate) async fn org_admin_id(&self, user: &TestUser) -> String {
        let org = domain::OrgId::parse(&user.org_id).unwrap();
        let page = self.store.list_permissions(&org, None, 200).await.unwrap();
        let org_admin = page.permissions.iter().find(|p| p.is_immutable).unwrap();
        org_admin.id.to_string()
    }

    /// `POST /permissions`, signed, for `name` granting `operations`.
    pub(crate) async fn create_permission(
        &self,
        session: &Session,
        name: &str,
        operations: &[&str],
    ) -> Reply {
        let body = json!({"name": name, "operations": operations}).to_string();
        self.signed(session, Method::POST, "/permissions", &body).await
    }

    /// The id of a new permission, which must be created.
    pub(crate) async fn new_permission(
        &self,
        session: &Session,
        name: &str,
        operations: &[&str],
    ) -> String {
        let (status, permission) = self.create_permission(session, name, operations).await;
        assert_eq!(status, StatusCode::OK, "{permission}");
        permission["id"].as_str().unwrap().to_owned()
    }

    /// `POST /permissions/{permission_id}/assignments`, signed.
    pub(crate) async fn assign(
        &self,
        session: &Session,
        permission_id: &str,
        user_id: &str,
    ) -> Reply {
        let path = format!("/permissions/{permission_id}/assignments");
        let body = json!({"identityId": user_id}).to_string();
        self.signed(session, Method::POST, &path, &body).await
    }

    /// The id of a new assignment, which must be made.
    pub(crate) async fn grant(
        &self,
        session: &Session,
        permission_id: &str,
        user_id: &str,
    ) -> String {
        let (status, assignment) = self.assign(session, permission_id, user_id).await;
        assert_eq!(status, StatusCode::OK, "{assignment}");
        assignment["id"].as_str().unwrap().to_owned()
    }

    /// `DELETE /permissions/{permission_id}/assignments/{assignment_id}`,
    /// signed, with the body `{}` the TypeScript SDK sends.
    pub(crate) async fn revoke(
        &self,
        session: &Session,
        permission_id: &str,
        assignment_id: &str,
    ) -> Reply {
        let path = format!("/permissions/{permission_id}/assignments/{assignment_id}");
        self.signed(session, Method::DELETE, &path, "{}").await
    }

    /// The id of the assignment of `permission_id` that `user_id` holds,
    /// read from the store.
    pub(crate) async fn assignment_id(&self, permission_id: &str, user_id: &str) -> String {
        let user = self.stored_user(user_id).await;
        let held = user.assignments.iter().find(|a| a.permission_id.as_str() == permission_id);
        held.unwrap().assignment_id.to_string()
    }

    /// A new user of the org of `admin` who holds exactly `operations`,
    /// through a permission named after its email that `admin` creates and
    /// assigns.
    pub(crate) async fn create_user_holding(
        &self,
        admin: &Session,
        email: &str,
        operations: &[&str],
    ) -> TestUser {
        let user = self.create_user(admin, email).await;
        let permission_id = self.new_permission(admin, email, operations).await;
        self.grant(admin, &permission_id, &user.id).await;
        user
    }

    /// What the org of `reader` looks like through the API: its users, its
    /// permissions and their assignments, the reader's own credentials, and
    /// how many audit events it has.
    /// A refused change must leave it as it was.
    pub(crate) async fn org_snapshot(&self, reader: &Session) -> Value {
        let (status, users) = self.get(reader, "/auth/users?limit=200").await;
        assert_eq!(status, StatusCode::OK, "{users}");
        let (status, permissions) = self.get(reader, "/permissions?limit=200").await;
        assert_eq!(status, StatusCode::OK, "{permissions}");
        let mut assignments = serde_json::Map::new();
        for permission in permissions["items"].as_array().unwrap() {
            let id = permission["id"].as_str().unwrap();
            let (status, page) = self.get(reader, &format!("/permissions/{id}/assignments")).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assignments.insert(id.to_owned(), page);
        }
        json!({
            "users": users,
            "permissions": permissions,
            "assignments": assignments,
            "readersCredentials": self.listed_credentials(reader).await,
            "auditEvents": self.audit_event_count(&reader.user).await,
        })
    }
}

/// A well-formed user id that no user has.
pub(crate) fn unknown_user_id() -> String {
    UserId::from_random(&random_array()).to_string()
}

/// A well-formed permission id that no permission has.
pub(crate) fn unknown_permission_id() -> String {
    domain::PermissionId::from_random(&random_array()).to_string()
}

/// A well-formed assignment id that no assignment has.
pub(crate) fn unknown_assignment_id() -> String {
    domain::AssignmentId::from_random(&random_array()).to_string()
}

fn random_array<const N: usize>() -> [u8; N] {
    ports::random_array(&OsRandom)
}

async fn create_org(service: &Service<TestPorts>, name: &str, admin_email: &str) -> TestUser {
    let key = UserKey::generate();
    let created = service
        .create_org(
            OrgName::parse(name).unwrap(),
            Username::parse(admin_email).unwrap(),
            key.public_key_pem(),
        )
        .await
        .unwrap();
    TestUser {
        id: created.admin.id.to_string(),
        org_id: created.org.id.to_string(),
        email: admin_email.to_owned(),
        key,
    }
}
