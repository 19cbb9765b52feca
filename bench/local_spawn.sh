#!/bin/sh
# local_spawn.sh - tasks/s of banyan run against xargs -P, GNU Parallel and a
# bare posix_spawn loop (the physical limit), measured side by side.
#
#   bench/local_spawn.sh [ROUNDS]        (make bench-local)
#
# Cases: 5,000 `true` at -j2, 2,000 `sleep 0.01` at -j8, and 3,000 of a
# line with shell syntax (`true N && true`) at -j2, which every tool runs
# through the same shell (PARALLEL_SHELL=/bin/sh for GNU Parallel and
# banyan, `sh -c LINE` for the loop and xargs).  banyan runs with its
# database and --joblog on.  Each tool runs ROUNDS times (default 3)
# in rotation, so that a noisy neighbour hurts all of them alike, and the
# median is reported.  Output: one parseable line per tool and case, then the
# ratios.
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-3}
banyan=build/banyan
loop=build/bench/spawn_loop
for tool in "$banyan" "$loop"; do
    [ -x "$tool" ] || { echo "local_spawn: build first ($tool missing)" >&2; exit 2; }
done
have_parallel=0
command -v parallel >/dev/null 2>&1 && have_parallel=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }

# time_it NAME CASE N CMD... : run CMD once, append "NAME CASE seconds".
time_it() {
    name=$1 case=$2 n=$3
    shift 3
    t0=$(now)
    "$@" >/dev/null 2>&1 || { echo "local_spawn: $name failed" >&2; exit 3; }
    t1=$(now)
    echo "$name $case $n $(awk "BEGIN { print $t1 - $t0 }")" >>"$work/times"
}

run_case() { # case n jobs cmd...
    case=$1 n=$2 j=$3
    shift 3
    # Every tool appends the input to the command: "true 17", "sleep 0.01 0"
    # (sleep adds its arguments up, so its inputs are zeros).
    if [ "$case" = shell ]; then
        run_shell_case "$n" "$j"
        return
    fi
    if [ "$1" = sleep ]; then
        yes 0 | head -n "$n" >"$work/in"
    else
        seq "$n" >"$work/in"
    fi
    r=0
    while [ $r -lt "$rounds" ]; do
        # The loop runs the same command line as the others ("true 1"):
        # coreutils' true loads the locale only when it has an argument.
        time_it loop "$case" "$n" "$loop" "$n" "$j" "$@" "$(head -n 1 "$work/in")"
        time_it xargs "$case" "$n" sh -c 'j=$0 in=$1; shift; xargs -P "$j" -n1 "$@" <"$in"' "$j" "$work/in" "$@"
        if [ $have_parallel = 1 ]; then
            time_it parallel "$case" "$n" sh -c 'j=$0 in=$1; shift; parallel -j "$j" "$@" <"$in"' "$j" "$work/in" "$@"
        fi
        rm -f "$work/b.db"* "$work/joblog"
        time_it banyan "$case" "$n" sh -c 'b=$0 j=$1 w=$2; shift 2; "$b" run -j "$j" --db "$w/b.db" --joblog "$w/joblog" "$@" <"$w/in"' \
            "$banyan" "$j" "$work" "$@"
        r=$((r + 1))
    done
}

# The shell case: the template `true {} && true`; the loop and xargs run
# the expanded line through sh -c themselves.
run_shell_case() { # n jobs
    seq "$1" >"$work/in"
    r=0
    while [ $r -lt "$rounds" ]; do
        time_it loop shell "$1" "$loop" "$1" "$2" sh -c 'true 1 && true'
        time_it xargs shell "$1" sh -c 'j=$0 in=$1; xargs -P "$j" -I@ sh -c "true @ && true" <"$in"' "$2" "$work/in"
        if [ $have_parallel = 1 ]; then
            time_it parallel shell "$1" sh -c 'j=$0 in=$1; PARALLEL_SHELL=/bin/sh parallel -j "$j" "true {} && true" <"$in"' "$2" "$work/in"
        fi
        rm -f "$work/b.db"* "$work/joblog"
        time_it banyan shell "$1" sh -c 'b=$0 j=$1 w=$2; PARALLEL_SHELL=/bin/sh "$b" run -j "$j" --db "$w/b.db" --joblog "$w/joblog" "true {} && true" <"$w/in"' \
            "$banyan" "$2" "$work"
        r=$((r + 1))
    done
}

run_case true 5000 2 true
run_case sleep 2000 8 sleep 0.01
run_case shell 3000 2 sh

# Median per tool and case, then ratios.
awk '
{ key = $1 " " $2; n[key]++; t[key, n[key]] = $4; tasks[key] = $3 }
END {
    for (key in n) {
        m = n[key]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
            if (t[key, j] < t[key, i]) { x = t[key, i]; t[key, i] = t[key, j]; t[key, j] = x }
        med = (m % 2) ? t[key, (m + 1) / 2] : (t[key, m / 2] + t[key, m / 2 + 1]) / 2
        rate[key] = tasks[key] / med
        split(key, k, " ")
        printf "local_spawn tool=%s case=%s tasks=%d seconds=%.3f tasks_per_s=%.0f\n", k[1], k[2], tasks[key], med, rate[key]
    }
    split("true sleep shell", cases, " ")
    for (c = 1; c <= 3; c++) {
        cs = cases[c]
        b = rate["banyan " cs]; l = rate["loop " cs]; x = rate["xargs " cs]; p = rate["parallel " cs]
        printf "local_spawn ratio case=%s banyan/loop=%.2f banyan/xargs=%.2f", cs, b / l, b / x
        if (p > 0) printf " banyan/parallel=%.1f", b / p
        printf "\n"
    }
}' "$work/times" | sort
