#!/bin/sh
# Redis work per task, this tree against a baseline commit, in one run on one
# redis-server: builds the baseline's `redis` bench with this tree's
# benches/redis/cost.rs in it, then runs this tree's `cost` workload, which
# hands its server to the baseline's binary in turns (ORK_BENCH_BASELINE).
#
#   benches/compare.sh [baseline commit (default b08fb0f)] [baseline dir]
#
# The baseline's worktree (default ../base-<commit>) is created detached if
# missing. Its first release build is cold (several minutes). Only its bench
# harness is touched: the code it measures is the commit's.
# ORK_BENCH_COST_TASKS (default 200000) and ORK_BENCH_COST_REPS (default 3)
# pass through.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
commit=${1:-b08fb0f}
base=${2:-$here/../base-$commit}

if [ ! -d "$base" ]; then
    git -C "$here" worktree add --detach "$base" "$commit"
fi
mkdir -p "$base/benches/redis"
cp "$here/benches/redis/cost.rs" "$base/benches/redis/cost.rs"
bench="$base/benches/redis.rs"
if ! grep -q 'mod cost;' "$bench"; then
    # The module, and the entry used when ORK_BENCH_URL names a server.
    printf '\n#[path = "redis/cost.rs"]\nmod cost;\n' >>"$bench"
    sed -i 's/^fn main() {$/fn main() {\n    if std::env::var_os("ORK_BENCH_URL").is_some() {\n        cost::external();\n        return;\n    }/' "$bench"
fi

binary() {
    (cd "$1" && CARGO_INCREMENTAL=0 cargo bench --bench redis --no-run 2>&1) |
        sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n 1
}
base_bin=$(binary "$base")
case "$base_bin" in
/*) ;;
*) base_bin="$base/$base_bin" ;;
esac
echo "baseline bench: $base_bin" >&2
cd "$here"
ORK_BENCH_BASELINE="$base_bin" cargo bench --bench redis -- cost
