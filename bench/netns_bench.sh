#!/bin/bash
# netns_bench.sh - a 20 MB blob broadcast between "hosts" (issue 6,
# benchmark 3): tree against flat, side by side.
#
#   bench/netns_bench.sh [--quick]        (part of make bench-tree)
#
# The benchmark builds its own network: one bridge in the current network
# namespace and HOSTS + 1 namespaces (the root's host and HOSTS engine
# hosts), each joined to the bridge by a veth pair.  Each host's link is
# shaped to 1 Gbit/s both ways: `tc qdisc ... tbf rate 1gbit` on the
# host's end (its egress) and on the bridge's end (its ingress), like a
# full-duplex 1 Gbit NIC.  Loopback inside a host is not shaped.
#
# Each engine host also has its own host name (unshare --uts), as the root
# places the tree by host.  In the root's namespace: `banyan server --listen tcp://ADDR:0 --insecure`
# (off loopback, no CURVE: a private test network).  On each engine host:
# PER_HOST `banyan worker`s, each with `--relay-bind tcp://HOSTADDR:0`
# (flat: `--no-relay`) and its own `--cache`.  Once every engine has joined, the client, in the
# root's namespace, runs `banyan broadcast --blob FILE --json` with a fresh
# random FILE of MB megabytes (fresh, so that no cache holds it), and the
# time is the broadcast's own "ms" (from the root's start of the broadcast
# to the last engine's acknowledgement; the upload of the blob to the root,
# over the root host's loopback, comes before and is not counted; the
# client's wall time is printed too).
#
# Tree: the server with --fanout $BENCH_NETNS_FANOUT (default: its own
# choice).  Flat: --fanout larger than the engine count and workers with
# --no-relay (so that no host affinity can put one below another): every
# worker attaches to the root and the root's link carries one copy per
# engine.
# Each round starts both afresh, in rotation; medians over the rounds.
#
# Output: "bench=netns tool=banyan-tree|banyan-flat ..." lines, then
# "ratio netns tree/flat=R (target <= 0.35)".  Needs root (CAP_NET_ADMIN)
# and tc's tbf; otherwise prints "netns_bench: skipped: <reason>" and
# exits 0.  Everything it made (processes, namespaces, links) is removed
# on exit, Ctrl-C included.
set -eu
cd "$(dirname "$0")/.."
build=${BANYAN_BUILD:-build}
banyan=$PWD/$build/banyan
HOSTS=${BENCH_NETNS_HOSTS:-8}
PER_HOST=${BENCH_NETNS_PER_HOST:-4}
MB=${BENCH_NETNS_MB:-20}
ROUNDS=${BENCH_NETNS_ROUNDS:-3}
FANOUT=${BENCH_NETNS_FANOUT:-}
[ "${1:-}" = "--quick" ] && ROUNDS=1
ENGINES=$((HOSTS * PER_HOST))

[ -x "$banyan" ] || { echo "netns_bench: build first ($banyan missing)" >&2; exit 2; }

skip() {
    echo "netns_bench: skipped: $*"
    exit 0
}

# Names carry this shell's pid so that two runs do not collide; interface
# names stay under 16 characters.
tag=bt$(($$ % 100000))
subnet=10.213.$(($$ % 250))
br=${tag}br
nsr=${tag}-root
work=$(mktemp -d)
pids=""
made_ns=""
made_br=0
why=""

cleanup() {
    for p in $pids; do
        kill -9 "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    for ns in $made_ns; do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ $made_br = 1 ]; then
        ip link del "$br" 2>/dev/null || true
    fi
    # BENCH_NETNS_LOGS=DIR keeps the last round's logs (for debugging).
    if [ -n "${BENCH_NETNS_LOGS:-}" ]; then
        mkdir -p "$BENCH_NETNS_LOGS" && cp "$work"/*.log "$BENCH_NETNS_LOGS"/ 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || skip "not root (network namespaces need CAP_NET_ADMIN)"
command -v ip >/dev/null 2>&1 || skip "no ip command (install iproute2)"
command -v tc >/dev/null 2>&1 || skip "no tc command (install iproute2)"
err=$(ip link add "$br" type bridge 2>&1) || skip "cannot make a bridge: $err"
made_br=1
ip link set "$br" up

# add_host NS ADDR: a namespace joined to the bridge, link shaped to 1 Gbit/s.
add_host() {
    ns=$1 addr=$2
    v=${tag}v$3
    err=$(ip netns add "$ns" 2>&1) || skip "cannot make a network namespace: $err"
    made_ns="$made_ns $ns"
    ip link add "$v" type veth peer name "${v}b"
    ip link set "$v" netns "$ns"
    ip link set "${v}b" master "$br"
    ip link set "${v}b" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr add "$addr/24" dev "$v"
    ip netns exec "$ns" ip link set "$v" up
    # burst: 4 ms at 1 Gbit/s, enough for the timer resolution.
    err=$(ip netns exec "$ns" tc qdisc add dev "$v" root tbf rate 1gbit \
        burst 512kb latency 20ms 2>&1) || skip "tc tbf failed: $err"
    tc qdisc add dev "${v}b" root tbf rate 1gbit burst 512kb latency 20ms
}

add_host "$nsr" "$subnet.1" 0
h=1
while [ $h -le "$HOSTS" ]; do
    add_host "$tag-h$h" "$subnet.$((10 + h))" "$h"
    h=$((h + 1))
done

in_root() { ip netns exec "$nsr" "$@"; }

# start_server OPTION...: a fresh server in the root's namespace; sets EP.
start_server() {
    rm -rf "$work/s.db"* "$work/${mode}-s.log"
    ip netns exec "$nsr" "$banyan" server --listen "tcp://$subnet.1:0" --insecure \
        --db "$work/s.db" "$@" >"$work/${mode}-s.log" 2>&1 &
    SPID=$!
    pids="$pids $SPID"
    EP=
    i=0
    while [ -z "$EP" ] && [ $i -lt 100 ]; do
        sleep 0.1
        EP=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/${mode}-s.log")
        i=$((i + 1))
    done
    if [ -z "$EP" ]; then
        why="the server did not start: $(head -c 300 "$work/${mode}-s.log")"
        return 1
    fi
}

# engines_joined: the root's direct engines and, in a tree, the engines
# below each (the "subtree" of its entry), as banyan launch counts them.
engines_joined() {
    in_root "$banyan" status --server "$EP" --json 2>/dev/null |
        /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
n = sum(1 + e.get("subtree", {}).get("engines", 0) for e in d["engines"])
print(max(n, d["server"]["engines"]))' 2>/dev/null || true
}

# start_workers: PER_HOST workers on each engine host; waits for all.
start_workers() {
    WPIDS=""
    rm -rf "$work/cache"
    h=1
    while [ $h -le "$HOSTS" ]; do
        k=0
        while [ $k -lt "$PER_HOST" ]; do
            name=h$h-w$k
            mkdir -p "$work/cache/$name"
            # Each host has its own name (a UTS namespace): the root
            # places the tree by host names.
            ip netns exec "$tag-h$h" unshare --uts /bin/sh -c \
                'hostname "$0" && exec "$@"' "$tag-h$h" \
                "$banyan" worker --server "$EP" \
                --name "$name" --slots 1 --cache "$work/cache/$name" \
                $([ "$mode" = flat ] && echo --no-relay ||
                  echo --relay-bind "tcp://$subnet.$((10 + h)):0") \
                >"$work/${mode}-$name.log" 2>&1 &
            WPIDS="$WPIDS $!"
            pids="$pids $!"
            k=$((k + 1))
        done
        h=$((h + 1))
    done
    i=0
    while [ $i -lt 300 ]; do
        [ "$(engines_joined)" = "$ENGINES" ] && return 0
        # A worker that exited at once (say, an option it lacks) will not
        # join: stop waiting.
        first=${WPIDS# }
        first=${first%% *}
        if [ $i -ge 10 ] && ! kill -0 "$first" 2>/dev/null; then
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    why="$(engines_joined) of $ENGINES engines joined; a worker's log:"
    why="$why $(head -c 300 "$work/${mode}-h1-w0.log" | tr '\n' ' ')"
    return 1
}

stop_all() {
    for p in $WPIDS $SPID; do
        kill "$p" 2>/dev/null || true
    done
    for p in $WPIDS $SPID; do
        wait "$p" 2>/dev/null || true
    done
}

json_num() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# one_broadcast MODE OPTION...: one round; appends "ms wall_ms" to MODE.s.
one_broadcast() {
    mode=$1
    shift
    start_server "$@" || return 1
    start_workers || { stop_all; return 1; }
    head -c $((MB * 1000000)) /dev/urandom >"$work/blob"
    t0=$EPOCHREALTIME
    out=$(in_root "$banyan" broadcast --server "$EP" --blob "$work/blob" \
        --json 2>"$work/bcast.err") || {
        why="banyan broadcast --blob failed: $(head -c 300 "$work/bcast.err" | tr '\n' ' ')"
        stop_all
        return 1
    }
    t1=$EPOCHREALTIME
    ok=$(echo "$out" | json_num ok)
    ms=$(echo "$out" | json_num ms)
    if [ "$ok" != "$ENGINES" ] || [ -z "$ms" ]; then
        why="$mode: ${ok:-no} of $ENGINES engines acknowledged: $out"
        stop_all
        return 1
    fi
    # The fanout the root used and the bytes it sent (since it started:
    # the broadcast's and a few kB of heartbeats), from its counters.
    # And the busiest host link: the most tree edges that leave one host
    # (a parent whose child is on another host sends the blob over its
    # host's link once per such child; the root's host is ""); "-" when
    # the tree has no nodes (flat workers with --no-relay are not in it).
    read -r fo bout busy < <(in_root "$banyan" status --server "$EP" --tree \
        --json 2>/dev/null | /usr/bin/python3 -c '
import collections, json, sys
t = json.load(sys.stdin)
t = t.get("tree", t)
host = {n["node"]: n.get("host", "") for n in t["nodes"]}
out = collections.Counter(host[n["parent"]] for n in t["nodes"]
                          if n.get("parent") is not None
                          and host[n["parent"]] != host[n["node"]])
h, c = out.most_common(1)[0] if out else ("", "-")
print(t.get("fanout", "?"), t["root"]["bytes_out"], "%s:%s" % (c, h or "root"))' \
        2>/dev/null || echo "? ? ?")
    echo "${fo:-?}" >"$work/$mode.fanout"
    echo "${busy:-?}" >"$work/$mode.busy"
    echo "$ms $(awk "BEGIN { printf \"%.1f\", ($t1 - $t0) * 1000 }") ${bout:-?}" >>"$work/$mode.s"
    stop_all
}

flat_fanout=$((ENGINES + 1))
r=0
while [ $r -lt "$ROUNDS" ]; do
    if [ -n "$FANOUT" ]; then
        one_broadcast tree --fanout "$FANOUT" ||
            skip "banyan side unavailable: tree: $why"
    else
        one_broadcast tree || skip "banyan side unavailable: tree: $why"
    fi
    one_broadcast flat --fanout "$flat_fanout" ||
        skip "banyan side unavailable: flat: $why"
    r=$((r + 1))
done

for mode in tree flat; do
    ms=$(cut -d' ' -f1 "$work/$mode.s" | median)
    wall=$(cut -d' ' -f2 "$work/$mode.s" | median)
    echo "$ms" >"$work/$mode.med"
    bout=$(cut -d' ' -f3 "$work/$mode.s" | median)
    echo "bench=netns tool=banyan-$mode hosts=$HOSTS engines=$ENGINES" \
         "blob_mb=$MB fanout=$(cat "$work/$mode.fanout") rounds=$ROUNDS" \
         "ms=$ms client_wall_ms=$wall root_bytes_out=$bout" \
         "root_copies=$(awk "BEGIN { printf \"%.1f\", $bout / ($MB * 1000000) }")" \
         "busiest_link_copies=$(cut -d: -f1 "$work/$mode.busy")" \
         "busiest_link_host=$(cut -d: -f2 "$work/$mode.busy")"
done
tree=$(cat "$work/tree.med")
flat=$(cat "$work/flat.med")
echo "bench=netns floor: flat pushes $ENGINES copies through the root's link:" \
     "$(awk "BEGIN { printf \"%.0f\", $ENGINES * $MB * 8 }") ms at 1 Gbit/s"
echo "ratio netns $ENGINES engines, ${MB} MB blob: banyan tree $tree ms, flat $flat ms:" \
     "tree/flat=$(awk "BEGIN { printf \"%.2f\", $tree / $flat }") (target <= 0.35)"
