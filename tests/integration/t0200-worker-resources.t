#!/bin/sh
# t0200-worker-resources.t - the resource intelligence of local mode on a
# cluster worker (issue 11; tests/cli/t0300, t0310, t0330 prove it for
# `banyan run`): a worker admits tasks without --mem against learnt
# estimates, kills a task over --mem-limit and the server's results name the
# limit and the peak, suspends (or kills) the youngest task below
# --mem-critical, and divides the cores of a host fairly with other workers
# and with a local `banyan run` through the share file.
#
# One worker at a time is connected (each check stops its worker before the
# next starts), so every task of a job ran on the worker under test.  What
# happened is read back from `banyan results --server --json`: each task's
# state, reason, peak and start and end times as the worker recorded them.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq

helper=$(dirname "$banyan")/tests/exec/exec_helper

now() { date +%s.%N; }
add() { awk "BEGIN { printf \"%.3f\", $1 + $2 }"; }

# stop_worker PID: SIGTERM, wait for it, and for the server to drop it.
stop_worker() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    wait_for 20 engines_are 0
}

# results JOB: the job's results as JSON, in rJOB.json.
results() {
    $banyan results --json "$1" >"r$1.json"
}

# show JOB: one line per task (times in ms from the job's first
# start), for the diagnostics of a failed check.
show() {
    jq -r '(.tasks | map(.start_time) | min) as $t0 | .tasks[] |
        "task \(.seq) on \(.worker): \(.state), " +
        "+\((.start_time - $t0) * 1000 | floor) ms .. " +
        "+\((.end_time - $t0) * 1000 | floor) ms, " +
        "peak \(.peak_rss / 1048576 | floor)M, reason: \(.reason)"' "r$1.json"
}

# field JOB SEQ NAME: a field of one task of rJOB.json.
field() {
    jq -r --argjson s "$2" ".tasks[] | select(.seq == \$s) | .$3" "r$1.json"
}

# task_times JOB WORKER: "start end" of WORKER's tasks of job JOB (--server),
# or of the local run database (--db) when JOB is a file.
task_times() {
    if [ -f "$1" ]; then
        $banyan results --db "$1" --json last |
            jq -r '.[] | "\(.start_time) \(.end_time)"'
    else
        $banyan results --json "$1" | jq -r --arg w "$2" \
            '.tasks[] | select(.worker == $w) | "\(.start_time) \(.end_time)"'
    fi
}

# level FILE FROM TO N: "MAX PCT" over samples every 50 ms from FROM to TO:
# the most tasks of FILE ("start end" lines) running at once, and the
# percentage of samples with exactly N running.
level() {
    awk -v from="$2" -v to="$3" -v want="$4" '
        { s[NR] = $1; e[NR] = $2 }
        END {
            for (t = from; t <= to; t += 0.05) {
                c = 0
                for (i = 1; i <= NR; i++)
                    if (s[i] <= t && e[i] > t)
                        c++
                k++
                if (c == want) n++
                if (c > m) m = c
            }
            printf "%d %d\n", m, k ? 100 * n / k : 0
        }' "$1"
}

# mostly FILE FROM TO N: N at once in at least 70% of the samples (a
# sample may fall between one task's end and the next one's start, more
# so on a busy host).  Says what it found.
mostly() {
    r=$(level "$1" "$2" "$3" "$4")
    echo "$1 $2..$3: $4 at once ${r#* }% of the time (want >= 70%), at most ${r% *}"
    test "${r#* }" -ge 70
}

# never_above FILE FROM TO N: never more than N at once.
never_above() {
    r=$(level "$1" "$2" "$3" "$4")
    echo "$1 $2..$3: at most ${r% *} at once (want <= $4)"
    test "${r% *}" -le "$4"
}

start_server srv || exit 1
export BANYAN_SERVER=$EP

test_expect_success 'the memory helper is built' '
    test -x "$helper"
'

# ---------------------------------------------------- learnt estimates
#
# 300M for tasks, no reserve: until 3 tasks were measured each is charged
# the 256M default, so one runs at a time; then the group (the command)
# has learnt ~101M, so 300M / estimate of them run at once -- 2, not the 8
# slots.
start_worker w1 --slots 8 --mem 300M --mem-reserve 0 --no-share
W=$WORKER_PID

test_expect_success 'a worker admits tasks without --mem against learnt estimates' '
    wait_for 20 engines_are 1 &&
    timeout 120 $banyan submit --wait -- sh -c "exec $helper mem 100 700" {} ::: $(seq 12) >out &&
    cat out && results 1 && show 1 &&
    test "$(jq "[.tasks[] | select(.worker == \"w1\")] | length" r1.json)" = 12 &&
    # before: the most at once among the tasks started before the third
    # end; after: among the others; k: what 300M / the largest of the
    # first three peaks allows (the estimate is at least that peak).
    jq -r "def conc(\$t; \$x): [\$t[] | select(.start_time <= \$x and .end_time > \$x)] | length;
        .tasks as \$t | (\$t | sort_by(.end_time)) as \$by_end |
        (\$by_end[2].end_time) as \$t3 |
        ([\$t[] | select(.start_time < \$t3) | conc(\$t; .start_time)] | max) as \$before |
        ([\$t[] | select(.start_time >= \$t3) | conc(\$t; .start_time)] | max) as \$after |
        (300 * 1048576 / ([\$by_end[0:3][] | .peak_rss] | max) | floor) as \$k |
        \"\(\$before) \(\$after) \(\$k)\"" r1.json >conc &&
    read before after k <conc &&
    echo "at once: $before until 3 were measured, then at most $after; 300M / peak allows $k" &&
    test "$before" = 1 &&
    test "$k" -lt 8 && test "$after" -le "$k" &&
    if [ "$k" -ge 2 ]; then
        test "$after" -ge 2
    else
        echo "a peak above 150M (sanitized build?): the learnt estimate admits one"
    fi
'

test_expect_success 'the peak of every task reached the server' '
    test "$(jq "[.tasks[] | select(.peak_rss > 100 * 1048576)] | length" r1.json)" = 12
'

stop_worker $W

# ---------------------------------------------------------- --mem-limit

start_worker w2 --slots 4 --mem-limit 50M --mem-reserve 0 --no-share
W=$WORKER_PID

test_expect_success 'a task over --mem-limit on a worker is killed, the others are not' '
    wait_for 20 engines_are 1 &&
    expect_code 1 timeout 120 $banyan submit --wait -- sh -c "exec $helper mem {} 1500" ::: 10 120 20 &&
    results 2 && show 2 &&
    test "$(field 2 2 state)" = killed &&
    test "$(field 2 1 state) $(field 2 3 state)" = "ok ok"
'

test_expect_success 'results --server: its reason names the limit and the peak' '
    reason=$(field 2 2 reason) && echo "reason: $reason" &&
    echo "$reason" | grep -Eq "^memory limit 50M exceeded: peak [0-9.]+M$" &&
    peak=$(field 2 2 peak_rss) && echo "peak_rss: $peak" &&
    test "$peak" -gt $((50 * 1024 * 1024)) &&
    test "$(field 2 2 signal)" = 9
'

stop_worker $W

# ------------------------------------------------------- --mem-critical
#
# A critical level far above any host's memory: the worker is always
# below it.  Two tasks count to 10 in 2 s; the youngest is suspended
# first (its whole group gets SIGSTOP), the other 200 ms later, and the
# --timeout still ends both.

start_worker w3 --slots 2 --mem-critical 1000000G --kill-grace 0.2 \
    --mem-reserve 0 --no-share
W=$WORKER_PID

test_expect_success '--mem-critical on a worker suspends the youngest task; a timeout ends it' '
    wait_for 20 engines_are 1 &&
    expect_code 1 timeout 120 $banyan submit --wait --timeout 3 -- sh -c "echo 0 >count.{};
        for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; echo \$i >>count.{}; done" \
        ::: 1 2 &&
    results 3 && show 3 && cat w3.log &&
    test "$(field 3 1 state) $(field 3 2 state)" = "timeout timeout" &&
    first=$(sed -n "s/.*suspending task \([0-9]*\) of job 3.*/\1/p" w3.log | head -1) &&
    test -n "$first" &&
    # the youngest: the one that started last
    youngest=$(jq ".tasks | max_by(.start_time) | .seq" r3.json) &&
    echo "suspended first: task $first; started last: task $youngest" &&
    test "$first" = "$youngest"
'

test_expect_success 'a suspended task does not run (SIGSTOP reaches its group)' '
    wc -l count.1 count.2 &&
    test "$(wc -l <count.1)" -lt 5 && test "$(wc -l <count.2)" -lt 5
'

stop_worker $W

start_worker w4 --slots 2 --mem-critical 1000000G --on-critical kill \
    --kill-grace 0.2 --mem-reserve 0 --no-share
W=$WORKER_PID

test_expect_success '--on-critical kill: the task is killed, with the reason' '
    wait_for 20 engines_are 1 &&
    expect_code 1 timeout 120 $banyan submit --wait --timeout 10 -- sleep 30 ::: 1 &&
    results 4 && show 4 &&
    test "$(field 4 1 state)" = killed &&
    field 4 1 reason | grep "^host memory critical: MemAvailable .* below 976.6T" &&
    grep -q "killing task 1 of job 4" w4.log
'

stop_worker $W

# ------------------------------------------------------------- sharing
#
# As in t0310: every instance divides 1 core (--share-cpus 1) of a
# private arbitration file and each task declares a quarter core, so one
# instance alone runs 4 at once, two run 2 each.  The workers offer 1 cpu
# (the server sends each 4 such tasks) and 8 slots.

share="--share-file $PWD/s.share --share-cpus 1"
wshare="$share --cpus 1 --slots 8 --mem-reserve 0"

# Tasks of 0.3 to 0.7 s, so that a worker's tasks end one at a time and
# it always has a task queued beside the two it runs.
durations() {
    for i in $(seq "$1"); do echo "0.$((3 + i % 5))"; done
}

start_worker w5 $wshare
w5=$WORKER_PID

test_expect_success 'a worker alone runs 4 tasks of a quarter core at once' '
    wait_for 20 engines_are 1 &&
    $banyan submit --cpus 0.25 -- sleep {} ::: $(durations 70) >job &&
    test "$(cat job)" = 5
'

sleep 2
t6=$(now)
start_worker w6 $wshare
w6=$WORKER_PID

# The windows where both instances run: from the first task of the second
# (+ 1.5 s for the first to come down to its share: it keeps its running
# tasks and starts no more) to the first end of either (- 0.6 s).
test_expect_success 'two workers on one host share the cores half and half' '
    $banyan wait --timeout 120 5 &&
    task_times 5 w5 >w5.t && task_times 5 w6 >w6.t &&
    results 5 && show 5 && cat s.share &&
    f6=$(sort -n w6.t | head -1 | cut -d" " -f1) &&
    e5=$(sort -n -k2 w5.t | tail -1 | cut -d" " -f2) &&
    e6=$(sort -n -k2 w6.t | tail -1 | cut -d" " -f2) &&
    end=$(awk "BEGIN { printf \"%.3f\", ($e5 < $e6 ? $e5 : $e6) }") &&
    echo "w6 started at $t6, ran its first task at $f6; last ends $e5 $e6" &&
    echo "$f6 $end" >w56.window &&
    # w5 alone ran 4 at once
    mostly w5.t $(add $t6 -1.2) $(add $t6 -0.1) 4 &&
    # with both, each runs 2
    mostly w5.t $(add $f6 1.5) $(add $end -0.6) 2 &&
    mostly w6.t $(add $f6 1.5) $(add $end -0.6) 2
'

# Never above the share either: a newcomer asks for its share before it
# starts more than one task, and a worker whose queue drained to its share
# does not start the server's next tasks beyond it before its next update.
test_expect_success 'no worker ever runs more than its share' '
    read f6 end <w56.window &&
    never_above w6.t $f6 $(add $end -0.6) 2 &&
    never_above w5.t $(add $f6 0.6) $(add $end -0.6) 2
'

stop_worker $w6

test_expect_success 'a stopped worker leaves no record in the share file' '
    cat s.share &&
    ! grep -q "^$w6 " s.share && grep -q "^$w5 " s.share
'

test_expect_success 'a worker beside a local banyan run shares the cores half and half' '
    $banyan submit --cpus 0.25 -- sleep {} ::: $(durations 60) >job &&
    test "$(cat job)" = 6 &&
    sleep 2 &&
    tl=$(now) &&
    $banyan run $share --cpus 0.25 --no-score -j4 --db l.db -- \
        sleep {} ::: $(durations 20) >/dev/null &&
    te=$(now) &&
    $banyan wait --timeout 120 6 &&
    task_times 6 w5 >w5b.t && task_times l.db >l.t &&
    results 6 && show 6 &&
    fl=$(sort -n l.t | head -1 | cut -d" " -f1) &&
    echo "the local run started at $tl, ran its first task at $fl, ended at $te" &&
    echo "$fl $te" >wl.window &&
    # w5 alone ran 4 at once
    mostly w5b.t $(add $tl -1.2) $(add $tl -0.1) 4 &&
    # beside the local run, each runs 2
    mostly w5b.t $(add $fl 1.5) $(add $te -0.6) 2 &&
    mostly l.t $(add $fl 1.5) $(add $te -0.6) 2
'

test_expect_success 'neither the worker nor the local run ever runs more than its share' '
    read fl te <wl.window &&
    never_above w5b.t $(add $fl 0.6) $(add $te -0.6) 2 &&
    never_above l.t $fl $(add $te -0.6) 2
'

stop_worker $w5

# An instance alone is not throttled by sharing: it caps what it wants at
# the capacity it divides, so it gets all of it and runs what its slots
# allow (docs/resources.md): a worker offering 2 cpus runs 8 quarter-core
# tasks at once on a 1-core share.
start_worker w7 $share --cpus 2 --slots 8 --mem-reserve 0
w7=$WORKER_PID

test_expect_success 'a worker alone runs all its tasks at once, however few cores it divides' '
    wait_for 20 engines_are 1 &&
    timeout 120 $banyan submit --wait --cpus 0.25 -- sh -c "sleep 0.5" {} ::: $(seq 24) &&
    task_times 7 w7 >w7.t &&
    f7=$(sort -n w7.t | head -1 | cut -d" " -f1) &&
    mostly w7.t $(add $f7 0.2) $(add $f7 0.9) 8
'

stop_worker $w7

test_clean_exit
test_done
