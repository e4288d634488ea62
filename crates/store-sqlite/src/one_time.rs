//! [`OneTimeStore`] on SQLite: challenges, user-action grants and request
//! nonces, each spent by one conditional statement that SQLite runs
//! atomically, so at most one caller in any process wins.

use async_trait::async_trait;
use domain::UserActionToken;
use domain::{
    Challenge, ChallengeId, ChallengePurpose, CredentialKind, Timestamp, UserActionGrant,
};
use ports::{OneTimeStore, StoreError};

use crate::SqliteStore;
use crate::decode;

#[async_trait]
impl OneTimeStore for SqliteStore {
    async fn insert_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        let (purpose, request, kind) = match &challenge.purpose {
            ChallengePurpose::Login { .. } => ("Login", None, None),
            ChallengePurpose::UserAction { request, .. } => ("UserAction", Some(request), None),
            ChallengePurpose::Registration { kind, .. } => ("Registration", None, Some(*kind)),
        };
        sqlx::query(
            "INSERT INTO challenges (id, challenge, purpose, org_id, user_id, \
             action_method, action_path, action_payload, credential_kind, issued_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(challenge.id.as_str())
        .bind(&challenge.challenge)
        .bind(purpose)
        .bind(challenge.purpose.org_id().as_str())
        .bind(challenge.purpose.user_id().as_str())
        .bind(request.map(|r| r.method.as_str()))
        .bind(request.map(|r| r.path.as_str()))
        .bind(request.map(|r| r.payload.as_str()))
        .bind(kind.map(CredentialKind::as_str))
        .bind(challenge.issued_at.unix_millis())
        .execute(&self.pool)
        .await
        .map_err(StoreError::new)?;
        Ok(())
    }

    async fn take_challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        // `fetch_all` steps the statement to its end, where SQLite commits
        // the delete and reports a failure to commit; stopping at the first
        // row would leave that error unseen.
        let rows = sqlx::query(
            "DELETE FROM challenges WHERE id = ? RETURNING challenge, purpose, org_id, \
             user_id, action_method, action_path, action_payload, credential_kind, issued_at",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::new)?;
        rows.first().map(|row| decode::challenge(id, row)).transpose()
    }

    async fn insert_user_action(&self, grant: &UserActionGrant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_actions (token, org_id, user_id, credential_uuid, \
             method, path, payload, issued_at, used_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(grant.token.as_str())
        .bind(grant.org_id.as_str())
        .bind(grant.user_id.as_str())
        .bind(grant.credential_uuid.as_str())
        .bind(grant.request.method.as_str())
        .bind(&grant.request.path)
        .bind(&grant.request.payload)
        .bind(grant.issued_at.unix_millis())
        .bind(grant.used_at.map(Timestamp::unix_millis))
        .execute(&self.pool)
        .await
        .map_err(StoreError::new)?;
        Ok(())
    }

    async fn find_user_action(
        &self,
        token: &UserActionToken,
    ) -> Result<Option<UserActionGrant>, StoreError> {
        let row = sqlx::query(
            "SELECT org_id, user_id, credential_uuid, method, path, payload, \
             issued_at, used_at FROM user_actions WHERE token = ?",
        )
        .bind(token.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::new)?;
        row.map(|row| decode::user_action(token, &row)).transpose()
    }

    async fn spend_user_action(
        &self,
        token: &UserActionToken,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let spent =
            sqlx::query("UPDATE user_actions SET used_at = ? WHERE token = ? AND used_at IS NULL")
                .bind(now.unix_millis())
                .bind(token.as_str())
                .execute(&self.pool)
                .await
                .map_err(StoreError::new)?;
        Ok(spent.rows_affected() == 1)
    }

    async fn use_nonce(&self, nonce: &str, expires_at: Timestamp) -> Result<bool, StoreError> {
        // The primary key decides: an insert of a nonce already recorded
        // adds no row, whichever process made the first one.
        let recorded = sqlx::query(
            "INSERT INTO nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(expires_at.unix_millis())
        .execute(&self.pool)
        .await
        .map_err(StoreError::new)?;
        Ok(recorded.rows_affected() == 1)
    }
}
