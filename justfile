# Common tasks; `just --list` shows them. CI runs `.ci/run`, not just.

# The workspace's tests (the README's test command).
test:
    cargo test --workspace

# Formatting and clippy, as strict as CI would be.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The benchmarks, among them the load test of the server (about two
# minutes; `docs/benchmarks.md` says how the recorded runs were made).
bench:
    cargo bench --workspace

# The server on 127.0.0.1:8080, as the README runs it: the SQLite file and
# the admin's files in orgusers-data/.
run:
    cargo run --release -p orgusers -- serve --data-dir orgusers-data

# The official TypeScript SDK against a freshly built server.
interop:
    cargo test --workspace --no-run
    cd interop && npm ci && npm test

# What CI runs: tools, PostgreSQL, the tests and the interop test.
ci:
    bash .ci/run
