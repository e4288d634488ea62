//! The rules of an org's user lifecycle, with no I/O.
//!
//! Everything here is a value or a pure function: a [`User`] and its
//! lifecycle, the [`Operation`]s a caller may hold, the archive decision,
//! and the binding between a signed [`UserActionGrant`] and the request that
//! spends it. Time arrives as a [`Timestamp`] argument and randomness as
//! bytes, so another service can embed these rules and test them without a
//! runtime.
//!
//! Values are parsed once, at the edge: a [`UserId`] or a [`Username`] exists
//! only if it is valid, and the rest of the code never checks again.

mod audit;
mod challenge;
mod credential;
mod id;
mod lifecycle;
mod nonce;
mod operation;
mod org;
mod permission;
mod roles;
mod time;
mod user;
mod user_action;
mod username;
mod webauthn;

pub use audit::{AuditEvent, AuditKind};
pub use challenge::{
    CHALLENGE_LIFETIME, CHALLENGE_RANDOM_BYTES, Challenge, ChallengeError, ChallengeId,
    ChallengePurpose, ClientData, ClientDataError, ClientDataKind, MAX_CHALLENGE_ID_CHARS,
};
pub use credential::{
    CredId, Credential, CredentialKind, MAX_CREDENTIAL_NAME_CHARS, RegisterCredentialError,
    UnknownCredentialKind, key_registration_message, register_credential,
};
pub use id::{AssignmentId, CredentialUuid, ID_RANDOM_BYTES, IdError, OrgId, PermissionId, UserId};
pub use lifecycle::{
    ArchiveUserError, ChangeActiveError, CreateUserError, NewUser, archive_user, create_user,
    set_active,
};
pub use nonce::{MAX_NONCE_UUID_CHARS, MIN_NONCE_UUID_CHARS, NONCE_WINDOW, Nonce, NonceError};
pub use operation::{Operation, UnknownOperation};
pub use org::{Org, OrgName, OrgNameError};
pub use permission::{
    Assignment, MAX_PERMISSION_NAME_CHARS, Permission, PermissionAssignment, PermissionName,
    PermissionNameError,
};
pub use roles::{
    AssignPermissionError, LastAssigner, PermissionChangeError, RevokeAssignmentError,
    archive_permission, assign_permission, create_permission, drops_an_assign_grant,
    keep_an_assigner, loses_assign, permission_visible_to, revoke_assignment, update_permission,
};
pub use time::{Duration, Timestamp};
pub use user::{Caller, LifecycleState, NotAuthorized, UnknownUserKind, User, UserKind};
pub use user_action::{
    HttpMethod, USER_ACTION_LIFETIME, USER_ACTION_RANDOM_BYTES, UnknownHttpMethod, UserActionError,
    UserActionGrant, UserActionRequest, UserActionRequestError, UserActionToken,
};
pub use username::{MAX_USERNAME_CHARS, Username, UsernameError};
pub use webauthn::{
    AttestationObject, AttestedCredential, AuthenticatorData, AuthenticatorFlags,
    MAX_WEBAUTHN_CREDENTIAL_ID_BYTES, RelyingParty, RelyingPartyError, WebAuthnError,
    next_sign_count, signed_message,
};
