#!/usr/bin/env bash
# The one test command: makes sure redis-server is there, runs every test,
# then runs the examples.
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

# The examples run as a user runs them: the quickstart, the periodic tasks
# and the durable order on the memory engine, the Redis quickstart and the
# durable order against a server of its own, stopped on exit.
run_example() {
    echo "== cargo run --example $1"
    cargo run -q --features ork/dashboard --example "$1"
}
run_example quickstart
run_example periodic
run_example durable

redis_bin="${ORK_REDIS_SERVER:-redis-server}"
redis_dir="$(mktemp -d)"
redis_pid=""
stop_redis() {
    if [[ -n "$redis_pid" ]]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$redis_dir"
}
trap stop_redis EXIT
# A port that is taken makes the server exit at once: try the next one.
for port in $(seq 16380 16480); do
    "$redis_bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$redis_dir" >"$redis_dir/log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 100); do
        grep -q "Ready to accept connections" "$redis_dir/log" && break 2
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
done
if [[ -z "$redis_pid" ]]; then
    echo "could not start $redis_bin for the redis example:" >&2
    cat "$redis_dir/log" >&2
    exit 1
fi
ORK_REDIS_URL="redis://127.0.0.1:$port" run_example redis
ORK_REDIS_URL="redis://127.0.0.1:$port" run_example durable
