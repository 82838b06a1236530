#!/usr/bin/env bash
# The one test command: makes sure redis-server is there, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${ORK_REDIS_SERVER:-}" ]] && ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing redis-server"
    sudo=""
    if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server
    else
        echo "redis-server not found and no apt-get: install it, or set ORK_REDIS_SERVER" >&2
        exit 1
    fi
fi
# The package may start a system server; the tests start their own.
# Benchmarks are not tests: `cargo bench` runs them.

if cargo nextest --version >/dev/null 2>&1; then
    echo "== cargo nextest run"
    cargo nextest run --workspace --features ork/dashboard --lib --bins --tests --examples --no-fail-fast
else
    echo "== cargo test"
    cargo test --workspace --features ork/dashboard --lib --bins --tests --examples --no-fail-fast
fi

echo "== cargo test --doc"
cargo test --workspace --features ork/dashboard --doc
