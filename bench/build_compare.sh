#!/bin/sh
# build_compare.sh - this build against an earlier one, side by side: the
# two speed figures a change must not lower.
#
#   bench/build_compare.sh BASE_BUILD [ROUNDS]
#
# BASE_BUILD is the build folder of an earlier commit (e.g. made with
# `git worktree add /tmp/base <commit> && cmake -S /tmp/base -B
# /tmp/base/build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build
# /tmp/base/build`).  Cases, each run ROUNDS times (default 3) in rotation
# base, this, spawn loop, xargs, so that a noisy neighbour hurts all alike;
# medians are reported:
#
# 1. local: 3,000 `true` tasks at -j2 through `banyan run` with its
#    database and --joblog (bench/local_spawn.sh's case), against
#    bench/spawn_loop and xargs -P2;
# 2. noop: `submit --array 1-N --wait -- true` through a server and two
#    `worker --noop` on TCP loopback (bench/cluster_bench.sh case 1), N =
#    BENCH_COMPARE_NOOP (default 1,000,000).
#
# Each build talks only to its own server and workers (protocol versions
# may differ).  Output: one line per median, then the ratios.
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/build_compare.sh BASE_BUILD [ROUNDS]" >&2; exit 2; }
base=$(cd "$1" && pwd)/banyan
rounds=${2:-3}
this=$PWD/build/banyan
loop=$PWD/build/bench/spawn_loop
ntrue=3000
nnoop=${BENCH_COMPARE_NOOP:-1000000}
for tool in "$base" "$this" "$loop"; do
    [ -x "$tool" ] || { echo "build_compare: $tool missing" >&2; exit 2; }
done
work=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
since() { awk "BEGIN { printf \"%.3f\", $(now) - $1 }"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

local_true() { # TOOL: seconds for the local case
    rm -f "$work"/db* "$work/jl"
    t0=$(now)
    case $1 in
    loop) "$loop" "$ntrue" 2 true 17 >/dev/null 2>&1 ;;
    xargs) seq "$ntrue" | xargs -P2 -n1 true 17 >/dev/null 2>&1 ;;
    *) "$1" run -j2 --db "$work/db" --joblog "$work/jl" -- true 17 \
           ::: $(seq "$ntrue") >/dev/null 2>&1 ;;
    esac
    since "$t0"
}

noop() { # BANYAN: seconds for the noop case
    b=$1
    rm -rf "$work/s"
    mkdir "$work/s"
    "$b" server --listen tcp://127.0.0.1:0 --db "$work/s/s.db" \
        >"$work/s/s.log" 2>&1 &
    s=$!
    pids="$pids $s"
    ep=
    i=0
    while [ -z "$ep" ] && [ $i -lt 100 ]; do
        sleep 0.1
        ep=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/s/s.log")
        i=$((i + 1))
    done
    [ -n "$ep" ] || { echo "build_compare: no server" >&2; exit 3; }
    "$b" worker --server "$ep" --name w0 --noop >/dev/null 2>&1 &
    w0=$!
    "$b" worker --server "$ep" --name w1 --noop >/dev/null 2>&1 &
    w1=$!
    pids="$pids $w0 $w1"
    i=0
    until "$b" status --server "$ep" --json | grep -q '"engines":2'; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "build_compare: no workers" >&2; exit 3; }
        sleep 0.1
    done
    t0=$(now)
    "$b" submit --server "$ep" --array "1-$nnoop" --wait -- true >/dev/null
    since "$t0"
    kill "$w0" "$w1" "$s" 2>/dev/null || true
    wait "$w0" "$w1" "$s" 2>/dev/null || true
}

r=0
while [ $r -lt "$rounds" ]; do
    for t in base this loop xargs; do
        case $t in base) x=$base ;; this) x=$this ;; *) x=$t ;; esac
        echo "$(local_true "$x")" >>"$work/local.$t"
    done
    echo "$(noop "$base")" >>"$work/noop.base"
    echo "$(noop "$this")" >>"$work/noop.this"
    r=$((r + 1))
done

for t in base this loop xargs; do
    s=$(median <"$work/local.$t")
    echo "build_compare case=local tool=$t tasks=$ntrue seconds=$s tasks_per_s=$(awk "BEGIN { printf \"%.0f\", $ntrue / $s }")"
done
for t in base this; do
    s=$(median <"$work/noop.$t")
    echo "build_compare case=noop tool=$t tasks=$nnoop seconds=$s tasks_per_s=$(awk "BEGIN { printf \"%.0f\", $nnoop / $s }")"
done
lb=$(median <"$work/local.base") lt=$(median <"$work/local.this")
ll=$(median <"$work/local.loop") lx=$(median <"$work/local.xargs")
nb=$(median <"$work/noop.base") nt=$(median <"$work/noop.this")
awk "BEGIN {
    printf \"build_compare ratio case=local this/base=%.2f this/loop=%.2f this/xargs=%.2f base/loop=%.2f\\n\", $lb / $lt, $ll / $lt, $lx / $lt, $ll / $lb
    printf \"build_compare ratio case=noop this/base=%.2f\\n\", $nb / $nt
}"
