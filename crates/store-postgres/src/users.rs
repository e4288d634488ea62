//! [`UserRepository`] on PostgreSQL: orgs, users, their credentials and
//! permission assignments, each change in one transaction with its audit
//! event.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use domain::{
    AuditEvent, CredId, Credential, CredentialUuid, Org, OrgId, Permission, PermissionId, User,
    UserId, UserKind, Username,
};
use ports::{
    AddCredentialError, Basis, InsertPermissionError, InsertUserError, StoreError, UpdateUserError,
    UserPage, UserRepository,
};
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::decode::{self, CREDENTIAL_COLUMNS, USER_COLUMNS};
use crate::sql::{self, RaceAsConflict};
use crate::write::{self, LIVE_USERNAME_INDEX};

/// The unique constraint on a user's `credIds`, `(user_id, cred_id)`,
/// named so by migration 0002.
const USER_CRED_ID_CONSTRAINT: &str = "credentials_user_cred_id";

/// Occurs when a new user is stored holding an archived permission: the
/// caller decided on a permission that no longer exists.
#[derive(Debug, thiserror::Error)]
#[error("permission {0} is archived")]
struct ArchivedPermission(PermissionId);

#[async_trait]
impl UserRepository for PostgresStore {
    async fn create_org(
        &self,
        org: &Org,
        admin_permission: &Permission,
        admin: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(StoreError::new)?;

        sql::execute(
            &tx,
            "INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)",
            &[&org.id.as_str(), &org.name.as_str(), &org.created_at.unix_millis()],
        )
        .await
        .map_err(StoreError::new)?;
        // A new org has no permissions and no users, so neither name can
        // clash; a clash would be a store failure.
        write::insert_permission(&tx, admin_permission).await.map_err(|error| match error {
            InsertPermissionError::Store(error) => error,
            other => StoreError::new(other),
        })?;
        insert_user_rows(&tx, admin, std::slice::from_ref(credential)).await.map_err(|error| {
            match error {
                InsertUserError::Store(error) => error,
                other => StoreError::new(other),
            }
        })?;
        write::insert_event(&tx, event).await?;

        tx.commit().await.map_err(StoreError::new)
    }

    async fn count_orgs(&self) -> Result<u64, StoreError> {
        let conn = self.connection().await?;
        let row = sql::query_opt(&conn, "SELECT COUNT(*) AS count FROM orgs", &[])
            .await
            .map_err(StoreError::new)?
            .ok_or_else(|| decode::corrupt("count", "no row"))?;
        let count: i64 = decode::get(&row, "count")?;
        u64::try_from(count).map_err(|error| decode::corrupt("count", error))
    }

    async fn insert_user(
        &self,
        user: &User,
        credentials: &[Credential],
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertUserError> {
        self.insert_user_once(user, credentials, event, basis)
            .await
            .map_err(RaceAsConflict::race_as_conflict)
    }

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let conn = self.connection().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users AS u WHERE u.id = $1");
        let row = sql::query_opt(&conn, &sql, &[&id.as_str()]).await.map_err(StoreError::new)?;
        row.as_ref().map(decode::user).transpose()
    }

    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> Result<Option<User>, StoreError> {
        let conn = self.connection().await?;
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users AS u \
             WHERE u.org_id = $1 AND u.username_key = $2 AND u.state <> 'Archived'"
        );
        let row = sql::query_opt(&conn, &sql, &[&org.as_str(), &username.key()])
            .await
            .map_err(StoreError::new)?;
        row.as_ref().map(decode::user).transpose()
    }

    async fn update_user(
        &self,
        user: &User,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdateUserError> {
        self.update_user_once(user, event, basis).await.map_err(RaceAsConflict::race_as_conflict)
    }

    async fn list_users(
        &self,
        org: &OrgId,
        kind: Option<UserKind>,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<UserPage, StoreError> {
        let org = org.as_str();
        let kind = kind.map(UserKind::as_str);
        let after = after.as_ref().map(UserId::as_str);
        // One row more than asked tells whether another page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);

        // Each combination of filters is its own statement, so that each is
        // planned for the filters it has.
        let mut sql = format!(
            "SELECT {USER_COLUMNS} FROM users AS u \
             WHERE u.state <> 'Archived' AND u.org_id = $1"
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&org];
        if let Some(kind) = &kind {
            params.push(kind);
            sql.push_str(&format!(" AND u.kind = ${}", params.len()));
        }
        if let Some(after) = &after {
            params.push(after);
            sql.push_str(&format!(" AND u.id > ${}", params.len()));
        }
        params.push(&fetch);
        sql.push_str(&format!(" ORDER BY u.id LIMIT ${}", params.len()));
        let conn = self.connection().await?;
        let rows = sql::query(&conn, &sql, &params).await.map_err(StoreError::new)?;

        let has_more = rows.len() > limit;
        let users = rows.iter().take(limit).map(decode::user).collect::<Result<_, _>>()?;
        Ok(UserPage { users, has_more })
    }

    async fn find_credential(
        &self,
        user: &UserId,
        cred_id: &CredId,
    ) -> Result<Option<Credential>, StoreError> {
        let conn = self.connection().await?;
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = $1 AND cred_id = $2"
        );
        let row = sql::query_opt(&conn, &sql, &[&user.as_str(), &cred_id.as_str()])
            .await
            .map_err(StoreError::new)?;
        row.as_ref().map(decode::credential).transpose()
    }

    async fn list_credentials(&self, user: &UserId) -> Result<Vec<Credential>, StoreError> {
        let conn = self.connection().await?;
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
             WHERE user_id = $1 AND is_active ORDER BY created_at, seq"
        );
        let rows = sql::query(&conn, &sql, &[&user.as_str()]).await.map_err(StoreError::new)?;
        rows.iter().map(decode::credential).collect()
    }

    async fn add_credential(
        &self,
        user: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), AddCredentialError> {
        self.add_credential_once(user, credential, event)
            .await
            .map_err(RaceAsConflict::race_as_conflict)
    }

    async fn advance_sign_count(
        &self,
        credential: &CredentialUuid,
        count: u32,
    ) -> Result<bool, StoreError> {
        // One statement: a concurrent raise of the same row waits for the
        // first one's row lock, then re-reads the counter and finds it no
        // longer lower.
        let conn = self.connection().await?;
        let raised = sql::execute(
            &conn,
            "UPDATE credentials SET sign_count = $1 WHERE uuid = $2 AND sign_count < $1",
            &[&i64::from(count), &credential.as_str()],
        )
        .await
        .map_err(StoreError::new)?;
        Ok(raised == 1)
    }
}

/// The transactions of the writes that can lose a race with another
/// transaction; the trait's methods answer a lost race as a conflict.
impl PostgresStore {
    async fn insert_user_once(
        &self,
        user: &User,
        credentials: &[Credential],
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertUserError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(StoreError::new)?;

        if !write::hold_actor(&tx, basis).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(InsertUserError::Conflict);
        }
        insert_user_rows(&tx, user, credentials).await?;
        write::insert_event(&tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn update_user_once(
        &self,
        user: &User,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdateUserError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(StoreError::new)?;

        // The guard goes first, so every guarded change locks its org's row
        // before any other: two guarded changes never wait for each other in
        // opposite orders.
        if let Some(guard) = &basis.guard {
            if !write::take_guard(&tx, guard, &user.org_id).await? {
                return conflict(tx).await;
            }
        }
        // Then the caller and the user, in id order, held until the
        // commit: a change of the caller that lands first makes this one
        // conflict, one that comes later waits for this one to end, and a
        // change of the caller by the user queues behind this one or
        // before it rather than deadlocking.
        if !write::lock_users(&tx, basis, &[user.id.as_str()]).await? {
            return conflict(tx).await;
        }

        if !update_user_row(&tx, user).await? {
            return conflict(tx).await;
        }

        if !sync_assignments(&tx, user, event).await? {
            return conflict(tx).await;
        }
        write::insert_event(&tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn add_credential_once(
        &self,
        user: &User,
        credential: &Credential,
        event: &AuditEvent,
    ) -> Result<(), AddCredentialError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(StoreError::new)?;

        // The user's row first: a concurrent registration of the same user
        // waits here for the row lock, then finds the version changed. A
        // registration changes no assignment, so only the row is written.
        if !update_user_row(&tx, user).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(AddCredentialError::Conflict);
        }
        match insert_credential(&tx, credential).await {
            Err(error) if sql::violates(&error, USER_CRED_ID_CONSTRAINT) => {
                tx.rollback().await.map_err(StoreError::new)?;
                return Err(AddCredentialError::CredIdTaken);
            }
            Err(error) => return Err(StoreError::new(error).into()),
            Ok(()) => {}
        }
        write::insert_event(&tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }
}

/// Writes `user` over its stored row if the stored version is still
/// `user.version`, and bumps the version; `false`, and nothing written,
/// when it is not (or the user is unknown). A concurrent writer of the row
/// waits for this transaction, then finds the version changed.
async fn update_user_row(tx: &impl GenericClient, user: &User) -> Result<bool, StoreError> {
    let (state, archived_at, archived_by) = decode::state_columns(&user.state);
    let changed = sql::execute(
        tx,
        "UPDATE users SET kind = $1, username = $2, username_key = $3, \
         credential_uuid = $4, is_registered = $5, is_service_account = $6, \
         is_sso_required = $7, external_id = $8, state = $9, archived_at = $10, \
         archived_by = $11, version = version + 1 \
         WHERE id = $12 AND version = $13",
        &[
            &user.kind.as_str(),
            &user.username.as_str(),
            &user.username.key(),
            &user.credential_uuid.as_ref().map(|uuid| uuid.as_str()),
            &user.is_registered,
            &user.is_service_account,
            &user.is_sso_required,
            &user.external_id.as_deref(),
            &state,
            &archived_at,
            &archived_by,
            &user.id.as_str(),
            &decode::version_column(user.version)?,
        ],
    )
    .await
    .map_err(StoreError::new)?;
    Ok(changed == 1)
}

/// Rolls `tx` back and answers [`UpdateUserError::Conflict`].
async fn conflict(tx: Transaction<'_>) -> Result<(), UpdateUserError> {
    tx.rollback().await.map_err(StoreError::new)?;
    Err(UpdateUserError::Conflict)
}

/// Inserts `user` at version 0 with its assignments and `credentials`.
async fn insert_user_rows(
    tx: &impl GenericClient,
    user: &User,
    credentials: &[Credential],
) -> Result<(), InsertUserError> {
    let (state, archived_at, archived_by) = decode::state_columns(&user.state);
    let inserted = sql::execute(
        tx,
        "INSERT INTO users (id, org_id, kind, username, username_key, \
         credential_uuid, is_registered, is_service_account, is_sso_required, \
         external_id, state, archived_at, archived_by, created_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0)",
        &[
            &user.id.as_str(),
            &user.org_id.as_str(),
            &user.kind.as_str(),
            &user.username.as_str(),
            &user.username.key(),
            &user.credential_uuid.as_ref().map(|uuid| uuid.as_str()),
            &user.is_registered,
            &user.is_service_account,
            &user.is_sso_required,
            &user.external_id.as_deref(),
            &state,
            &archived_at,
            &archived_by,
            &user.created_at.unix_millis(),
        ],
    )
    .await;
    match inserted {
        Err(error) if sql::violates(&error, LIVE_USERNAME_INDEX) => {
            return Err(InsertUserError::UsernameTaken);
        }
        Err(error) => return Err(StoreError::new(error).into()),
        Ok(_) => {}
    }

    for assignment in &user.assignments {
        let created_at = user.created_at.unix_millis();
        if !write::insert_assignment(tx, user, assignment, created_at).await? {
            let archived = ArchivedPermission(assignment.permission_id.clone());
            return Err(StoreError::new(archived).into());
        }
    }
    for credential in credentials {
        insert_credential(tx, credential).await.map_err(StoreError::new)?;
    }
    Ok(())
}

/// Makes the stored live assignments of `user` those it lists: ends the
/// ones it no longer lists, inserts the ones never stored. A listed
/// assignment that was ended meanwhile (its permission was archived) stays
/// ended. `false`, to be rolled back as a conflict, when a new
/// assignment's permission was archived meanwhile.
async fn sync_assignments(
    tx: &impl GenericClient,
    user: &User,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    let listed: Vec<&str> = user.assignments.iter().map(|a| a.assignment_id.as_str()).collect();

    // Ending comes first, so that a permission revoked and assigned again
    // in one change never holds two live assignments at once.
    sql::execute(
        tx,
        "UPDATE permission_assignments SET ended_at = $1 \
         WHERE user_id = $2 AND ended_at IS NULL AND id <> ALL ($3)",
        &[&event.at.unix_millis(), &user.id.as_str(), &listed],
    )
    .await
    .map_err(StoreError::new)?;

    let rows = sql::query(
        tx,
        "SELECT id FROM permission_assignments WHERE user_id = $1 AND id = ANY ($2)",
        &[&user.id.as_str(), &listed],
    )
    .await
    .map_err(StoreError::new)?;
    let stored =
        rows.iter().map(|row| decode::get::<String>(row, "id")).collect::<Result<Vec<_>, _>>()?;

    for assignment in &user.assignments {
        if stored.iter().any(|id| id == assignment.assignment_id.as_str()) {
            continue;
        }
        let created_at = event.at.unix_millis();
        if !write::insert_assignment(tx, user, assignment, created_at).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Inserts `credential`; the driver's error is answered as it is, so that
/// a registration can tell a taken `credId` from other failures.
async fn insert_credential(
    tx: &impl GenericClient,
    credential: &Credential,
) -> Result<(), tokio_postgres::Error> {
    sql::execute(
        tx,
        "INSERT INTO credentials (uuid, cred_id, user_id, org_id, kind, name, \
         public_key_pem, sign_count, relying_party_id, origin, is_active, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &credential.uuid.as_str(),
            &credential.cred_id.as_str(),
            &credential.user_id.as_str(),
            &credential.org_id.as_str(),
            &credential.kind.as_str(),
            &credential.name,
            &credential.public_key_pem,
            &i64::from(credential.sign_count),
            &credential.relying_party_id.as_deref(),
            &credential.origin.as_deref(),
            &credential.is_active,
            &credential.created_at.unix_millis(),
        ],
    )
    .await?;
    Ok(())
}
