//! [`SecretStore`] on SQLite: the server's own secrets, written once and
//! shared by every process that opens the database.

use async_trait::async_trait;
use ports::{SecretStore, StoreError};
use sqlx::Row;

use crate::SqliteStore;

/// The name the login-token signing key is stored under.
const TOKEN_SIGNING_KEY: &str = "token_signing_key";

#[async_trait]
impl SecretStore for SqliteStore {
    async fn token_signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        // The first candidate stored wins; later ones are dropped, so every
        // process reads back the same key.
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(TOKEN_SIGNING_KEY)
        .bind(candidate)
        .execute(&self.pool)
        .await
        .map_err(StoreError::new)?;

        let row = sqlx::query("SELECT value FROM secrets WHERE name = ?")
            .bind(TOKEN_SIGNING_KEY)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::new)?;
        row.try_get("value").map_err(StoreError::new)
    }
}
