//! The OpenAPI 3.1 document of the API, generated from the handlers'
//! annotations and the JSON shapes, and served at `GET /openapi.json`.
//!
//! Each operation is described by a `#[utoipa::path]` next to its handler;
//! this module only lists them and adds what is common to all: the
//! document's title and version, the bearer scheme and the user-action
//! header. `docs/openapi.json` is this document as committed; a test keeps
//! the two equal.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};

use crate::{credentials, handlers, permissions};

/// The document, as the derive assembles it from the handlers listed.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "orgusers",
        version = env!("CARGO_PKG_VERSION"),
        description = "An org's users, their lifecycle (active, inactive, archived), \
            their permissions, and the signed user actions that guard every change, with \
            the shapes and security model of the Dfns API. Every error answers \
            `{\"error\": {\"status\", \"message\"}}`.",
    ),
    paths(
        handlers::login_init,
        handlers::login,
        handlers::action_init,
        handlers::action,
        handlers::create_user,
        handlers::list_users,
        handlers::get_user,
        handlers::archive_user,
        handlers::activate_user,
        handlers::deactivate_user,
        credentials::credential_init,
        credentials::create_credential,
        credentials::list_credentials,
        permissions::create_permission,
        permissions::list_permissions,
        permissions::get_permission,
        permissions::update_permission,
        permissions::archive_permission,
        permissions::create_assignment,
        permissions::list_assignments,
        permissions::delete_assignment,
        serve,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "Login", description = "A login token from a signed challenge"),
        (name = "User actions", description = "A single-use token that binds one \
            state-changing request to a credential's signature"),
        (name = "Users", description = "The org's users and their lifecycle"),
        (name = "Credentials", description = "The keys and authenticators a user signs with"),
        (name = "Permissions", description = "Roles, and their assignments to users"),
        (name = "OpenAPI", description = "This document"),
    ),
)]
struct ApiDoc;

/// Adds the `bearer` scheme the operations name: the login token.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "The token `POST /auth/login` answers; checked against the stored user on \
                 every request, so it stops working when its user is deactivated or archived.",
            ))
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The `X-DFNS-USERACTION` header every state-changing request of
/// `/auth/users`, `/auth/credentials` and `/permissions` carries. Only its description is used:
/// the extractor reads the header itself.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code, reason = "a description for the document; never built")]
pub(crate) struct UserActionHeader {
    /// The token `POST /auth/action` answered for this very request: the
    /// same caller, method, path and body byte for byte. Used once.
    #[param(rename = "X-DFNS-USERACTION")]
    user_action: String,
}

/// The legacy `X-DFNS-NONCE` header, which every request but this
/// document's may carry. Only its description is used: the extractors read
/// the header themselves.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code, reason = "a description for the document; never built")]
pub(crate) struct NonceHeader {
    /// base64url of the JSON `{"uuid": at least 13 characters, "date": ISO
    /// 8601}`. When sent, it must parse, be within 5 minutes of the
    /// server's clock and never have been sent before: else 400 `request
    /// nonce is missing or invalid` or `request nonce has already been
    /// used`. A server option makes it required on authenticated requests.
    #[param(rename = "X-DFNS-NONCE", value_type = String, required = false)]
    nonce: Option<String>,
}

/// The OpenAPI 3.1 document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as `docs/openapi.json` holds it: pretty-printed, with a
/// trailing newline.
pub fn openapi_json() -> String {
    let mut json = openapi().to_pretty_json().expect("the OpenAPI document is valid JSON");
    json.push('\n');
    json
}

/// This document.
///
/// It needs no authentication, as it tells nothing a client of the API
/// does not already see.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "OpenAPI",
    operation_id = "openapi",
    responses((status = 200, description = "This document", body = Object)),
)]
pub(crate) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}
