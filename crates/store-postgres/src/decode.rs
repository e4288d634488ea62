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
use serde::Deserialize;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

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
pub(crate) fn get<'r, T: FromSql<'r>>(row: &'r Row, column: &'static str) -> Result<T, StoreError> {
    row.try_get(column).map_err(StoreError::new)
}

fn timestamp(row: &Row, column: &'static str) -> Result<Timestamp, StoreError> {
    Ok(Timestamp::from_unix_millis(get(row, column)?))
}

fn user_id(row: &Row, column: &'static str) -> Result<UserId, StoreError> {
    parse(column, UserId::parse(&get::<String>(row, column)?))
}

fn org_id(row: &Row, column: &'static str) -> Result<OrgId, StoreError> {
    parse(column, OrgId::parse(&get::<String>(row, column)?))
}

fn permission_id(row: &Row, column: &'static str) -> Result<PermissionId, StoreError> {
    parse(column, PermissionId::parse(&get::<String>(row, column)?))
}

fn method(row: &Row, column: &'static str) -> Result<HttpMethod, StoreError> {
    parse(column, HttpMethod::from_str(&get::<String>(row, column)?))
}

/// A version as stored: PostgreSQL has no unsigned integers.
pub(crate) fn version_column(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| corrupt("version", "it exceeds a signed 64-bit integer"))
}

/// A version as read back.
pub(crate) fn version(row: &Row, column: &'static str) -> Result<u64, StoreError> {
    parse(column, u64::try_from(get::<i64>(row, column)?))
}

/// The columns of `users` (aliased `u`) that [`user`] reads, for a
/// `SELECT`; the last one gathers the user's live assignments of live
/// permissions as a JSON array, so that the user and its assignments come
/// from one statement and so from one snapshot.
pub(crate) const USER_COLUMNS: &str = "u.id, u.org_id, u.kind, u.username, \
    u.credential_uuid, u.is_registered, u.is_service_account, u.is_sso_required, \
    u.external_id, u.state, u.archived_at, u.archived_by, u.created_at, u.version, \
    (SELECT COALESCE(json_agg(json_build_object('id', a.id, \
         'permission_id', a.permission_id, 'name', p.name, \
         'operations', p.operations) ORDER BY a.seq), '[]')::text \
     FROM permission_assignments AS a \
     JOIN permissions AS p ON p.id = a.permission_id \
     WHERE a.user_id = u.id AND a.ended_at IS NULL AND NOT p.is_archived \
    ) AS assignments";

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

fn state(row: &Row) -> Result<LifecycleState, StoreError> {
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

/// One element of the `assignments` column of [`USER_COLUMNS`].
#[derive(Deserialize)]
struct StoredAssignment {
    id: String,
    permission_id: String,
    name: String,
    operations: Vec<String>,
}

fn assignments(json: &str) -> Result<Vec<PermissionAssignment>, StoreError> {
    let stored: Vec<StoredAssignment> = parse("assignments", serde_json::from_str(json))?;
    stored
        .into_iter()
        .map(|a| {
            Ok(PermissionAssignment {
                assignment_id: parse("assignments", AssignmentId::parse(&a.id))?,
                permission_id: parse("assignments", PermissionId::parse(&a.permission_id))?,
                permission_name: a.name,
                operations: operations(&a.operations)?,
            })
        })
        .collect()
}

/// A user from a row of [`USER_COLUMNS`].
pub(crate) fn user(row: &Row) -> Result<User, StoreError> {
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
        assignments: assignments(&get::<String>(row, "assignments")?)?,
        created_at: timestamp(row, "created_at")?,
        version: version(row, "version")?,
    })
}

/// The stored form of a permission's operations: their wire names.
pub(crate) fn operation_names(operations: &[Operation]) -> Vec<&'static str> {
    operations.iter().map(|op| op.as_str()).collect()
}

fn operations(names: &[String]) -> Result<Vec<Operation>, StoreError> {
    names.iter().map(|name| parse("operations", Operation::from_str(name))).collect()
}

/// The columns of `permissions` that [`permission`] reads, for a `SELECT`.
pub(crate) const PERMISSION_COLUMNS: &str = "id, org_id, name, operations, is_immutable, \
    is_archived, created_at, updated_at, version";

/// A permission from a row of [`PERMISSION_COLUMNS`].
pub(crate) fn permission(row: &Row) -> Result<Permission, StoreError> {
    Ok(Permission {
        id: permission_id(row, "id")?,
        org_id: org_id(row, "org_id")?,
        name: parse("name", PermissionName::parse(&get::<String>(row, "name")?))?,
        operations: operations(&get::<Vec<String>>(row, "operations")?)?,
        is_immutable: get(row, "is_immutable")?,
        is_archived: get(row, "is_archived")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
        version: version(row, "version")?,
    })
}

/// An assignment from a row of the `permission_assignments` table.
pub(crate) fn assignment(row: &Row) -> Result<Assignment, StoreError> {
    Ok(Assignment {
        id: parse("id", AssignmentId::parse(&get::<String>(row, "id")?))?,
        permission_id: permission_id(row, "permission_id")?,
        user_id: user_id(row, "user_id")?,
        org_id: org_id(row, "org_id")?,
        // No assignment is immutable today, so none is stored as such.
        is_immutable: false,
        created_at: timestamp(row, "created_at")?,
        ended_at: get::<Option<i64>>(row, "ended_at")?.map(Timestamp::from_unix_millis),
    })
}

/// The columns of `credentials` that [`credential`] reads, for a `SELECT`.
pub(crate) const CREDENTIAL_COLUMNS: &str = "uuid, cred_id, user_id, org_id, kind, name, \
    public_key_pem, sign_count, relying_party_id, origin, is_active, created_at";

/// A credential from a row of [`CREDENTIAL_COLUMNS`].
pub(crate) fn credential(row: &Row) -> Result<Credential, StoreError> {
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
pub(crate) fn audit_event(row: &Row) -> Result<AuditEvent, StoreError> {
    let kind: String = get(row, "kind")?;
    let permission_id = get::<Option<String>>(row, "permission_id")?
        .map(|id| parse("permission_id", PermissionId::parse(&id)))
        .transpose()?;
    Ok(AuditEvent {
        kind: AuditKind::from_name(&kind)
            .ok_or_else(|| corrupt("kind", format!("unknown audit event kind {kind:?}")))?,
        org_id: org_id(row, "org_id")?,
        user_id: user_id(row, "user_id")?,
        permission_id,
        actor: user_id(row, "actor")?,
        at: timestamp(row, "at")?,
    })
}

/// A challenge with identifier `id` from a row of the `challenges` table.
pub(crate) fn challenge(id: &ChallengeId, row: &Row) -> Result<Challenge, StoreError> {
    let org_id = org_id(row, "org_id")?;
    let user_id = user_id(row, "user_id")?;
    let purpose_name: String = get(row, "purpose")?;
    let purpose = match purpose_name.as_str() {
        "Login" => ChallengePurpose::Login { org_id, user_id },
        "UserAction" => {
            let method: Option<String> = get(row, "action_method")?;
            let path: Option<String> = get(row, "action_path")?;
            let payload: Option<String> = get(row, "action_payload")?;
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
    row: &Row,
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
