#!/bin/sh
# t0510-process-tree.t - a task is all its processes: the ones that leave
# the task's process group die with it too.  Four shapes of escape, each a
# task: `timeout` (its own group), `bash -c 'set -m; ... & wait'` (a job in
# its own group), `setsid` under a shell (a session of its own, the shell
# waits) and `setsid` as the task's first process (it forks, its parent
# exits at once and the sleep is orphaned).  Each is stopped by --timeout,
# SIGTERM of `banyan run`, --halt now, kill -9 of `banyan run`, `banyan
# cancel` of a server job and kill -9 of the worker; after each, no process
# of any shape may be left (polled, 20 s at most).  (Regression test for
# issue 17 defect 4: they used to live on, re-parented to init.)
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need pgrep bash setsid timeout sqlite3

# Every sleep of this file has a unique duration, 7<pid>.<mode><shape>
# seconds (mode and shape are digits): its command line is the marker pgrep looks for.
tag=7$$

# shapes MODE: the scripts MODE/s1..s4 whose sleeps are tagged MODE.
shapes() {
    mkdir -p "$1" &&
    echo "timeout 60 sleep $tag.${1}1" >"$1/s1" &&
    echo "bash -c 'set -m; sleep $tag.${1}2 & wait'" >"$1/s2" &&
    echo "setsid sleep $tag.${1}3; echo survived" >"$1/s3" &&
    echo "exec setsid sleep $tag.${1}4" >"$1/s4"
}

# running MODE: all four sleeps of MODE run.
running() {
    for k in 1 2 3 4; do
        pgrep -f "sleep $tag\.$1$k" >/dev/null || return 1
    done
}

# wait_running MODE: until all four run (20 s at most).
wait_running() {
    wr_i=0
    while ! running "$1"; do
        wr_i=$((wr_i + 1))
        [ $wr_i -lt 200 ] || { echo "the shapes of $1 did not all start"; return 1; }
        sleep 0.1
    done
}

# gone MODE: no sleep of MODE is left within 20 s; otherwise say which.
gone() {
    g_i=0
    while pgrep -f "sleep $tag\.$1" >/dev/null; do
        g_i=$((g_i + 1))
        if [ $g_i -ge 200 ]; then
            echo "left behind:"
            ps -o pid,ppid,pgid,sid,stat,args -p \
                "$(pgrep -f "sleep $tag\.$1" | paste -sd, -)"
            return 1
        fi
        sleep 0.1
    done
}

test_expect_success '--timeout kills every process of the tasks' '
    shapes 1 &&
    (cd 1 && $banyan run -j4 --db r.db --timeout 1.5 -- sh {} ::: \
        s1 s2 s3 s4 >out 2>err); rc=$? &&
    [ $rc -eq 1 ] || { echo "exit $rc"; cat 1/err; false; } &&
    gone 1 && [ "$(sql 1/r.db "select count(*) from tasks
                              where state = '\''timeout'\''")" -eq 4 ]
'

test_expect_success 'SIGTERM of banyan run kills every process of the tasks' '
    shapes 2 &&
    (cd 2 && exec $banyan run -j4 --db r.db -- sh {} ::: s1 s2 s3 s4 \
        >out 2>err) &
    pid=$! && remember $pid &&
    wait_running 2 && kill -TERM $pid && { wait $pid; true; } &&
    gone 2
'

test_expect_success '--halt now kills every process of the other tasks' '
    shapes 3 &&
    echo "sleep 1; exit 3" > 3/fail &&
    (cd 3 && $banyan run -j5 --db r.db --halt now,fail=1 -- sh {} ::: \
        s1 s2 s3 s4 fail >out 2>err); rc=$? &&
    [ $rc -ne 0 ] && grep -q halting 3/err &&
    gone 3
'

test_expect_success 'kill -9 of banyan run kills every process of the tasks' '
    shapes 4 &&
    (cd 4 && exec $banyan run -j4 --db r.db -- sh {} ::: s1 s2 s3 s4 \
        >out 2>err) &
    pid=$! && remember $pid &&
    wait_running 4 && kill -9 $pid && { wait $pid; true; } &&
    gone 4
'

# The server and its worker live across the checks (EP, WORKER_PID).
start_server s && start_worker w --slots 4 --cpus 4
test_expect_success 'a server and a worker with four slots' '
    [ -n "$EP" ] && wait_for 20 engines_are 1
'

test_expect_success 'banyan cancel kills every process of the job' '
    shapes 5 &&
    job=$($banyan submit --server "$EP" -- sh "$PWD/5/{}" ::: \
        s1 s2 s3 s4 | head -1) && [ -n "$job" ] &&
    wait_running 5 && $banyan cancel --server "$EP" "$job" &&
    gone 5
'

test_expect_success 'kill -9 of the worker kills every process of its tasks' '
    shapes 6 &&
    job=$($banyan submit --server "$EP" -- sh "$PWD/6/{}" ::: \
        s1 s2 s3 s4 | head -1) && [ -n "$job" ] &&
    wait_running 6 && kill -9 $WORKER_PID && { wait $WORKER_PID; true; } &&
    gone 6
'

# Anything a failed check left.
for p in $(pgrep -f "sleep $tag\\."); do kill -9 "$p" 2>/dev/null; done
test_done
