//! The test kit's lifecycle suite on the in-memory store: the real use
//! cases over `MemoryStore`, checked against the kit's reference model.

use store_memory::MemoryStore;

#[test]
fn the_memory_store_keeps_the_lifecycle_contract() {
    testkit::check_adapter(|| async { MemoryStore::new() }, testkit::Config::default());
}
