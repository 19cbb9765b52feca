#!/bin/sh
# cluster_bench.sh - cluster mode benchmarks (issue 4), each against its
# peer in the same run.
#
#   bench/cluster_bench.sh [ROUNDS]          (make bench-cluster)
#
# 1. Scheduler throughput: `banyan submit --array 1-1000000 --wait -- true`
#    through `banyan server` and two `banyan worker --noop` (their default
#    100,000 slots) over TCP loopback: tasks/s from submit to the last result
#    recorded (submit --wait returns once the job's last result is
#    committed).  Peer: Dask distributed (Debian python3-distributed),
#    LocalCluster(n_workers=2, threads_per_worker=1, processes=True), 20,000
#    no-op tasks with client.map + gather, timed from map to gather.
# 2. Real processes: 20,000 `true` tasks through the server and two real
#    workers (default slots: their cpus) against bench/spawn_loop with J =
#    the workers' total slots, running the same command line (`true 1`).
# 3. Memory: the server's RSS with a 10,000,000-task array queued and two
#    workers attached.  The workers (1 slot each) are kept busy by a
#    higher-priority job of two `sleep` tasks, so the array sits in the
#    scheduler's queue, feasible and pending, while RSS is read from
#    /proc/PID/status (VmRSS) before and after it is submitted.
#
# Cases 1 and 2 run ROUNDS times (default 3) in rotation with their peer;
# medians are reported.  Output: one line per measurement
# ("bench=NAME tool=T tasks=N seconds=S tasks_per_s=R"), then the ratios
# ("ratio ...").  Nothing is left running: every process started is killed
# on exit.
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-3}
build=${BANYAN_BUILD:-build}
banyan=$PWD/$build/banyan
loop=$PWD/$build/bench/spawn_loop
python=/usr/bin/python3
N1=${BENCH_CLUSTER_TASKS:-1000000}
NDASK=${BENCH_CLUSTER_DASK_TASKS:-20000}
N2=${BENCH_CLUSTER_REAL_TASKS:-20000}
NMEM=${BENCH_CLUSTER_QUEUED:-10000000}
for tool in "$banyan" "$loop"; do
    [ -x "$tool" ] || { echo "cluster_bench: build first ($tool missing)" >&2; exit 2; }
done
work=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do
        kill -9 "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk "BEGIN { printf \"%.3f\\n\", $2 - $1 }"; }
rate() { awk "BEGIN { printf \"%.0f\", $1 / $2 }"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# start_server: a fresh server on tcp://127.0.0.1:0; sets EP and SPID.
start_server() {
    rm -rf "$work/s.db"* "$work/s.log"
    "$banyan" server --listen tcp://127.0.0.1:0 --db "$work/s.db" \
        >"$work/s.log" 2>&1 &
    SPID=$!
    pids="$pids $SPID"
    EP=
    i=0
    while [ -z "$EP" ] && [ $i -lt 100 ]; do
        sleep 0.1
        EP=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/s.log")
        i=$((i + 1))
    done
    [ -n "$EP" ] || { echo "cluster_bench: no server" >&2; cat "$work/s.log" >&2; exit 3; }
}

# start_workers N OPTION...: N workers; waits until all have joined.
start_workers() {
    nw=$1
    shift
    WPIDS=""
    k=0
    while [ $k -lt "$nw" ]; do
        "$banyan" worker --server "$EP" --name "w$k" "$@" \
            >"$work/w$k.log" 2>&1 &
        WPIDS="$WPIDS $!"
        pids="$pids $!"
        k=$((k + 1))
    done
    i=0
    while [ $i -lt 100 ]; do
        e=$("$banyan" status --server "$EP" --json |
            grep -o '"engines":[0-9]*' | head -1 | cut -d: -f2)
        [ "$e" = "$nw" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "cluster_bench: workers did not join" >&2
    exit 3
}

stop_all() {
    for p in $WPIDS $SPID; do
        kill "$p" 2>/dev/null || true
    done
    for p in $WPIDS $SPID; do
        wait "$p" 2>/dev/null || true
    done
}

# banyan_array N OPTION...: seconds for `submit --array 1-N --wait -- true`.
banyan_array() {
    ntasks=$1
    shift
    start_server
    start_workers 2 "$@"
    t0=$(now)
    "$banyan" submit --server "$EP" --array "1-$ntasks" --wait -- true \
        >/dev/null
    t1=$(now)
    stop_all
    elapsed "$t0" "$t1"
}

cat >"$work/dask_noop.py" <<'EOF'
import sys, time
from dask.distributed import Client, LocalCluster

def noop(x):
    return x

if __name__ == "__main__":
    n = int(sys.argv[1])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.gather(client.map(noop, range(100), pure=False))  # warm up
        t0 = time.perf_counter()
        futures = client.map(noop, range(n), pure=False)
        client.gather(futures)
        print("%.3f" % (time.perf_counter() - t0))
EOF

have_dask=0
"$python" -c 'import dask.distributed' 2>/dev/null && have_dask=1
[ $have_dask = 1 ] ||
    echo "cluster_bench: no Dask (install python3-distributed); skipping it" >&2

# ------------------------------------------------------------ 1 and 2

r=0
while [ $r -lt "$rounds" ]; do
    banyan_array "$N1" --noop >>"$work/noop.s"
    if [ $have_dask = 1 ]; then
        "$python" "$work/dask_noop.py" "$NDASK" 2>/dev/null |
            tail -1 >>"$work/dask.s"
    fi
    banyan_array "$N2" >>"$work/real.s"
    slots=$(($(nproc) * 2))
    t0=$(now)
    "$loop" "$N2" "$slots" true 1 >/dev/null
    t1=$(now)
    elapsed "$t0" "$t1" >>"$work/loop.s"
    r=$((r + 1))
done

s=$(median <"$work/noop.s")
noop_rate=$(rate "$N1" "$s")
echo "bench=throughput tool=banyan-noop tasks=$N1 seconds=$s tasks_per_s=$noop_rate"
if [ $have_dask = 1 ]; then
    s=$(median <"$work/dask.s")
    dask_rate=$(rate "$NDASK" "$s")
    echo "bench=throughput tool=dask tasks=$NDASK seconds=$s tasks_per_s=$dask_rate"
fi
s=$(median <"$work/real.s")
real_rate=$(rate "$N2" "$s")
echo "bench=real tool=banyan-2-workers tasks=$N2 slots=$slots seconds=$s tasks_per_s=$real_rate"
s=$(median <"$work/loop.s")
loop_rate=$(rate "$N2" "$s")
echo "bench=real tool=spawn_loop tasks=$N2 jobs=$slots seconds=$s tasks_per_s=$loop_rate"

# ------------------------------------------------------------------ 3

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

start_server
start_workers 2 --slots 1
"$banyan" submit --server "$EP" --priority 10 --array 1-2 -- sleep 300 >/dev/null
sleep 1
rss0=$(rss_kb "$SPID")
"$banyan" submit --server "$EP" --array "1-$NMEM" -- true >/dev/null
sleep 1
rss1=$(rss_kb "$SPID")
pending=$("$banyan" status --server "$EP" --json |
    grep -o '"pending":[0-9]*' | cut -d: -f2 | sort -n | tail -1)
stop_all
echo "bench=memory queued=$pending rss_before_kb=$rss0 rss_kb=$rss1" \
     "bytes_per_queued_task=$(awk "BEGIN { printf \"%.4f\", ($rss1 - $rss0) * 1024 / $NMEM }")"

# ------------------------------------------------------------- ratios

if [ $have_dask = 1 ]; then
    echo "ratio throughput banyan/dask=$(awk "BEGIN { printf \"%.1f\", $noop_rate / $dask_rate }") (target >= 25; banyan target >= 100000 tasks/s)"
fi
echo "ratio real banyan/spawn_loop=$(awk "BEGIN { printf \"%.2f\", $real_rate / $loop_rate }") (target >= 0.8)"
echo "ratio memory rss_mb=$(awk "BEGIN { printf \"%.1f\", $rss1 / 1024 }") (target <= 200)"
