//! In-memory adapters for orgusers' stores.
