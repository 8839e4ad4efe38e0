# Recipes run exactly what CI runs (.ci/run), so green here means green in CI.

# Start the server in dev mode (in-memory store, mail written to the log).
run *ARGS:
    cargo run -- {{ARGS}}

# The whole test suite.
test:
    cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs.
ci:
    bash .ci/run
