//! Tests of the PostgreSQL store against a real database, one schema per
//! test. Without `ORGUSERS_TEST_POSTGRES_URL` each test says that it skips
//! and passes.

mod callers;
mod concurrency;
mod credentials;
mod fixtures;
mod one_time;
mod permissions;
mod schema;
mod users;
