//! SQLite adapters for orgusers' stores, the embedded default.
