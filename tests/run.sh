#!/usr/bin/env bash
# The full test suite, as the README gives it: starts the real servers the
# tests use (LiteLLM, pgvector, moto; installs cached under ~/.cache), then
# runs every test of the workspace (the `weft` crate turns on the router's
# `dynamodb` feature, so its moto tests are among them) and of the node
# components.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/testbeds.sh start
eval "$(bash tests/testbeds.sh env)"

cargo test --workspace
cargo test --manifest-path nodes/Cargo.toml
