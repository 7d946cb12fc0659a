#!/usr/bin/env bash
# Runs weft-router's fuzz targets one after the other, each for SECONDS
# (default 300), one libFuzzer job at a time. Installs cargo-fuzz if it is
# missing. Not run by CI; see README.md.
#
#   router/fuzz/run.sh [SECONDS] [TARGET...]
#
# Works on stable Rust: RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's
# `-Zsanitizer` flag. SANITIZER=none skips AddressSanitizer (the code under
# test has no unsafe; it only costs speed). Set CARGO_TARGET_DIR to build
# elsewhere than router/fuzz/target.
set -euo pipefail

seconds="${1:-300}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(host pattern)
fi

cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s"
    # Seeds and what earlier runs found; new entries land here too.
    mkdir -p "corpus/$target"
    cargo fuzz run --debug-assertions --sanitizer "${SANITIZER:-address}" --jobs 1 \
        "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1
done
