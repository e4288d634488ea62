//! The HTTP API end to end: the router over a service on real adapters
//! (in-memory store, aws-lc-rs signature checks, EdDSA login tokens), with
//! a clock the tests move. Each test builds its own app and calls the
//! router with `oneshot`; one test serves it on a real port.

mod archive;
mod bad_input;
mod credentials;
mod errors;
mod fido2;
mod guard;
mod harness;
mod in_flight;
mod lifecycle;
mod login;
mod nonce;
mod passkey;
mod permissions;
mod security;
mod served;
mod user_action;
mod users;
