//! Tests of the SQLite store against real database files, one temporary
//! directory per test.

mod callers;
mod concurrency;
mod credentials;
mod fixtures;
mod one_time;
mod permissions;
mod schema;
mod users;
