//! The HTTP API of orgusers: the `/auth` endpoints on axum.
//!
//! Handlers do three things: turn the request into the use case's input
//! (authentication first, then the request nonce, then the body), call one
//! method of
//! [`app::Service`], and turn its answer or error into JSON. Every error,
//! including a rejected extractor or an unknown route, leaves as the
//! contract's body `{"error": {"status", "message"}}`; unexpected errors are
//! logged once, here, and never shown to the client.

mod credentials;
mod error;
mod extract;
mod handlers;
mod openapi;
mod permissions;
mod shape;
mod wire;

use std::sync::Arc;

use app::{Ports, Service};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use openapi::{openapi, openapi_json};

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How the API treats what the contract leaves to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiOptions {
    /// Whether every authenticated request must carry an `X-DFNS-NONCE`
    /// header. Without it, a nonce is checked only when one is sent.
    pub require_nonce: bool,
}

/// The state every handler shares.
struct ApiState<P: Ports> {
    service: Arc<Service<P>>,
    options: ApiOptions,
}

/// The router of the whole API over `service`.
pub fn router<P: Ports>(service: Arc<Service<P>>, options: ApiOptions) -> Router {
    let state = Arc::new(ApiState { service, options });
    Router::new()
        .route("/auth/login/init", post(handlers::login_init::<P>))
        .route("/auth/login", post(handlers::login::<P>))
        .route("/auth/action/init", post(handlers::action_init::<P>))
        .route("/auth/action", post(handlers::action::<P>))
        .route(
            "/auth/credentials",
            post(credentials::create_credential::<P>).get(credentials::list_credentials::<P>),
        )
        .route("/auth/credentials/init", post(credentials::credential_init::<P>))
        .route("/auth/users", post(handlers::create_user::<P>).get(handlers::list_users::<P>))
        .route(
            "/auth/users/{user_id}",
            get(handlers::get_user::<P>).delete(handlers::archive_user::<P>),
        )
        .route("/auth/users/{user_id}/activate", put(handlers::activate_user::<P>))
        .route("/auth/users/{user_id}/deactivate", put(handlers::deactivate_user::<P>))
        .route(
            "/permissions",
            post(permissions::create_permission::<P>).get(permissions::list_permissions::<P>),
        )
        .route(
            "/permissions/{permission_id}",
            get(permissions::get_permission::<P>).put(permissions::update_permission::<P>),
        )
        .route("/permissions/{permission_id}/archive", put(permissions::archive_permission::<P>))
        .route(
            "/permissions/{permission_id}/assignments",
            post(permissions::create_assignment::<P>).get(permissions::list_assignments::<P>),
        )
        .route(
            "/permissions/{permission_id}/assignments/{assignment_id}",
            delete(permissions::delete_assignment::<P>),
        )
        .route("/openapi.json", get(openapi::serve))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
