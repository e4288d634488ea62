//! [`UserRepository`] on SQLite: orgs, users, their credentials and
//! permission assignments, each change in one transaction with its audit
//! event.

use async_trait::async_trait;
use domain::{
    AuditEvent, CredId, Credential, CredentialUuid, Org, OrgId, Permission, PermissionAssignment,
    PermissionId, User, UserId, UserKind, Username,
};
use ports::{
    AddCredentialError, Basis, InsertPermissionError, InsertUserError, StoreError, UpdateUserError,
    UserPage, UserRepository,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::audit::insert_event;
use crate::decode::{self, CREDENTIAL_COLUMNS, USER_COLUMNS};
use crate::guard;
use crate::permissions::insert_permission_row;
use crate::{SqliteStore, actor};

/// What SQLite names in the message of a unique violation on the index of
/// live user names (`users_live_username`); other unique violations, such
/// as a reused id, are store failures.
const USERNAME_KEY_COLUMN: &str = "users.username_key";

/// What SQLite names in the message of a unique violation of a user's
/// `credId`s, `UNIQUE (user_id, cred_id)`; a reused uuid names
/// `credentials.uuid` instead, and is a store failure.
const CRED_ID_COLUMN: &str = "credentials.cred_id";

/// Occurs when an assignment a user lists cannot be stored.
#[derive(Debug, thiserror::Error)]
enum AssignError {
    /// Occurs when the permission was archived, perhaps after the caller
    /// read it.
    #[error("permission {0} is archived")]
    Archived(PermissionId),
    /// Occurs when the permission was never stored.
    #[error("permission {0} does not exist")]
    Unknown(PermissionId),
    /// Occurs when the permission belongs to another org than the user.
    #[error("permission {0} belongs to another org")]
    Foreign(PermissionId),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AssignError> for StoreError {
    fn from(error: AssignError) -> StoreError {
        match error {
            AssignError::Store(error) => error,
            refused => StoreError::new(refused),
        }
    }
}

impl From<AssignError> for UpdateUserError {
    fn from(error: AssignError) -> UpdateUserError {
        match error {
            // Deciding again on fresh reads refuses the assignment properly.
            AssignError::Archived(_) => UpdateUserError::Conflict,
            other => UpdateUserError::Store(other.into()),
        }
    }
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn create_org(
        &self,
        org: &Org,
        admin_permission: &Permission,
        admin: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;

        sqlx::query("INSERT INTO orgs (id, name, created_at, guard_version) VALUES (?, ?, ?, 0)")
            .bind(org.id.as_str())
            .bind(org.name.as_str())
            .bind(org.created_at.unix_millis())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        // A new org has no permissions, so the admin's name cannot clash.
        insert_permission_row(&mut tx, admin_permission).await.map_err(|error| match error {
            InsertPermissionError::Store(error) => error,
            other => StoreError::new(other),
        })?;
        // A new org has no users, so its admin's name cannot clash.
        insert_user_rows(&mut tx, admin, std::slice::from_ref(credential)).await.map_err(
            |error| match error {
                InsertUserError::Store(error) => error,
                other => StoreError::new(other),
            },
        )?;
        insert_event(&mut tx, event).await?;

        tx.commit().await.map_err(StoreError::new)
    }

    async fn count_orgs(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS count FROM orgs")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::new)?;
        let count: i64 = row.try_get("count").map_err(StoreError::new)?;
        u64::try_from(count).map_err(|error| decode::corrupt("count", error))
    }

    async fn insert_user(
        &self,
        user: &User,
        credentials: &[Credential],
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertUserError> {
        let mut tx = self.begin_write().await?;

        if !actor::holds(&mut tx, basis).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(InsertUserError::Conflict);
        }
        insert_user_rows(&mut tx, user, credentials).await?;
        insert_event(&mut tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let mut tx = self.begin_read().await?;

        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        let user = match row {
            Some(row) => Some(user_with_assignments(&mut tx, &row).await?),
            None => None,
        };

        tx.commit().await.map_err(StoreError::new)?;
        Ok(user)
    }

    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.begin_read().await?;

        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE org_id = ? AND username_key = ? AND state <> 'Archived'"
        );
        let row = sqlx::query(&sql)
            .bind(org.as_str())
            .bind(username.key())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        let user = match row {
            Some(row) => Some(user_with_assignments(&mut tx, &row).await?),
            None => None,
        };

        tx.commit().await.map_err(StoreError::new)?;
        Ok(user)
    }

    async fn update_user(
        &self,
        user: &User,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdateUserError> {
        let mut tx = self.begin_write().await?;

        // The caller first: a change decided for a caller who changed
        // meanwhile (deactivated, archived, stripped of a right) is refused
        // before anything is written.
        if !actor::holds(&mut tx, basis).await? || !update_user_row(&mut tx, user).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(UpdateUserError::Conflict);
        }
        if let Some(guard) = &basis.guard {
            if !guard::bump(&mut tx, guard, &user.org_id).await? {
                tx.rollback().await.map_err(StoreError::new)?;
                return Err(UpdateUserError::Conflict);
            }
        }

        sync_assignments(&mut tx, user, event).await?;
        insert_event(&mut tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn list_users(
        &self,
        org: &OrgId,
        kind: Option<UserKind>,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UserPage, StoreError> {
        let mut tx = self.begin_read().await?;

        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {USER_COLUMNS} FROM users "));
        query.push("WHERE state <> 'Archived' AND org_id = ").push_bind(org.as_str());
        if let Some(kind) = kind {
            query.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(after) = &after {
            query.push(" AND id > ").push_bind(after.as_str());
        }
        // One row more than asked tells whether another page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        query.push(" ORDER BY id LIMIT ").push_bind(fetch);
        let rows = query.build().fetch_all(&mut *tx).await.map_err(StoreError::new)?;
        let has_more = rows.len() > limit;
        let mut users = Vec::with_capacity(rows.len().min(limit));
        for row in rows.iter().take(limit) {
            users.push(user_with_assignments(&mut tx, row).await?);
        }

        tx.commit().await.map_err(StoreError::new)?;
        Ok(UserPage { users, has_more })
    }

    async fn find_credential(
        &self,
        user: &UserId,
        cred_id: &CredId,
    ) -> Result<Option<Credential>, StoreError> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = ? AND cred_id = ?"
        );
        let row = sqlx::query(&sql)
            .bind(user.as_str())
            .bind(cred_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::new)?;
        row.as_ref().map(decode::credential).transpose()
    }

    async fn list_credentials(&self, user: &UserId) -> Result<Vec<Credential>, StoreError> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
             WHERE user_id = ? AND is_active = 1 ORDER BY created_at, rowid"
        );
        let rows = sqlx::query(&sql)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?;
        rows.iter().map(decode::credential).collect()
    }

    async fn add_credential(
        &self,
        user: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), AddCredentialError> {
        let mut tx = self.begin_write().await?;

        // A registration changes no assignment, so only the user's row is
        // written; the write lock taken by `BEGIN IMMEDIATE` keeps every
        // other writer out until the commit.
        if !update_user_row(&mut tx, user).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(AddCredentialError::Conflict);
        }
        match insert_credential(&mut tx, credential).await {
            Err(sqlx::Error::Database(error))
                if error.is_unique_violation() && error.message().contains(CRED_ID_COLUMN) =>
            {
                tx.rollback().await.map_err(StoreError::new)?;
                return Err(AddCredentialError::CredIdTaken);
            }
            Err(error) => return Err(StoreError::new(error).into()),
            Ok(()) => {}
        }
        insert_event(&mut tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn advance_sign_count(
        &self,
        credential: &CredentialUuid,
        count: u32,
    ) -> Result<bool, StoreError> {
        // One statement, which SQLite runs under its write lock: of two
        // raises to one value, in any processes, the second finds the
        // counter no longer lower.
        let raised =
            sqlx::query("UPDATE credentials SET sign_count = ? WHERE uuid = ? AND sign_count < ?")
                .bind(i64::from(count))
                .bind(credential.as_str())
                .bind(i64::from(count))
                .execute(&self.pool)
                .await
                .map_err(StoreError::new)?;
        Ok(raised.rows_affected() == 1)
    }
}

/// Writes `user` over its stored row if the stored version is still
/// `user.version`, and bumps the version; `false`, and nothing written,
/// when it is not (or the user is unknown).
async fn update_user_row(conn: &mut SqliteConnection, user: &User) -> Result<bool, StoreError> {
    let (state, archived_at, archived_by) = decode::state_columns(&user.state);
    let changed = sqlx::query(
        "UPDATE users SET kind = ?, username = ?, username_key = ?, \
         credential_uuid = ?, is_registered = ?, is_service_account = ?, \
         is_sso_required = ?, external_id = ?, state = ?, archived_at = ?, \
         archived_by = ?, version = version + 1 \
         WHERE id = ? AND version = ?",
    )
    .bind(user.kind.as_str())
    .bind(user.username.as_str())
    .bind(user.username.key())
    .bind(user.credential_uuid.as_ref().map(|uuid| uuid.as_str()))
    .bind(user.is_registered)
    .bind(user.is_service_account)
    .bind(user.is_sso_required)
    .bind(user.external_id.as_deref())
    .bind(state)
    .bind(archived_at)
    .bind(archived_by)
    .bind(user.id.as_str())
    .bind(decode::version_column(user.version)?)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::new)?
    .rows_affected();
    Ok(changed == 1)
}

/// The user of `row` with its live assignments, read on `conn`.
async fn user_with_assignments(
    conn: &mut SqliteConnection,
    row: &SqliteRow,
) -> Result<User, StoreError> {
    let id: String = row.try_get("id").map_err(StoreError::new)?;
    let assignments = live_assignments(conn, &id).await?;
    decode::user(row, assignments)
}

/// The live assignments of live permissions of the user `user_id`, oldest
/// first, with their permission's current name and operations.
async fn live_assignments(
    conn: &mut SqliteConnection,
    user_id: &str,
) -> Result<Vec<PermissionAssignment>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.id, a.permission_id, p.name, p.operations \
         FROM permission_assignments AS a \
         JOIN permissions AS p ON p.id = a.permission_id \
         WHERE a.user_id = ? AND a.ended_at IS NULL AND p.is_archived = 0 \
         ORDER BY a.created_at, a.rowid",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::new)?;
    rows.iter().map(decode::assignment).collect()
}

/// Inserts `user` at version 0 with its assignments and `credentials`.
async fn insert_user_rows(
    conn: &mut SqliteConnection,
    user: &User,
    credentials: &[Credential],
) -> Result<(), InsertUserError> {
    let (state, archived_at, archived_by) = decode::state_columns(&user.state);
    let inserted = sqlx::query(
        "INSERT INTO users (id, org_id, kind, username, username_key, \
         credential_uuid, is_registered, is_service_account, is_sso_required, \
         external_id, state, archived_at, archived_by, created_at, version) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
    )
    .bind(user.id.as_str())
    .bind(user.org_id.as_str())
    .bind(user.kind.as_str())
    .bind(user.username.as_str())
    .bind(user.username.key())
    .bind(user.credential_uuid.as_ref().map(|uuid| uuid.as_str()))
    .bind(user.is_registered)
    .bind(user.is_service_account)
    .bind(user.is_sso_required)
    .bind(user.external_id.as_deref())
    .bind(state)
    .bind(archived_at)
    .bind(archived_by)
    .bind(user.created_at.unix_millis())
    .execute(&mut *conn)
    .await;
    match inserted {
        Err(sqlx::Error::Database(error))
            if error.is_unique_violation() && error.message().contains(USERNAME_KEY_COLUMN) =>
        {
            return Err(InsertUserError::UsernameTaken);
        }
        Err(error) => return Err(StoreError::new(error).into()),
        Ok(_) => {}
    }

    for assignment in &user.assignments {
        insert_assignment(conn, user, assignment, user.created_at.unix_millis())
            .await
            .map_err(StoreError::from)?;
    }
    for credential in credentials {
        insert_credential(conn, credential).await.map_err(StoreError::new)?;
    }
    Ok(())
}

/// Inserts a live assignment of `user`, once its permission is known to be
/// a live one of the user's org.
async fn insert_assignment(
    conn: &mut SqliteConnection,
    user: &User,
    assignment: &PermissionAssignment,
    created_at: i64,
) -> Result<(), AssignError> {
    let id = &assignment.permission_id;
    let permission = sqlx::query("SELECT org_id, is_archived FROM permissions WHERE id = ?")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::new)?;
    let Some(permission) = permission else {
        return Err(AssignError::Unknown(id.clone()));
    };
    let org_id: String = permission.try_get("org_id").map_err(StoreError::new)?;
    if org_id != user.org_id.as_str() {
        return Err(AssignError::Foreign(id.clone()));
    }
    if permission.try_get::<bool, _>("is_archived").map_err(StoreError::new)? {
        return Err(AssignError::Archived(id.clone()));
    }

    sqlx::query(
        "INSERT INTO permission_assignments \
         (id, permission_id, user_id, org_id, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(assignment.assignment_id.as_str())
    .bind(assignment.permission_id.as_str())
    .bind(user.id.as_str())
    .bind(user.org_id.as_str())
    .bind(created_at)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::new)?;
    Ok(())
}

/// Makes the stored live assignments of `user` those it lists: ends the
/// ones it no longer lists, inserts the ones not stored yet.
async fn sync_assignments(
    conn: &mut SqliteConnection,
    user: &User,
    event: &AuditEvent,
) -> Result<(), AssignError> {
    let rows =
        sqlx::query("SELECT id FROM permission_assignments WHERE user_id = ? AND ended_at IS NULL")
            .bind(user.id.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::new)?;
    let stored = rows
        .iter()
        .map(|row| row.try_get::<String, _>("id"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::new)?;
    let listed = |id: &str| user.assignments.iter().any(|a| a.assignment_id.as_str() == id);

    for id in stored.iter().filter(|id| !listed(id)) {
        sqlx::query("UPDATE permission_assignments SET ended_at = ? WHERE id = ?")
            .bind(event.at.unix_millis())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::new)?;
    }
    for assignment in &user.assignments {
        if !stored.iter().any(|id| id == assignment.assignment_id.as_str()) {
            insert_assignment(conn, user, assignment, event.at.unix_millis()).await?;
        }
    }
    Ok(())
}

/// Inserts `credential`; the driver's error is answered as it is, so that
/// a registration can tell a taken `credId` from other failures.
async fn insert_credential(
    conn: &mut SqliteConnection,
    credential: &Credential,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO credentials (uuid, cred_id, user_id, org_id, kind, name, \
         public_key_pem, sign_count, relying_party_id, origin, is_active, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(credential.uuid.as_str())
    .bind(credential.cred_id.as_str())
    .bind(credential.user_id.as_str())
    .bind(credential.org_id.as_str())
    .bind(credential.kind.as_str())
    .bind(&credential.name)
    .bind(&credential.public_key_pem)
    .bind(i64::from(credential.sign_count))
    .bind(credential.relying_party_id.as_deref())
    .bind(credential.origin.as_deref())
    .bind(credential.is_active)
    .bind(credential.created_at.unix_millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
