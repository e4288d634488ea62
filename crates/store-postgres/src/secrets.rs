//! [`SecretStore`] on PostgreSQL: the server's own secrets, written once and
//! shared by every process that uses the database.

use async_trait::async_trait;
use ports::{SecretStore, StoreError};

use crate::PostgresStore;
use crate::decode;
use crate::sql;

/// The name the login-token signing key is stored under.
const TOKEN_SIGNING_KEY: &str = "token_signing_key";

#[async_trait]
impl SecretStore for PostgresStore {
    async fn token_signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        let conn = self.connection().await?;

        // The first candidate stored wins; a concurrent insert waits for it
        // and then does nothing. The select that follows is a statement of
        // its own, so it sees whichever row was committed first.
        sql::execute(
            &conn,
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&TOKEN_SIGNING_KEY, &candidate],
        )
        .await
        .map_err(StoreError::new)?;

        let row = sql::query_opt(
            &conn,
            "SELECT value FROM secrets WHERE name = $1",
            &[&TOKEN_SIGNING_KEY],
        )
        .await
        .map_err(StoreError::new)?
        .ok_or_else(|| decode::corrupt("secrets", "the signing key vanished"))?;
        decode::get(&row, "value")
    }
}
