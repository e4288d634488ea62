//! [`OneTimeStore`] on PostgreSQL: challenges, user-action grants and
//! request nonces, each spent by one statement. A concurrent spender of the
//! same row waits for the first one's row lock, then finds the row gone or
//! spent, so at most one caller in any process wins.

use async_trait::async_trait;
use domain::{
    Challenge, ChallengeId, ChallengePurpose, CredentialKind, Timestamp, UserActionGrant,
    UserActionToken,
};
use ports::{OneTimeStore, StoreError};

use crate::PostgresStore;
use crate::decode;
use crate::sql;

#[async_trait]
impl OneTimeStore for PostgresStore {
    async fn insert_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        let (purpose, request, kind) = match &challenge.purpose {
            ChallengePurpose::Login { .. } => ("Login", None, None),
            ChallengePurpose::UserAction { request, .. } => ("UserAction", Some(request), None),
            ChallengePurpose::Registration { kind, .. } => ("Registration", None, Some(*kind)),
        };
        let conn = self.connection().await?;
        sql::execute(
            &conn,
            "INSERT INTO challenges (id, challenge, purpose, org_id, user_id, \
             action_method, action_path, action_payload, credential_kind, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &challenge.id.as_str(),
                &challenge.challenge,
                &purpose,
                &challenge.purpose.org_id().as_str(),
                &challenge.purpose.user_id().as_str(),
                &request.map(|r| r.method.as_str()),
                &request.map(|r| r.path.as_str()),
                &request.map(|r| r.payload.as_str()),
                &kind.map(CredentialKind::as_str),
                &challenge.issued_at.unix_millis(),
            ],
        )
        .await
        .map_err(StoreError::new)?;
        Ok(())
    }

    async fn take_challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        let conn = self.connection().await?;
        let row = sql::query_opt(
            &conn,
            "DELETE FROM challenges WHERE id = $1 RETURNING challenge, purpose, org_id, \
             user_id, action_method, action_path, action_payload, credential_kind, issued_at",
            &[&id.as_str()],
        )
        .await
        .map_err(StoreError::new)?;
        row.map(|row| decode::challenge(id, &row)).transpose()
    }

    async fn insert_user_action(&self, grant: &UserActionGrant) -> Result<(), StoreError> {
        let conn = self.connection().await?;
        sql::execute(
            &conn,
            "INSERT INTO user_actions (token, org_id, user_id, credential_uuid, \
             method, path, payload, issued_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &grant.token.as_str(),
                &grant.org_id.as_str(),
                &grant.user_id.as_str(),
                &grant.credential_uuid.as_str(),
                &grant.request.method.as_str(),
                &grant.request.path,
                &grant.request.payload,
                &grant.issued_at.unix_millis(),
                &grant.used_at.map(Timestamp::unix_millis),
            ],
        )
        .await
        .map_err(StoreError::new)?;
        Ok(())
    }

    async fn find_user_action(
        &self,
        token: &UserActionToken,
    ) -> Result<Option<UserActionGrant>, StoreError> {
        let conn = self.connection().await?;
        let row = sql::query_opt(
            &conn,
            "SELECT org_id, user_id, credential_uuid, method, path, payload, \
             issued_at, used_at FROM user_actions WHERE token = $1",
            &[&token.as_str()],
        )
        .await
        .map_err(StoreError::new)?;
        row.map(|row| decode::user_action(token, &row)).transpose()
    }

    async fn spend_user_action(
        &self,
        token: &UserActionToken,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let conn = self.connection().await?;
        let spent = sql::execute(
            &conn,
            "UPDATE user_actions SET used_at = $1 WHERE token = $2 AND used_at IS NULL",
            &[&now.unix_millis(), &token.as_str()],
        )
        .await
        .map_err(StoreError::new)?;
        Ok(spent == 1)
    }

    async fn use_nonce(&self, nonce: &str, expires_at: Timestamp) -> Result<bool, StoreError> {
        // The primary key decides: a concurrent insert of the same nonce
        // waits for the first, then adds no row.
        let conn = self.connection().await?;
        let recorded = sql::execute(
            &conn,
            "INSERT INTO nonces (nonce, expires_at) VALUES ($1, $2) \
             ON CONFLICT (nonce) DO NOTHING",
            &[&nonce, &expires_at.unix_millis()],
        )
        .await
        .map_err(StoreError::new)?;
        Ok(recorded == 1)
    }
}
