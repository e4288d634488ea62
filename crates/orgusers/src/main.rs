//! The orgusers server binary.

fn main() {}
