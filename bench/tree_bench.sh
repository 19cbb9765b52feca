#!/bin/bash
# tree_bench.sh - the scheduler tree's benchmarks (issue 6), each with its
# peer or its floor in the same run.
#
#   bench/tree_bench.sh [--quick]          (make bench-tree)
#
# Every banyan cluster is `banyan launch --engines N --endpoint-file F`
# (a server and N real workers on this machine, over TCP loopback), in
# two modes: "tree" (the server's own fan-out, or --fanout
# $BENCH_TREE_FANOUT) and "flat" (--fanout N: every worker attaches to the
# root).  All engines share this machine's cores, so a tree cannot cut the
# total work here; what it cuts is the root's work (benchmark 2) and,
# between hosts, the root's link (benchmark 3).
#
# 1. Broadcast latency, median of REPS (20) after 2 warm-ups, at 16, 64
#    and 256 engines: (a) a broadcast with no command (every engine
#    acknowledges, nothing is spawned) and (b) the same with the command
#    `true`, timed by bench/bcast_loop: one connected client, from its
#    request to the answer, as ipyparallel's apply_sync is timed (the
#    root's own "ms" is printed next to it).  The no-op is also timed as
#    `banyan broadcast --json` commands from the shell ("noop-cli": exec
#    and connect included).  Peers at 16 and 64 engines: ipyparallel 7.1
#    (bench/ipp_bench.py), coalescing BroadcastView and DirectView applying
#    an empty function, median of REPS.  Floor for (b): N x the per-spawn
#    cost of bench/spawn_loop (local_spawn's loop) running `true` at
#    -j CORES, divided by CORES, i.e. N x its wall time per task, measured
#    just before each (b) on the same, idle, cluster.
# 2. Root load per broadcast: the root's messages and bytes sent and
#    received (`banyan status --tree --json`, the root's counters) and its
#    CPU time (/proc/PID/task/*/schedstat of the server, ns), over CREPS
#    no-op broadcasts, minus the same counters over an idle interval of the
#    same length (heartbeats, summaries and the status call itself), divided
#    by CREPS (500).  And each worker's idle memory after the broadcasts
#    (VmRSS, RssAnon, and PSS from smaps_rollup: VmRSS counts the shared
#    libraries' pages in every process), next to an ipyparallel engine's
#    (read by ipp_bench.py).
#
# 5. Simulation against production (issue 12): bench/sim_vs_prod.sh 64 4
#    TASKS (BENCH_TREE_SIM_TASKS, 50,000): `banyan launch --engines 64
#    --fanout 4 --noop` and a job of TASKS noop tasks against bench/simulate
#    at the same shape; the root's messages per task, sent and received,
#    per type and in all (heartbeats apart), within 20%.
#
# BENCH_TREE_PARTS="1 3 4 5" picks benchmarks (1 includes 2);
# BENCH_TREE_SIZES, BENCH_TREE_IPP_SIZES, BENCH_TREE_FANOUT and
# BENCH_TREE_DEDUP_{ENGINES,TASKS,MB} change the sizes.
# 3. Between hosts: bench/netns_bench.sh (8 network namespaces, 1 Gbit/s
#    links, 32 engines, a 20 MB blob; tree against flat).
# 4. Payload dedup: `banyan submit --stdin-blob FILE --array 1-1000 --wait
#    -- sh -c 'wc -c >/dev/null'` of a 50 MB FILE on 64 engines: the bytes
#    the root sent (its counters, before and after) against the naive
#    1,000 x 50 MB, tree and flat.
#
# --quick: 16 and 64 engines, 5 repetitions, 50 broadcasts for the
# counters, ipyparallel at 16 only, one netns round.  Output: one parseable line per measurement ("bench=..."),
# then one line per target ("(a) 64 engines: ... ratio R (target <= T)").
# A banyan command that does not work gives "banyan side unavailable:
# <reason>" for that benchmark, never a made-up figure.  Nothing is left
# running: every process started is stopped on exit, Ctrl-C included.
set -eu
export LC_ALL=C
cd "$(dirname "$0")/.."
build=${BANYAN_BUILD:-build}
banyan=$PWD/$build/banyan
loop=$PWD/$build/bench/spawn_loop
bloop=$PWD/$build/bench/bcast_loop
zfloor=$PWD/$build/bench/zmq_floor
python=/usr/bin/python3
quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ $quick = 1 ]; then
    SIZES="16 64" REPS=5 CREPS=50 IPP_SIZES="16"
else
    SIZES="16 64 256" REPS=20 CREPS=500 IPP_SIZES="16 64"
fi
SIZES=${BENCH_TREE_SIZES:-$SIZES}
IPP_SIZES=${BENCH_TREE_IPP_SIZES:-$IPP_SIZES}
TREE_FANOUT=${BENCH_TREE_FANOUT:-}
DEDUP_MB=${BENCH_TREE_DEDUP_MB:-50}
DEDUP_TASKS=${BENCH_TREE_DEDUP_TASKS:-1000}
DEDUP_ENGINES=${BENCH_TREE_DEDUP_ENGINES:-64}
# Which benchmarks run: 1 (with 2, on the same clusters), 3, 4.
PARTS=${BENCH_TREE_PARTS:-1 3 4 5}
SIM_TASKS=${BENCH_TREE_SIM_TASKS:-50000}
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
cores=$(nproc)
for tool in "$banyan" "$loop" "$bloop"; do
    [ -x "$tool" ] || { echo "tree_bench: build first ($tool missing)" >&2; exit 2; }
done
# 256 workers and their sockets: more descriptors than the usual 1024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
pids=""
cleanup() {
    # launch and ipp_bench.py stop their own children on SIGTERM; SIGKILL
    # only what is still there after 10 s (launch's children also get
    # SIGTERM from the kernel then: PR_SET_PDEATHSIG).
    for p in $pids; do
        kill -TERM "$p" 2>/dev/null || true
    done
    i=0
    for p in $pids; do
        while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
json_num() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# rec KEY VALUE: remember a figure for the ratio lines.
rec() { echo "$2" >"$work/fig.$1"; }
fig() { cat "$work/fig.$1" 2>/dev/null || true; }
unavailable() { echo "bench=$1 banyan side unavailable: $2"; }

# ---------------------------------------------------------------- launch

# start_launch N MODE: a server and N workers; sets EP, LPID, SPID, WPIDS,
# or returns 1 with the reason in $why.
start_launch() {
    n=$1 mode=$2
    rm -f "$work/ep"
    set -- --engines "$n" --ready-timeout 180s --endpoint-file "$work/ep"
    if [ "$mode" = flat ]; then
        set -- "$@" --fanout "$n"
    elif [ -n "$TREE_FANOUT" ]; then
        set -- "$@" --fanout "$TREE_FANOUT"
    fi
    "$banyan" launch "$@" >"$work/launch.log" 2>&1 &
    LPID=$!
    pids="$pids $LPID"
    i=0
    while [ ! -s "$work/ep" ]; do
        if ! kill -0 "$LPID" 2>/dev/null || [ $i -ge 2000 ]; then
            why="launch --engines $n ($mode): $(tail -c 300 "$work/launch.log" | tr '\n' ' ')"
            stop_launch
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    EP=$(cat "$work/ep")
    SPID="" WPIDS=""
    while read -r pid args; do
        case $args in
            *" server "*) SPID=$pid ;;
            *" worker "*) WPIDS="$WPIDS $pid" ;;
        esac
    done < <(ps -o pid=,args= --ppid "$LPID")
}

stop_launch() {
    kill -TERM "$LPID" 2>/dev/null || true
    wait "$LPID" 2>/dev/null || true
    pids=${pids/ $LPID/}
}

# latency N MODE CASE [CMD...]: 2 warm-ups and REPS broadcasts from one
# connected client (bench/bcast_loop); records the medians.
latency() {
    n=$1 mode=$2 case=$3
    shift 3
    if ! "$bloop" "$EP" 2 "$REPS" "$@" >"$work/lat" 2>"$work/lat.err" ||
        [ "$(grep -c "ok=$n " "$work/lat")" != "$REPS" ]; then
        unavailable "latency case=$case engines=$n tool=banyan-$mode" \
            "broadcast: $(cat "$work/lat" "$work/lat.err" | grep -v "ok=$n " | head -c 300 | tr '\n' ' ')"
        return 0
    fi
    wall=$(sed 's/.*wall_ms=\([0-9.]*\).*/\1/' "$work/lat" | median)
    ms=$(sed 's/.*root_ms=\([0-9.]*\).*/\1/' "$work/lat" | median)
    rec "lat.$case.$mode.$n" "$wall"
    echo "bench=latency case=$case tool=banyan-$mode engines=$n fanout=$FANOUT" \
         "reps=$REPS median_ms=$wall root_ms=$ms"
}

# cli_latency N MODE: REPS no-op `banyan broadcast --json` commands, timed
# from the shell (exec and connect included).
cli_latency() {
    n=$1 mode=$2
    : >"$work/cli"
    r=0
    while [ $r -lt "$REPS" ]; do
        t0=$EPOCHREALTIME
        "$banyan" broadcast --server "$EP" --json >"$work/b.out" 2>&1 || true
        t1=$EPOCHREALTIME
        grep -q "\"ok\":$n[,}]" "$work/b.out" || {
            unavailable "latency case=noop-cli engines=$n tool=banyan-$mode" \
                "banyan broadcast: $(head -c 300 "$work/b.out" | tr '\n' ' ')"
            return 0
        }
        calc %.3f "($t1 - $t0) * 1000" >>"$work/cli"
        echo >>"$work/cli"
        r=$((r + 1))
    done
    wall=$(median <"$work/cli")
    rec "lat.cli.$mode.$n" "$wall"
    echo "bench=latency case=noop-cli tool=banyan-$mode engines=$n" \
         "fanout=$FANOUT reps=$REPS median_ms=$wall"
}

# root_counters: "sent received bytes_out bytes_in fanout depth
# root_children max_children" from status --tree --json (fanout: the
# server's setting; the children: the tree as it is, the most children of
# any node being its real k); nothing when there is no tree.
root_counters() {
    "$banyan" status --server "$EP" --tree --json 2>/dev/null | "$python" -c '
import collections, json, sys
d = json.load(sys.stdin)
t = d.get("tree", d)
r = t["root"]
kids = collections.Counter(n.get("parent") for n in t.get("nodes", []))
kids.pop(None, None)
print(r["sent"], r["received"], r["bytes_out"], r["bytes_in"],
      t.get("fanout", "?"), t.get("depth", "?"), kids.get(0, 0),
      max(kids.values(), default=0))' 2>/dev/null || true
}

# cpu_ns PID: CPU time of every thread of PID, in ns.
cpu_ns() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# snapshot: root counters and CPU, one line.
snapshot() { echo "$(root_counters) $(cpu_ns "$SPID")"; }

# root_load N MODE: CREPS no-op broadcasts minus an idle interval.
root_load() {
    n=$1 mode=$2
    s0=$(snapshot)
    if [ "$(echo "$s0" | wc -w)" -lt 9 ]; then
        unavailable "rootload engines=$n tool=banyan-$mode" \
            "status --tree --json gave no root counters: $("$banyan" status --server "$EP" --tree --json 2>&1 | head -c 300 | tr '\n' ' ')"
        return 0
    fi
    t0=$EPOCHREALTIME
    "$bloop" "$EP" 0 "$CREPS" >/dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    s1=$(snapshot)
    sleep "$(calc %.3f "$t1 - $t0")"
    s2=$(snapshot)
    # Per broadcast: (s1 - s0) - (s2 - s1), over CREPS.
    read -r sent recv bout bin cpu_ms fo depth rootch maxch < <(echo "$s0 $s1 $s2" |
        awk -v c="$CREPS" '{
        for (i = 1; i <= 4; i++) d[i] = (($(i + 9) - $i) - ($(i + 18) - $(i + 9))) / c
        cpu = (($18 - $9) - ($27 - $18)) / c / 1e6
        printf "%.1f %.1f %.0f %.0f %.3f %s %s %s %s\n", d[1], d[2], d[3], d[4], cpu,
            $14, $15, $16, $17
    }')
    rec "load.msgs.$mode.$n" "$(calc %.1f "$sent + $recv")"
    rec "load.cpu.$mode.$n" "$cpu_ms"
    rec "load.fanout.$mode.$n" "$fo"
    rec "load.rootch.$mode.$n" "$rootch"
    rec "load.maxch.$mode.$n" "$maxch"
    echo "bench=rootload tool=banyan-$mode engines=$n fanout=$fo depth=$depth" \
         "root_children=$rootch max_children=$maxch" \
         "broadcasts=$CREPS sent=$sent received=$recv bytes_out=$bout" \
         "bytes_in=$bin cpu_ms=$cpu_ms"
}

# mem_kb PID: "VmRSS RssAnon Pss" in kB (Pss: shared pages divided among
# the processes that map them, from smaps_rollup).
mem_kb() {
    awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { printf "%s %s ", r, a }' \
        "/proc/$1/status" 2>/dev/null || return 0
    awk '/^Pss:/ { p = $2 } END { print p }' "/proc/$1/smaps_rollup" 2>/dev/null || echo
}

# worker_rss N MODE: the workers' idle memory: median and max of each figure.
worker_rss() {
    n=$1 mode=$2
    for p in $WPIDS; do mem_kb "$p"; done | awk 'NF == 3' >"$work/rss"
    [ -s "$work/rss" ] || return 0
    med() { cut -d' ' -f"$1" "$work/rss" | median; }
    max=$(cut -d' ' -f1 "$work/rss" | sort -n | tail -1)
    rec "rss.$mode.$n" "$max"
    rec "rssmed.$mode.$n" "$(med 1)"
    rec "pss.$mode.$n" "$(med 3)"
    echo "bench=rss tool=banyan-worker-$mode engines=$n workers=$(wc -l <"$work/rss")" \
         "median_kb=$(med 1) max_kb=$max median_anon_kb=$(med 2) median_pss_kb=$(med 3)"
    # The floor: a process that only opens a ZeroMQ socket (connecting to
    # a port nobody answers), measured while the workers run.
    if [ -x "$zfloor" ] && z=$("$zfloor" 2>/dev/null); then
        rec "zmq.rss.$n" "$(echo "$z" | sed 's/.*vmrss_kb=\([0-9]*\).*/\1/')"
        echo "bench=rss tool=zmq-socket-only engines=$n $z"
    fi
}

# worker_idle_cpu N MODE: the CPU all workers (their threads too) use
# while the cluster is idle, in cores, over 2 s.
worker_idle_cpu() {
    sum_cpu() { for p in $WPIDS; do cpu_ns "$p"; done | awk '{ s += $1 } END { printf "%.0f", s }'; }
    a=$(sum_cpu)
    sleep 2
    b=$(sum_cpu)
    echo "bench=idlecpu tool=banyan-workers-$2 engines=$1 seconds=2" \
         "cores=$(calc %.3f "($b - $a) / 2e9")"
}

# cluster N MODE: benchmarks 1 and 2 on one launched cluster.
cluster() {
    n=$1 mode=$2
    if ! start_launch "$n" "$mode"; then
        unavailable "latency,rootload engines=$n tool=banyan-$mode" "$why"
        return 0
    fi
    read -r _ _ _ _ FANOUT depth < <(root_counters; echo)
    FANOUT=${FANOUT:-?}
    # --fanout N keeps every engine below the root unless the topology
    # groups a host's engines below one of them (host affinity): say so.
    [ "$mode" = flat ] && [ -n "${depth:-}" ] && [ "$depth" != 1 ] &&
        echo "tree_bench: the flat cluster of $n engines has depth $depth" >&2
    latency "$n" "$mode" noop
    spawn_floor "$n" "$mode"
    latency "$n" "$mode" true true
    cli_latency "$n" "$mode"
    root_load "$n" "$mode"
    worker_rss "$n" "$mode"
    worker_idle_cpu "$n" "$mode"
    stop_launch
}

# ------------------------------------------------------------ spawn floor

# spawn_floor N MODE: one run of the loop (`true`, the command of (b)) at
# -j CORES, just before (b) on the same cluster (its workers idle), so that
# the floor sees the machine as the broadcasts do; records its wall time
# per task in ms for (N, MODE) and appends it to the list of all runs.
N_LOOP=2000
spawn_floor() {
    t0=$EPOCHREALTIME
    "$loop" "$N_LOOP" "$cores" true >/dev/null
    t1=$EPOCHREALTIME
    f=$(calc %.4f "($t1 - $t0) * 1000 / $N_LOOP")
    rec "floor.$2.$1" "$f"
    echo "$f" >>"$work/floor"
}

# ------------------------------------------------------ benchmarks 1 and 2

part 1 || SIZES=""
for n in $SIZES; do
    cluster "$n" tree
    cluster "$n" flat
    case " $IPP_SIZES " in
        *" $n "*)
            if "$python" -c 'import ipyparallel' 2>/dev/null; then
                "$python" bench/ipp_bench.py "$n" "$REPS" >"$work/ipp.out" 2>"$work/ipp.err" &
                IPID=$!
                pids="$pids $IPID"
                wait "$IPID" || echo "tree_bench: ipp_bench.py $n failed: $(tail -c 300 "$work/ipp.err")" >&2
                pids=${pids/ $IPID/}
                while read -r _ en view rest; do
                    case $view in
                        view=*) echo "bench=latency case=noop tool=ipp-${view#view=} $en $rest"
                                rec "ipp.${view#view=}.${en#engines=}" \
                                    "$(echo "$rest" | sed 's/.*median_ms=\([0-9.]*\).*/\1/')" ;;
                        engine_rss_kb=*) echo "bench=rss tool=ipp-engine $en $view $rest"
                                         rec "ipp.rss.${en#engines=}" "${view#engine_rss_kb=}"
                                         rec "ipp.pss.${en#engines=}" \
                                             "$(echo "$rest" | sed 's/.*engine_pss_kb=\([0-9]*\).*/\1/')" ;;
                    esac
                done <"$work/ipp.out"
            else
                echo "tree_bench: no ipyparallel (install python3-ipyparallel); skipping it" >&2
            fi ;;
    esac
done

if part 1 && [ -s "$work/floor" ]; then
    per_task_ms=$(median <"$work/floor")
    echo "bench=spawnfloor tool=spawn_loop tasks=$N_LOOP jobs=$cores" \
         "runs=$(wc -l <"$work/floor") median_ms_per_task=$per_task_ms" \
         "per_spawn_cost_ms=$(calc %.4f "$per_task_ms * $cores")" \
         "all_ms_per_task=$(paste -sd, "$work/floor")"
fi

# ---------------------------------------------------------- benchmark 3

if part 3; then
    BANYAN_BUILD=$build bench/netns_bench.sh $([ $quick = 1 ] && echo --quick) |
        tee "$work/netns.out"
fi

# ---------------------------------------------------------- benchmark 4

part 4 && head -c $((DEDUP_MB * 1000000)) /dev/urandom >"$work/payload"
for mode in $(part 4 && echo tree flat); do
    if ! start_launch "$DEDUP_ENGINES" "$mode"; then
        unavailable "dedup tool=banyan-$mode" "$why"
        continue
    fi
    c0=$(root_counters)
    if [ -z "$c0" ]; then
        unavailable "dedup tool=banyan-$mode" "status --tree --json gave no root counters"
        stop_launch
        continue
    fi
    t0=$EPOCHREALTIME
    if ! "$banyan" submit --server "$EP" --stdin-blob "$work/payload" \
        --array "1-$DEDUP_TASKS" --wait -- sh -c 'wc -c >/dev/null' \
        >"$work/submit.out" 2>&1; then
        unavailable "dedup tool=banyan-$mode" \
            "submit --stdin-blob: $(tail -c 300 "$work/submit.out" | tr '\n' ' ')"
        stop_launch
        continue
    fi
    t1=$EPOCHREALTIME
    c1=$(root_counters)
    read -r bout bin fo < <(echo "$c0 $c1" | awk '{ printf "%.0f %.0f %s\n", $11 - $3, $12 - $4, $13 }')
    rec "dedup.$mode" "$bout"
    echo "bench=dedup tool=banyan-$mode engines=$DEDUP_ENGINES fanout=$fo" \
         "tasks=$DEDUP_TASKS blob_mb=$DEDUP_MB seconds=$(calc %.2f "$t1 - $t0")" \
         "root_bytes_out=$bout root_bytes_in=$bin" \
         "naive_bytes=$((DEDUP_TASKS * DEDUP_MB * 1000000))"
    stop_launch
done

# ---------------------------------------------------------- benchmark 5

if part 5; then
    BANYAN_BUILD=$build bench/sim_vs_prod.sh 64 4 "$SIM_TASKS" \
        >"$work/simprod.out" 2>&1 || true
    cat "$work/simprod.out"
fi

# ------------------------------------------------------------- ratios

echo
# (a) against ipyparallel's coalescing BroadcastView.
for n in $IPP_SIZES; do
    b=$(fig "ipp.broadcast-coalescing.$n") d=$(fig "ipp.direct.$n")
    for mode in tree flat; do
        t=$(fig "lat.noop.$mode.$n") cli=$(fig "lat.cli.$mode.$n")
        [ -n "$t" ] && [ -n "$b" ] || continue
        echo "(a) $n engines: banyan $mode $t ms${cli:+ (command line $cli ms)}," \
             "ipyparallel BroadcastView $b ms (DirectView $d ms):" \
             "ratio $(calc %.3f "$t / $b") (target <= 0.1)"
    done
done
# (b) against the spawn floor.
for n in $SIZES; do
    for mode in tree flat; do
        t=$(fig "lat.true.$mode.$n") f=$(fig "floor.$mode.$n")
        [ -n "$t" ] && [ -n "$f" ] || continue
        floor=$(calc %.2f "$n * $f")
        echo "(b) $n engines: banyan $mode broadcast -- true $t ms, spawn floor" \
             "$floor ms: ratio $(calc %.2f "$t / $floor") (target <= 1.3)"
    done
done
# 2: root load, tree against flat.
for n in $SIZES; do
    mt=$(fig "load.msgs.tree.$n") mf=$(fig "load.msgs.flat.$n")
    ct=$(fig "load.cpu.tree.$n") cf=$(fig "load.cpu.flat.$n")
    # k: the most children any node of the tree has (the server's fanout
    # setting is printed beside it).
    k=$(fig "load.maxch.tree.$n") set=$(fig "load.fanout.tree.$n")
    rc=$(fig "load.rootch.tree.$n")
    [ -n "$mt" ] && [ -n "$mf" ] || continue
    case $k in
        ''|*[!0-9]*) bound="2k+2" mratio="" ;;
        *) bound="2k+2 = $((2 * k + 2))"
           mratio=" ratio $(calc %.2f "$mt / (2 * $k + 2)")" ;;
    esac
    echo "(2) $n engines: root messages per broadcast tree $mt (k=$k, root" \
         "children $rc, fanout setting $set), flat $mf:" \
         "${mratio# }${mratio:+ }(target tree <= $bound); root CPU tree $ct ms," \
         "flat $cf ms: ratio $(calc %.2f "$ct / ($cf > 0 ? $cf : 1e-9)") (target <= 0.2)"
done
ippr="" ippp=""
for n in $IPP_SIZES; do ippr=$(fig "ipp.rss.$n") ippp=$(fig "ipp.pss.$n"); done
for n in $SIZES; do
    r=$(fig "rss.tree.$n")
    [ -n "$r" ] || continue
    p=$(fig "pss.tree.$n")
    echo "(2) idle RSS, $n engines: banyan worker max $(calc %.1f "$r / 1024") MB" \
         "(median PSS $(calc %.1f "$p / 1024") MB)${ippr:+, ipyparallel engine $(calc %.1f "$ippr / 1024") MB (PSS $(calc %.1f "${ippp:-0} / 1024") MB) without its nanny}:" \
         "ratio $(calc %.2f "$r / 4096") (target <= 4 MB)"
    z=$(fig "zmq.rss.$n") m=$(fig "rssmed.tree.$n")
    [ -z "$z" ] || echo "(2) floor: a process that only opens one ZeroMQ socket" \
        "(bench/zmq_floor) has VmRSS $(calc %.1f "$z / 1024") MB here: libzmq and" \
        "the libraries it is built against; the median worker" \
        "($(calc %.1f "$m / 1024") MB) adds $(calc %.1f "($m - $z) / 1024") MB to it"
done
# 3: from netns_bench.sh.
if part 3; then
    grep '^ratio netns' "$work/netns.out" | sed 's/^ratio netns/(3)/' || true
    grep 'skipped' "$work/netns.out" | sed 's/^netns_bench:/(3)/' || true
fi
# 5: from sim_vs_prod.sh.
if part 5 && ! grep -q '^sim_vs_prod ' "$work/simprod.out"; then
    echo "(5) sim_vs_prod: $(tail -c 300 "$work/simprod.out" | tr '\n' ' ')"
elif part 5; then
    grep '^sim_vs_prod ' "$work/simprod.out" | awk '{
        for (i = 2; i <= NF; i++) { split($i, a, "="); f[a[1]] = a[2] }
        printf "(5) %d engines, fan-out %d, %d noop tasks: root messages per task" \
               " without heartbeats, sent %s (simulate %s), received %s (simulate %s):" \
               " ratios %s and %s (target 0.8-1.2)\n", f["engines"], f["fanout"],
               f["tasks"], f["prod_sent_per_task"], f["sim_sent_per_task"],
               f["prod_received_per_task"], f["sim_received_per_task"],
               f["ratio_sent"], f["ratio_received"] }'
fi
# 4: dedup.
naive=$((DEDUP_TASKS * DEDUP_MB * 1000000))
for mode in tree flat; do
    b=$(fig "dedup.$mode")
    [ -n "$b" ] || continue
    echo "(4) $DEDUP_TASKS tasks x $DEDUP_MB MB on $DEDUP_ENGINES engines: root sent" \
         "$(calc %.1f "$b / 1e6") MB with banyan $mode, naive $(calc %.0f "$naive / 1e6") MB:" \
         "ratio $(calc %.4f "$b / $naive")"
done
