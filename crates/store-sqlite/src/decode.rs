//! Turning rows into domain values, and domain values into column values.
//!
//! Stored data is parsed with the domain's own parsers, exactly like input
//! from a client: a row that does not parse is reported as a
//! [`StoreError`], never a panic.

use std::fmt::Display;
use std::str::FromStr;

use domain::{
    Assignment, AssignmentId, AuditEvent, AuditKind, Challenge, ChallengeId, ChallengePurpose,
    CredId, Credential, CredentialKind, CredentialUuid, HttpMethod, LifecycleState, Operation,
    OrgId, Permission, PermissionAssignment, PermissionId, PermissionName, Timestamp, User,
    UserActionGrant, UserActionRequest, UserActionToken, UserId, UserKind, Username,
};
use ports::StoreError;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};

/// Occurs when a stored value cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("stored {column} is not valid: {reason}")]
struct CorruptColumn {
    column: &'static str,
    reason: String,
}

/// A [`StoreError`] saying that `column` holds a value that is not valid.
pub(crate) fn corrupt(column: &'static str, reason: impl Display) -> StoreError {
    StoreError::new(CorruptColumn { column, reason: reason.to_string() })
}

/// Parses a stored value, or says which column is corrupt.
fn parse<T, E: Display>(column: &'static str, parsed: Result<T, E>) -> Result<T, StoreError> {
    parsed.map_err(|error| corrupt(column, error))
}

/// The value of `column`.
fn get<'r, T>(row: &'r SqliteRow, column: &'static str) -> Result<T, StoreError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(column).map_err(StoreError::new)
}

fn timestamp(row: &SqliteRow, column: &'static str) -> Result<Timestamp, StoreError> {
    Ok(Timestamp::from_unix_millis(get(row, column)?))
}

fn user_id(row: &SqliteRow, column: &'static str) -> Result<UserId, StoreError> {
    parse(column, UserId::parse(&get::<String>(row, column)?))
}

fn org_id(row: &SqliteRow, column: &'static str) -> Result<OrgId, StoreError> {
    parse(column, OrgId::parse(&get::<String>(row, column)?))
}

fn permission_id(row: &SqliteRow, column: &'static str) -> Result<PermissionId, StoreError> {
    parse(column, PermissionId::parse(&get::<String>(row, column)?))
}

fn assignment_id(row: &SqliteRow, column: &'static str) -> Result<AssignmentId, StoreError> {
    parse(column, AssignmentId::parse(&get::<String>(row, column)?))
}

fn method(row: &SqliteRow, column: &'static str) -> Result<HttpMethod, StoreError> {
    parse(column, HttpMethod::from_str(&get::<String>(row, column)?))
}

/// The columns of `users` that [`user`] reads, for a `SELECT`.
pub(crate) const USER_COLUMNS: &str = "id, org_id, kind, username, \
    credential_uuid, is_registered, is_service_account, is_sso_required, \
    external_id, state, archived_at, archived_by, created_at, version";

/// The stored name of a lifecycle state, with the archive's time and actor.
pub(crate) fn state_columns(state: &LifecycleState) -> (&'static str, Option<i64>, Option<&str>) {
    match state {
        LifecycleState::Active => ("Active", None, None),
        LifecycleState::Inactive => ("Inactive", None, None),
        LifecycleState::Archived { at, by } => {
            ("Archived", Some(at.unix_millis()), Some(by.as_str()))
        }
    }
}

fn state(row: &SqliteRow) -> Result<LifecycleState, StoreError> {
    let name: String = get(row, "state")?;
    let archived_at: Option<i64> = get(row, "archived_at")?;
    let archived_by: Option<String> = get(row, "archived_by")?;
    match (name.as_str(), archived_at, archived_by) {
        ("Active", None, None) => Ok(LifecycleState::Active),
        ("Inactive", None, None) => Ok(LifecycleState::Inactive),
        ("Archived", Some(at), Some(by)) => Ok(LifecycleState::Archived {
            at: Timestamp::from_unix_millis(at),
            by: parse("archived_by", UserId::parse(&by))?,
        }),
        _ => Err(corrupt("state", format!("{name:?} with inconsistent archive columns"))),
    }
}

/// A version as stored: SQLite integers are signed.
pub(crate) fn version_column(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| corrupt("version", "it exceeds a signed 64-bit integer"))
}

/// A version read back from `column`.
pub(crate) fn version(row: &SqliteRow, column: &'static str) -> Result<u64, StoreError> {
    parse(column, u64::try_from(get::<i64>(row, column)?))
}

/// A user from a row of [`USER_COLUMNS`], holding `assignments`.
pub(crate) fn user(
    row: &SqliteRow,
    assignments: Vec<PermissionAssignment>,
) -> Result<User, StoreError> {
    let credential_uuid = get::<Option<String>>(row, "credential_uuid")?
        .map(|uuid| parse("credential_uuid", CredentialUuid::parse(&uuid)))
        .transpose()?;
    Ok(User {
        id: user_id(row, "id")?,
        org_id: org_id(row, "org_id")?,
        kind: parse("kind", UserKind::from_str(&get::<String>(row, "kind")?))?,
        username: parse("username", Username::existing(&get::<String>(row, "username")?))?,
        credential_uuid,
        is_registered: get(row, "is_registered")?,
        is_service_account: get(row, "is_service_account")?,
        is_sso_required: get(row, "is_sso_required")?,
        external_id: get(row, "external_id")?,
        state: state(row)?,
        assignments,
        created_at: timestamp(row, "created_at")?,
        version: version(row, "version")?,
    })
}

/// The stored form of a permission's operations: a JSON array of names.
pub(crate) fn operations_json(operations: &[Operation]) -> Result<String, StoreError> {
    let names: Vec<&str> = operations.iter().map(|op| op.as_str()).collect();
    serde_json::to_string(&names).map_err(StoreError::new)
}

fn operations(json: &str) -> Result<Vec<Operation>, StoreError> {
    let names: Vec<String> = parse("operations", serde_json::from_str(json))?;
    names.iter().map(|name| parse("operations", Operation::from_str(name))).collect()
}

/// An assignment from a row with its `id`, `permission_id`, and the
/// permission's current `name` and `operations`.
pub(crate) fn assignment(row: &SqliteRow) -> Result<PermissionAssignment, StoreError> {
    Ok(PermissionAssignment {
        assignment_id: assignment_id(row, "id")?,
        permission_id: permission_id(row, "permission_id")?,
        permission_name: get(row, "name")?,
        operations: operations(&get::<String>(row, "operations")?)?,
    })
}

/// The columns of `permissions` that [`permission`] reads, for a `SELECT`.
pub(crate) const PERMISSION_COLUMNS: &str = "id, org_id, name, operations, \
    is_immutable, is_archived, created_at, updated_at, version";

/// A permission from a row of [`PERMISSION_COLUMNS`].
pub(crate) fn permission(row: &SqliteRow) -> Result<Permission, StoreError> {
    Ok(Permission {
        id: permission_id(row, "id")?,
        org_id: org_id(row, "org_id")?,
        name: parse("name", PermissionName::parse(&get::<String>(row, "name")?))?,
        operations: operations(&get::<String>(row, "operations")?)?,
        is_immutable: get(row, "is_immutable")?,
        is_archived: get(row, "is_archived")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
        version: version(row, "version")?,
    })
}

/// The columns of `permission_assignments` that [`assignment_record`]
/// reads, for a `SELECT`.
pub(crate) const ASSIGNMENT_COLUMNS: &str =
    "id, permission_id, user_id, org_id, created_at, ended_at";

/// An assignment record from a row of [`ASSIGNMENT_COLUMNS`]. No stored
/// assignment is immutable today, so none is read as one.
pub(crate) fn assignment_record(row: &SqliteRow) -> Result<Assignment, StoreError> {
    Ok(Assignment {
        id: assignment_id(row, "id")?,
        permission_id: permission_id(row, "permission_id")?,
        user_id: user_id(row, "user_id")?,
        org_id: org_id(row, "org_id")?,
        is_immutable: false,
        created_at: timestamp(row, "created_at")?,
        ended_at: get::<Option<i64>>(row, "ended_at")?.map(Timestamp::from_unix_millis),
    })
}

/// The columns of `credentials` that [`credential`] reads, for a `SELECT`.
pub(crate) const CREDENTIAL_COLUMNS: &str = "uuid, cred_id, user_id, org_id, kind, name, \
    public_key_pem, sign_count, relying_party_id, origin, is_active, created_at";

/// A credential from a row of [`CREDENTIAL_COLUMNS`].
pub(crate) fn credential(row: &SqliteRow) -> Result<Credential, StoreError> {
    let cred_id: String = get(row, "cred_id")?;
    Ok(Credential {
        uuid: parse("uuid", CredentialUuid::parse(&get::<String>(row, "uuid")?))?,
        cred_id: CredId::parse(&cred_id)
            .ok_or_else(|| corrupt("cred_id", "not a credential id"))?,
        user_id: user_id(row, "user_id")?,
        org_id: org_id(row, "org_id")?,
        kind: parse("kind", CredentialKind::from_str(&get::<String>(row, "kind")?))?,
        name: get(row, "name")?,
        public_key_pem: get(row, "public_key_pem")?,
        sign_count: parse("sign_count", u32::try_from(get::<i64>(row, "sign_count")?))?,
        relying_party_id: get(row, "relying_party_id")?,
        origin: get(row, "origin")?,
        is_active: get(row, "is_active")?,
        created_at: timestamp(row, "created_at")?,
    })
}

/// An audit event from a row of the `audit_events` table.
pub(crate) fn audit_event(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    let kind: String = get(row, "kind")?;
    Ok(AuditEvent {
        kind: AuditKind::from_name(&kind)
            .ok_or_else(|| corrupt("kind", format!("unknown audit event kind {kind:?}")))?,
        org_id: org_id(row, "org_id")?,
        user_id: user_id(row, "user_id")?,
        permission_id: get::<Option<String>>(row, "permission_id")?
            .map(|id| parse("permission_id", PermissionId::parse(&id)))
            .transpose()?,
        actor: user_id(row, "actor")?,
        at: timestamp(row, "at")?,
    })
}

/// A challenge with identifier `id` from a row of the `challenges` table.
pub(crate) fn challenge(id: &ChallengeId, row: &SqliteRow) -> Result<Challenge, StoreError> {
    let org_id = org_id(row, "org_id")?;
    let user_id = user_id(row, "user_id")?;
    let purpose_name: String = get(row, "purpose")?;
    let purpose = match purpose_name.as_str() {
        "Login" => ChallengePurpose::Login { org_id, user_id },
        "UserAction" => {
            let path: Option<String> = get(row, "action_path")?;
            let payload: Option<String> = get(row, "action_payload")?;
            let method: Option<String> = get(row, "action_method")?;
            let (Some(method), Some(path), Some(payload)) = (method, path, payload) else {
                return Err(corrupt("purpose", "a user action without its request"));
            };
            let method = parse("action_method", HttpMethod::from_str(&method))?;
            let request = UserActionRequest { method, path, payload };
            ChallengePurpose::UserAction { org_id, user_id, request }
        }
        "Registration" => {
            let Some(kind) = get::<Option<String>>(row, "credential_kind")? else {
                return Err(corrupt("purpose", "a registration without its credential kind"));
            };
            let kind = parse("credential_kind", CredentialKind::from_str(&kind))?;
            ChallengePurpose::Registration { org_id, user_id, kind }
        }
        other => return Err(corrupt("purpose", format!("unknown purpose {other:?}"))),
    };
    Ok(Challenge {
        id: id.clone(),
        challenge: get(row, "challenge")?,
        purpose,
        issued_at: timestamp(row, "issued_at")?,
    })
}

/// The grant of `token` from a row of the `user_actions` table.
pub(crate) fn user_action(
    token: &UserActionToken,
    row: &SqliteRow,
) -> Result<UserActionGrant, StoreError> {
    let credential_uuid: String = get(row, "credential_uuid")?;
    Ok(UserActionGrant {
        token: token.clone(),
        org_id: org_id(row, "org_id")?,
        user_id: user_id(row, "user_id")?,
        credential_uuid: parse("credential_uuid", CredentialUuid::parse(&credential_uuid))?,
        request: UserActionRequest {
            method: method(row, "method")?,
            path: get(row, "path")?,
            payload: get(row, "payload")?,
        },
        issued_at: timestamp(row, "issued_at")?,
        used_at: get::<Option<i64>>(row, "used_at")?.map(Timestamp::from_unix_millis),
    })
}
