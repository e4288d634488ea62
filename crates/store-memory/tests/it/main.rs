//! Tests of the in-memory store against the promises of the ports.

mod callers;
mod credentials;
mod one_time;
mod permissions;
mod support;
mod users;
