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

# Start the machine's PostgreSQL cluster if it is not running (the tests also do this).
db-up:
    pg_isready -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start

# The web client end to end in headless Chromium (two people chatting).
e2e:
    cargo test -p chatty-server --test browser -- --nocapture

# The load benchmark on the in-memory store and on Postgres (release build; see docs/benchmark.md).
# Two builds, so that the server measured is the one deploy/Dockerfile ships: built in one
# invocation with the bench, it would share the bench's features (chatty-postgres `testing`).
bench *ARGS:
    cargo build --release -p chatty-server
    cargo build --release -p chatty-bench
    target/release/chatty-bench {{ARGS}}

# Build the container image.
docker:
    docker build -f deploy/Dockerfile -t chatty .

# The delivery soak, larger than in CI: no lost, duplicated or reordered event allowed.
soak clients="200" posters="8" seconds="60":
    SOAK_CLIENTS={{clients}} SOAK_POSTERS={{posters}} SOAK_SECONDS={{seconds}} cargo test -p chatty-server --test soak -- --nocapture
