//! The OpenAPI document: the committed `docs/openapi.json` is what the
//! code generates, the router serves that same document, and the document
//! describes every route with the answers the contract gives.

use std::collections::BTreeSet;
use std::sync::Arc;

use app::{Ports, Service};
use auth_token::JwtTokens;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use domain::Timestamp;
use http_body_util::BodyExt;
use ports::{Clock, Randomness};
use serde_json::Value;
use signature::KeyVerifier;
use store_memory::MemoryStore;
use tower::ServiceExt;

/// Where the document is committed, from the workspace root.
const COMMITTED: &str = "docs/openapi.json";

/// Set to `1` to rewrite the committed document from the code.
const UPDATE_VAR: &str = "ORGUSERS_UPDATE_OPENAPI";

/// The methods a route may take, as the router and the document name them.
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The adapters of a service that only has to exist: serving the document
/// touches none of them.
struct TestPorts;

impl Ports for TestPorts {
    type Users = MemoryStore;
    type Permissions = MemoryStore;
    type OneTime = MemoryStore;
    type Verifier = KeyVerifier;
    type Tokens = JwtTokens;
    type Clock = StillClock;
    type Random = OsRandom;
}

/// A clock that never moves.
struct StillClock;

impl Clock for StillClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000)
    }
}

/// The system's cryptographic generator.
struct OsRandom;

impl Randomness for OsRandom {
    fn fill(&self, buffer: &mut [u8]) {
        aws_lc_rs::rand::fill(buffer).expect("the system random generator failed");
    }
}

fn router() -> Router {
    let store = MemoryStore::new();
    let tokens = JwtTokens::from_pkcs8(&auth_token::generate_signing_key()).unwrap();
    let service = Service::<TestPorts>::new(
        store.clone(),
        store.clone(),
        store,
        KeyVerifier::new(),
        tokens,
        StillClock,
        OsRandom,
    );
    http_api::router(Arc::new(service), http_api::ApiOptions::default())
}

/// Sends `method path` with no header and no body.
async fn call(router: &Router, method: &str, path: &str) -> (StatusCode, Option<String>, Value) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, body)
}

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(COMMITTED)
}

fn document() -> Value {
    serde_json::from_str(&http_api::openapi_json()).unwrap()
}

/// Every operation of the document: its path, its method and itself.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("the document has paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                operations.push((path.clone(), method.to_owned(), operation.clone()));
            }
        }
    }
    operations
}

/// A path template with its parameters' names left out: the router names
/// `{user_id}` what the document names `{userId}`.
fn template_shape(path: &str) -> String {
    let mut shape = String::new();
    let mut in_parameter = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_parameter = true;
                shape.push('{');
            }
            '}' => {
                in_parameter = false;
                shape.push('}');
            }
            _ if in_parameter => {}
            _ => shape.push(c),
        }
    }
    shape
}

/// The names of a path template's parameters.
fn template_parameters(path: &str) -> BTreeSet<String> {
    path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(n, _)| n.into()).collect()
}

/// The routes `router()` declares, read from its source: each
/// `.route("path", ...)` with the methods of the handlers in it. The router
/// cannot list its routes, and reading the source is the one way to learn
/// a route the document forgot.
fn declared_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/lib.rs");
    let mut routes = BTreeSet::new();
    for (_, rest) in source.match_indices(".route(").map(|(at, _)| source.split_at(at + 7)) {
        let rest = rest.trim_start();
        let path = rest
            .strip_prefix('"')
            .and_then(|rest| rest.split_once('"'))
            .map(|(path, _)| path)
            .expect("a route's path is a string literal");
        // The route's arguments end where its parenthesis closes.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(at, _)| at)
            .expect("a route's arguments are closed");
        let arguments = &rest[..end];
        for method in METHODS {
            let call = format!("{method}(");
            let named = arguments.match_indices(&call).any(|(at, _)| {
                at == 0 || !arguments[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if named {
                routes.insert((template_shape(path), method.to_owned()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_committed_document_is_what_the_code_generates() {
    let generated = http_api::openapi_json();
    let path = committed_path();
    let regenerate =
        format!("regenerate it with `{UPDATE_VAR}=1 cargo test -p http-api --test openapi`");

    if std::env::var(UPDATE_VAR).as_deref() == Ok("1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{COMMITTED} cannot be read ({e}): {regenerate}"));

    if committed != generated {
        // The whole document is long; the first line that differs is what
        // a reader needs to see what changed.
        let (line, (was, is)) = committed
            .lines()
            .chain(std::iter::repeat("<end of file>"))
            .zip(generated.lines().chain(std::iter::repeat("<end of file>")))
            .enumerate()
            .find(|(_, (was, is))| was != is)
            .unwrap_or((0, ("<trailing newline>", "")));
        panic!(
            "{COMMITTED} differs from what the code generates, from line {}:\n  \
             committed: {was}\n  generated: {is}\n{regenerate}",
            line + 1,
        );
    }
}

#[tokio::test]
async fn the_router_serves_the_document_without_authentication() {
    let router = router();

    let (status, content_type, body) = call(&router, "get", "/openapi.json").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(body, document(), "GET /openapi.json is not the generated document");
}

#[test]
fn the_document_is_openapi_3_1_with_a_title_and_the_crate_version() {
    let document = document();

    let openapi = document["openapi"].as_str().unwrap_or_default();
    assert!(openapi.starts_with("3.1."), "openapi is {openapi:?}, not 3.1.x");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(!document["info"]["title"].as_str().unwrap_or_default().is_empty());
    assert!(!document["info"]["description"].as_str().unwrap_or_default().is_empty());
}

#[tokio::test]
async fn every_route_of_the_router_is_documented_and_nothing_else() {
    let document = document();
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(path, method, _)| (template_shape(&path), method))
        .collect();
    let declared = declared_routes();
    let router = router();

    assert_eq!(declared, documented, "the router's routes and the document's differ");
    // The source read above is the router only if the router answers each
    // operation with a handler: neither the fallback's `not found` nor
    // `method not allowed`.
    for (path, method, _) in operations(&document) {
        let concrete = path.replace(['{', '}'], "");
        let (status, _, body) = call(&router, &method, &concrete).await;
        let fell_through =
            body["error"]["message"] == "not found" || status == StatusCode::METHOD_NOT_ALLOWED;
        assert!(!fell_through, "{method} {path} is documented but not routed: {status} {body}");
    }
}

#[test]
fn every_operation_documents_its_success_and_its_errors() {
    let document = document();
    let error_body = serde_json::json!({"$ref": "#/components/schemas/ErrorBody"});

    for (path, method, operation) in operations(&document) {
        let op = format!("{} {path}", method.to_uppercase());
        let responses = operation["responses"].as_object().expect("responses");
        let has = |status: &str| responses.contains_key(status);
        let secured = operation.get("security").is_some_and(|s| s != &serde_json::json!([]));
        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        let parameter = |place: &str, name: &str| {
            parameters.iter().find(|p| p["in"] == place && p["name"] == name).cloned()
        };
        let in_place = |place: &str| -> BTreeSet<String> {
            parameters
                .iter()
                .filter(|p| p["in"] == place)
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let needs_permission = path.starts_with("/auth/users") || path.starts_with("/permissions");
        let changes_state = matches!(method.as_str(), "post" | "put" | "delete");
        // A user registers credentials to itself without a permission, but
        // signs the registration like any other change.
        let signed = changes_state && (needs_permission || path == "/auth/credentials");
        let user_action = parameter("header", "X-DFNS-USERACTION");

        assert!(
            responses["200"]["content"]["application/json"]["schema"].is_object(),
            "{op}: no 200 with a JSON body"
        );
        for (status, response) in responses {
            if !status.starts_with('2') {
                assert_eq!(
                    response["content"]["application/json"]["schema"], error_body,
                    "{op}: {status} does not answer the error body"
                );
            }
        }
        // Every request but the document's own reaches the service, which
        // may fail, and may carry a nonce, which may be refused.
        if path != "/openapi.json" {
            assert!(has("500"), "{op}: no 500 for an unexpected failure");
            let nonce = parameter("header", "X-DFNS-NONCE");
            assert!(nonce.is_some_and(|n| n["required"] == false), "{op}: no optional nonce");
            assert!(has("400"), "{op}: no 400 for a refused nonce");
        }
        let public = ["/auth/login/init", "/auth/login", "/openapi.json"];
        assert_eq!(secured, !public.contains(&path.as_str()), "{op}: wrong security");
        if secured {
            assert_eq!(operation["security"], serde_json::json!([{"bearer": []}]), "{op}");
            assert!(has("401"), "{op}: no 401 for a missing or bad login token");
        }
        if needs_permission {
            assert!(has("403"), "{op}: no 403 for a missing permission");
        }
        assert_eq!(
            in_place("path"),
            template_parameters(&path),
            "{op}: the path parameters are not those of the template"
        );
        if !template_parameters(&path).is_empty() {
            assert!(has("404"), "{op}: no 404 for an unknown id");
        }
        if operation.get("requestBody").is_some() || !in_place("query").is_empty() {
            assert!(has("400"), "{op}: no 400 for bad input");
        }
        assert_eq!(
            user_action.is_some(),
            signed,
            "{op}: the X-DFNS-USERACTION header is on the state-changing requests only"
        );
        if let Some(header) = user_action {
            assert_eq!(header["required"], true, "{op}: the user action is optional");
            assert!(has("400") && has("403"), "{op}: no 400 or 403 for a bad user action");
        }
        if let Some(limit) = parameter("query", "limit") {
            assert_eq!(limit["schema"]["maximum"], app::MAX_PAGE_SIZE, "{op}: limit's maximum");
        }
    }
}

#[test]
fn the_bearer_scheme_is_the_login_token_and_every_reference_resolves() {
    let document = document();

    let bearer = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");

    let mut pending = vec![&document];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    let pointer = reference.strip_prefix('#').expect("a local reference");
                    assert!(document.pointer(pointer).is_some(), "{reference} resolves to nothing");
                }
                pending.extend(map.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
}
