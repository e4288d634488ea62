//! One error type for every answer that is not a success.

use app::{
    AccessError, ActionError, ActionInitError, ArchivePermissionError, ArchiveUserError,
    AssignPermissionError, AuthenticateError, ChangeActiveError, Contended, CreateCredentialError,
    CreatePermissionError, CreateUserError, CredentialInitError, GetPermissionError, GetUserError,
    ListAssignmentsError, ListCredentialsError, ListPermissionsError, ListUsersError, LoginError,
    LoginInitError, NonceError, RevokeAssignmentError, UpdatePermissionError,
};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::{UserActionError, WebAuthnError};
use ports::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer: a status and a message the client can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An answer with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 404 `user not found`, the one answer for every user a caller may
    /// not see.
    pub fn user_not_found() -> ApiError {
        ApiError::not_found("user not found")
    }

    /// 500, after logging what went wrong; the client learns nothing more.
    fn internal(error: &StoreError) -> ApiError {
        tracing::error!(error = %error, "request failed unexpectedly");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The body of every error answer: `{"error": {"status", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong, in the words the SDKs show.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// The HTTP status, repeated in the body for clients that only keep it.
    #[schema(example = 404)]
    status: u16,
    /// What the SDKs show; it never carries an internal detail.
    #[schema(example = "user not found")]
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is built from the type the OpenAPI document describes,
        // so that the document cannot drift from what is sent.
        let body = ErrorBody {
            error: ErrorDetail { status: self.status.as_u16(), message: self.message },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Answers routes that do not exist.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

/// Answers known routes called with a method they do not take.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// 409: the request lost every race to other changes of the same records;
/// nothing was changed, and the same request may be signed and sent again.
impl From<Contended> for ApiError {
    fn from(error: Contended) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, error.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::internal(&error)
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> ApiError {
        match error {
            AuthenticateError::Unauthenticated => ApiError::unauthorized(error.to_string()),
            AuthenticateError::Store(e) => e.into(),
        }
    }
}

impl From<NonceError> for ApiError {
    fn from(error: NonceError) -> ApiError {
        match error {
            NonceError::Refused(e) => ApiError::bad_request(e.to_string()),
            NonceError::Store(e) => e.into(),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> ApiError {
        match error {
            AccessError::Unauthenticated => ApiError::unauthorized(error.to_string()),
            AccessError::NotAuthorized(e) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            AccessError::UserAction(e @ UserActionError::MissingOrInvalid) => {
                ApiError::new(StatusCode::FORBIDDEN, e.to_string())
            }
            AccessError::UserAction(e @ UserActionError::AlreadyUsed) => {
                ApiError::bad_request(e.to_string())
            }
            AccessError::Store(e) => e.into(),
        }
    }
}

impl From<LoginInitError> for ApiError {
    fn from(error: LoginInitError) -> ApiError {
        match error {
            LoginInitError::UserNotFound => ApiError::unauthorized(error.to_string()),
            LoginInitError::Store(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> ApiError {
        match error {
            LoginError::Challenge(_) | LoginError::MalformedClientData(_) => {
                ApiError::bad_request(error.to_string())
            }
            LoginError::UserNotFound | LoginError::InvalidSignature => {
                ApiError::unauthorized(error.to_string())
            }
            LoginError::WebAuthn(e) => e.into(),
            LoginError::Store(e) => e.into(),
        }
    }
}

impl From<ActionInitError> for ApiError {
    fn from(error: ActionInitError) -> ApiError {
        match error {
            ActionInitError::Store(e) => e.into(),
        }
    }
}

impl From<ActionError> for ApiError {
    fn from(error: ActionError) -> ApiError {
        match error {
            ActionError::Challenge(_) | ActionError::MalformedClientData(_) => {
                ApiError::bad_request(error.to_string())
            }
            ActionError::InvalidSignature => ApiError::unauthorized(error.to_string()),
            ActionError::WebAuthn(e) => e.into(),
            ActionError::Store(e) => e.into(),
        }
    }
}

/// Authenticator data that does not parse is bad input (400); a rule of
/// the relying party that an assertion breaks is a failed proof (401).
impl From<WebAuthnError> for ApiError {
    fn from(error: WebAuthnError) -> ApiError {
        match error {
            WebAuthnError::Malformed(_) => ApiError::bad_request(error.to_string()),
            WebAuthnError::RelyingPartyMismatch
            | WebAuthnError::UserNotPresent
            | WebAuthnError::UserNotVerified
            | WebAuthnError::NoAttestedCredential
            | WebAuthnError::OriginNotAllowed
            | WebAuthnError::CounterNotIncreased => ApiError::unauthorized(error.to_string()),
        }
    }
}

impl From<CredentialInitError> for ApiError {
    fn from(error: CredentialInitError) -> ApiError {
        match error {
            CredentialInitError::Store(e) => e.into(),
        }
    }
}

impl From<CreateCredentialError> for ApiError {
    fn from(error: CreateCredentialError) -> ApiError {
        match error {
            CreateCredentialError::Access(e) => e.into(),
            CreateCredentialError::Challenge(_)
            | CreateCredentialError::InvalidCredId
            | CreateCredentialError::MalformedClientData(_)
            | CreateCredentialError::MalformedAttestation(_)
            | CreateCredentialError::PublicKey(_)
            | CreateCredentialError::Refused(_) => ApiError::bad_request(error.to_string()),
            CreateCredentialError::WebAuthn(e) => e.into(),
            CreateCredentialError::InvalidSignature => ApiError::unauthorized(error.to_string()),
            CreateCredentialError::UserNotFound => {
                ApiError::unauthorized("authentication token is missing or invalid")
            }
            CreateCredentialError::Contended(e) => e.into(),
            CreateCredentialError::Store(e) => e.into(),
        }
    }
}

impl From<ListCredentialsError> for ApiError {
    fn from(error: ListCredentialsError) -> ApiError {
        match error {
            ListCredentialsError::Store(e) => e.into(),
        }
    }
}

impl From<CreateUserError> for ApiError {
    fn from(error: CreateUserError) -> ApiError {
        match error {
            CreateUserError::Access(e) => e.into(),
            CreateUserError::Email(_)
            | CreateUserError::PublicKey(_)
            | CreateUserError::Refused(_) => ApiError::bad_request(error.to_string()),
            CreateUserError::Contended(e) => e.into(),
            CreateUserError::Store(e) => e.into(),
        }
    }
}

impl From<GetUserError> for ApiError {
    fn from(error: GetUserError) -> ApiError {
        match error {
            GetUserError::Access(e) => e.into(),
            GetUserError::NotFound => ApiError::user_not_found(),
            GetUserError::Store(e) => e.into(),
        }
    }
}

impl From<ListUsersError> for ApiError {
    fn from(error: ListUsersError) -> ApiError {
        match error {
            ListUsersError::Access(e) => e.into(),
            ListUsersError::Store(e) => e.into(),
        }
    }
}

impl From<ArchiveUserError> for ApiError {
    fn from(error: ArchiveUserError) -> ApiError {
        match error {
            ArchiveUserError::Access(e) => e.into(),
            ArchiveUserError::Refused(domain::ArchiveUserError::NotFound) => {
                ApiError::user_not_found()
            }
            ArchiveUserError::Refused(e @ domain::ArchiveUserError::SelfArchive) => {
                ApiError::bad_request(e.to_string())
            }
            ArchiveUserError::LastAssigner(e) => ApiError::bad_request(e.to_string()),
            ArchiveUserError::Contended(e) => e.into(),
            ArchiveUserError::Store(e) => e.into(),
        }
    }
}

impl From<ChangeActiveError> for ApiError {
    fn from(error: ChangeActiveError) -> ApiError {
        match error {
            ChangeActiveError::Access(e) => e.into(),
            ChangeActiveError::Refused(domain::ChangeActiveError::NotFound) => {
                ApiError::user_not_found()
            }
            ChangeActiveError::Refused(e @ domain::ChangeActiveError::SelfDeactivate) => {
                ApiError::bad_request(e.to_string())
            }
            ChangeActiveError::LastAssigner(e) => ApiError::bad_request(e.to_string()),
            ChangeActiveError::Contended(e) => e.into(),
            ChangeActiveError::Store(e) => e.into(),
        }
    }
}

impl From<CreatePermissionError> for ApiError {
    fn from(error: CreatePermissionError) -> ApiError {
        match error {
            CreatePermissionError::Access(e) => e.into(),
            CreatePermissionError::Name(_)
            | CreatePermissionError::Operation(_)
            | CreatePermissionError::NameTaken => ApiError::bad_request(error.to_string()),
            CreatePermissionError::Contended(e) => e.into(),
            CreatePermissionError::Store(e) => e.into(),
        }
    }
}

impl From<GetPermissionError> for ApiError {
    fn from(error: GetPermissionError) -> ApiError {
        match error {
            GetPermissionError::Access(e) => e.into(),
            GetPermissionError::NotFound => ApiError::not_found(error.to_string()),
            GetPermissionError::Store(e) => e.into(),
        }
    }
}

impl From<ListPermissionsError> for ApiError {
    fn from(error: ListPermissionsError) -> ApiError {
        match error {
            ListPermissionsError::Access(e) => e.into(),
            ListPermissionsError::Store(e) => e.into(),
        }
    }
}

impl From<domain::PermissionChangeError> for ApiError {
    fn from(error: domain::PermissionChangeError) -> ApiError {
        match error {
            domain::PermissionChangeError::NotFound => ApiError::not_found(error.to_string()),
            domain::PermissionChangeError::Immutable | domain::PermissionChangeError::Archived => {
                ApiError::bad_request(error.to_string())
            }
        }
    }
}

impl From<UpdatePermissionError> for ApiError {
    fn from(error: UpdatePermissionError) -> ApiError {
        match error {
            UpdatePermissionError::Access(e) => e.into(),
            UpdatePermissionError::Refused(e) => e.into(),
            UpdatePermissionError::Name(_)
            | UpdatePermissionError::Operation(_)
            | UpdatePermissionError::NameTaken
            | UpdatePermissionError::LastAssigner(_) => ApiError::bad_request(error.to_string()),
            UpdatePermissionError::Contended(e) => e.into(),
            UpdatePermissionError::Store(e) => e.into(),
        }
    }
}

impl From<ArchivePermissionError> for ApiError {
    fn from(error: ArchivePermissionError) -> ApiError {
        match error {
            ArchivePermissionError::Access(e) => e.into(),
            ArchivePermissionError::Refused(e) => e.into(),
            ArchivePermissionError::LastAssigner(e) => ApiError::bad_request(e.to_string()),
            ArchivePermissionError::Contended(e) => e.into(),
            ArchivePermissionError::Store(e) => e.into(),
        }
    }
}

impl From<AssignPermissionError> for ApiError {
    fn from(error: AssignPermissionError) -> ApiError {
        use domain::AssignPermissionError as Refused;
        match error {
            AssignPermissionError::Access(e) => e.into(),
            AssignPermissionError::Refused(
                e @ (Refused::PermissionNotFound | Refused::UserNotFound),
            ) => ApiError::not_found(e.to_string()),
            AssignPermissionError::Refused(
                e @ (Refused::PermissionArchived | Refused::AlreadyAssigned),
            ) => ApiError::bad_request(e.to_string()),
            AssignPermissionError::Contended(e) => e.into(),
            AssignPermissionError::Store(e) => e.into(),
        }
    }
}

impl From<RevokeAssignmentError> for ApiError {
    fn from(error: RevokeAssignmentError) -> ApiError {
        match error {
            RevokeAssignmentError::Access(e) => e.into(),
            RevokeAssignmentError::Refused(e) => ApiError::not_found(e.to_string()),
            RevokeAssignmentError::LastAssigner(e) => ApiError::bad_request(e.to_string()),
            RevokeAssignmentError::Contended(e) => e.into(),
            RevokeAssignmentError::Store(e) => e.into(),
        }
    }
}

impl From<ListAssignmentsError> for ApiError {
    fn from(error: ListAssignmentsError) -> ApiError {
        match error {
            ListAssignmentsError::Access(e) => e.into(),
            ListAssignmentsError::NotFound => ApiError::not_found(error.to_string()),
            ListAssignmentsError::Store(e) => e.into(),
        }
    }
}
