//! The HTTP API of orgusers, on axum.
