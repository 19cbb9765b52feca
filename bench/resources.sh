#!/bin/sh
# resources.sh - the two benchmarks of issue 5 (make bench-resources).
#
# 1. Memory packing: 200 tasks that each touch a random 100-600 MiB (fixed
#    seed) and hold it for 0.5 s, on a machine budget of 4 GiB.  banyan
#    learns the group's estimate (no --mem; --mem-total 4G, a 1G default
#    until three tasks were measured, -j16 as the ceiling) against a fixed
#    -j chosen to be safe (4 GiB / 600 MiB -> 6) and an unsafe one (16), both
#    with xargs -P.  A watcher (bench/memhog watch) sums the resident memory
#    of all tasks every 20 ms; a task "hits the limit" when it was running
#    at a moment the sum was above 4 GiB.  One line per case: makespan and
#    the tasks that hit the limit.
# 2. Sharing: two banyan instances on one arbitration file, the second
#    started 5 s after the first, each wanting every core (-j4, tasks of
#    half a core on a 2-core budget: --share-cpus 2 --cpus 0.5, sleeping
#    0.2 s).  Prints each instance's concurrency every 0.5 s (from the task
#    records) and the two fairness checks of the issue: both at half within
#    2 s of the second start; the first back to all within 2 s of the
#    second end.
#
#   bench/resources.sh [pack|share]      (default: both)
set -eu
cd "$(dirname "$0")/.."
build=${BANYAN_BUILD:-build}
banyan=$PWD/$build/banyan
memhog=$PWD/$build/bench/memhog
for tool in "$banyan" "$memhog"; do
    [ -x "$tool" ] || { echo "resources: build first ($tool missing)" >&2; exit 2; }
done
command -v sqlite3 >/dev/null || { echo "resources: needs sqlite3" >&2; exit 2; }
what=${1:-both}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
sub() { awk "BEGIN { printf \"%.3f\", $1 - $2 }"; }

# ------------------------------------------------------------ packing

# pack NAME CMD... : run CMD under the budget watcher, print one line.
pack() {
    name=$1
    shift
    rm -f "$work/stop"
    "$memhog" watch 4096 "$work/stop" >"$work/watch" &
    w=$!
    t0=$(now)
    "$@" >/dev/null 2>"$work/err" || { echo "resources: $name failed" >&2; cat "$work/err" >&2; }
    t1=$(now)
    : >"$work/stop"
    wait $w
    echo "mem-pack tool=$name tasks=200 makespan_s=$(sub "$t1" "$t0") $(cat "$work/watch")"
}

if [ "$what" = both ] || [ "$what" = pack ]; then
    awk 'BEGIN { srand(42); for (i = 0; i < 200; i++) print 100 + int(rand() * 501) }' >"$work/sizes"
    echo "# memory packing: 200 tasks of 100-600 MiB (mean $(awk '{s += $1} END {printf "%.0f", s / NR}' "$work/sizes") MiB), 0.5 s each, budget 4 GiB"
    pack banyan-learn "$banyan" run --no-share -j16 --mem-total 4G --mem-default 1G \
        --mem-group "bench-pack-$$" --db "$work/pack.db" -- "$memhog" alloc {} 500 :::: "$work/sizes"
    est=$(sqlite3 "$work/pack.db" "select printf('%.0f MiB, hwm %.0f MiB', (mean + 2 * sqrt(m2 / (count - 1))) / 1048576.0, hwm / 1048576.0) from estimates where grp = 'bench-pack-$$'")
    conc=$(sqlite3 "$work/pack.db" "select max(n) from (select (select count(*) from tasks b where b.start_time <= a.start_time and b.end_time > a.start_time) as n from tasks a)")
    echo "#   banyan learnt mean+2sd $est; most tasks at once: $conc"
    pack xargs-j6-safe sh -c "xargs -P 6 -I{} '$memhog' alloc {} 500 <'$work/sizes'"
    pack xargs-j16-unsafe sh -c "xargs -P 16 -I{} '$memhog' alloc {} 500 <'$work/sizes'"
fi

# ------------------------------------------------------------ sharing

conc() { # db t: tasks of db running at wall time t
    sqlite3 "$1" "select count(*) from tasks where start_time <= $2 and end_time > $2"
}

if [ "$what" = both ] || [ "$what" = share ]; then
    opts="--share-file $work/share --share-cpus 2 --cpus 0.5 -j4 --no-score"
    echo "# sharing: two instances, -j4 of half-core tasks on 2 shared cores, the second 5 s later"
    t0=$(now)
    "$banyan" run $opts --db "$work/a.db" -q -- sh -c "sleep 0.2" ::: $(seq 200) >/dev/null 2>&1 &
    a=$!
    sleep 5
    tb=$(now)
    "$banyan" run $opts --db "$work/b.db" -q -- sh -c "sleep 0.2" ::: $(seq 60) >/dev/null 2>&1 &
    b=$!
    wait $b
    te=$(now)
    wait $a
    ta=$(now)
    echo "# t (s since the first start)  first  second"
    for t in $(awk "BEGIN { for (t = 0.25; t < $(sub "$ta" "$t0"); t += 0.5) printf \"%.2f \", t }"); do
        at=$(awk "BEGIN { printf \"%.3f\", $t0 + $t }")
        echo "share-conc t=$t first=$(conc "$work/a.db" "$at") second=$(conc "$work/b.db" "$at")"
    done
    # Fairness: the first moment after the second start from which both
    # stay at half (2) until the second ends, and the first moment after
    # the second end from which the first runs 4 (until its last wave).
    half=$(awk "BEGIN { for (t = $tb; t < $te - 0.3; t += 0.05) printf \"%.3f \", t }")
    settle=none
    for t in $half; do
        if [ "$(conc "$work/a.db" "$t")" = 2 ] && [ "$(conc "$work/b.db" "$t")" = 2 ]; then
            [ "$settle" = none ] && settle=$t
        else
            settle=none
        fi
    done
    back=none
    for t in $(awk "BEGIN { for (t = $te; t < $ta - 0.5; t += 0.05) printf \"%.3f \", t }"); do
        if [ "$(conc "$work/a.db" "$t")" = 4 ]; then
            [ "$back" = none ] && back=$t
        else
            back=none
        fi
    done
    s1=none s2=none
    [ "$settle" != none ] && s1=$(sub "$settle" "$tb")
    [ "$back" != none ] && s2=$(sub "$back" "$te")
    ok1=no ok2=no
    [ "$s1" != none ] && awk "BEGIN { exit !($s1 <= 2) }" && ok1=yes
    [ "$s2" != none ] && awk "BEGIN { exit !($s2 <= 2) }" && ok2=yes
    echo "share-fair both_half_after_s=$s1 within_2s=$ok1 first_back_to_all_after_s=$s2 within_2s=$ok2"
fi
