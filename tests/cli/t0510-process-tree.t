#!/bin/sh
# t0510-process-tree.t - a task is all its processes: the ones that leave
# the task's process group die with it too.  Five shapes of escape, each a
# task: `timeout` (its own group), `bash -c 'set -m; ... & wait'` (a job in
# its own group), `setsid` under a shell (a session of its own, the shell
# waits), `setsid` as the task's first process (it forks, its parent exits
# at once and the sleep is orphaned) and `env -i setsid` under a shell (a
# session of its own without banyan's tag).  Each is stopped by --timeout,
# SIGTERM of `banyan run`, --halt now, kill -9 of `banyan run`, `banyan
# cancel` of a server job and kill -9 of the worker; after each, no process
# of any shape may be left (polled, 20 s at most).  Twice: with the tasks'
# cgroups where this host delegates cgroup v2, and without them
# (BANYAN_NO_CGROUP=1).  (Regression test for issue 17 defect 4: they used
# to live on, re-parented to init.)
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need pgrep bash setsid timeout sqlite3

# Every sleep of this file has a unique duration, 7<pid>.<mode><shape>
# seconds (mode: round and stop; all digits): its command line is the marker pgrep looks for.
tag=7$$

# shapes MODE: the scripts MODE/s1..s5 whose sleeps are tagged MODE.
shapes() {
    mkdir -p "$1" &&
    echo "timeout 60 sleep $tag.${1}1" >"$1/s1" &&
    echo "bash -c 'set -m; sleep $tag.${1}2 & wait'" >"$1/s2" &&
    echo "setsid sleep $tag.${1}3; echo survived" >"$1/s3" &&
    echo "exec setsid sleep $tag.${1}4" >"$1/s4" &&
    echo "env -i setsid sleep $tag.${1}5; echo survived" >"$1/s5"
}

# running MODE: all five sleeps of MODE run.
running() {
    for k in 1 2 3 4 5; do
        pgrep -f "sleep $tag\.$1$k" >/dev/null || return 1
    done
}

# wait_running MODE: until all five run (20 s at most).
wait_running() {
    wr_i=0
    while ! running "$1"; do
        wr_i=$((wr_i + 1))
        [ $wr_i -lt 200 ] ||
            { echo "the shapes of $1 did not all start"; return 1; }
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

# round R: every stop, the modes R1..R6, with what the environment says
# (BANYAN_NO_CGROUP=1: the /proc walk and the tags alone).
round() {
R=$1

test_expect_success "$2: --timeout kills every process of the tasks" '
    shapes ${R}1 &&
    (cd ${R}1 && $banyan run -j5 --db r.db --timeout 1.5 -- sh {} ::: \
        s1 s2 s3 s4 s5 >out 2>err); rc=$? &&
    { [ $rc -eq 5 ] || { echo "exit $rc"; cat ${R}1/err; false; }; } &&
    gone ${R}1 && [ "$(sql ${R}1/r.db "select count(*) from tasks
                                  where state = '\''timeout'\''")" -eq 5 ]
'

test_expect_success "$2: SIGTERM of banyan run kills every process of the tasks" '
    shapes ${R}2 &&
    (cd ${R}2 && exec $banyan run -j5 --db r.db -- sh {} ::: s1 s2 s3 s4 s5 \
        >out 2>err) &
    pid=$! && remember $pid &&
    wait_running ${R}2 && kill -TERM $pid && { wait $pid; true; } &&
    gone ${R}2
'

test_expect_success "$2: --halt now kills every process of the other tasks" '
    shapes ${R}3 &&
    echo "sleep 1; exit 3" >${R}3/fail &&
    (cd ${R}3 && $banyan run -j6 --db r.db --halt now,fail=1 -- sh {} ::: \
        s1 s2 s3 s4 s5 fail >out 2>err); rc=$? &&
    [ $rc -eq 3 ] && grep -q "This job failed" ${R}3/err &&
    gone ${R}3
'

test_expect_success "$2: kill -9 of banyan run kills every process of the tasks" '
    shapes ${R}4 &&
    (cd ${R}4 && exec $banyan run -j5 --db r.db -- sh {} ::: s1 s2 s3 s4 s5 \
        >out 2>err) &
    pid=$! && remember $pid &&
    wait_running ${R}4 && kill -9 $pid && { wait $pid; true; } &&
    gone ${R}4
'

# A server and a worker of this round's own: the last round's killed
# worker left a job that its server requeues.
start_server s$R --heartbeat 200 && start_worker w$R --slots 5 --cpus 5
test_expect_success "$2: a server and a worker with five slots" '
    [ -n "$EP" ] && wait_for 20 engines_are 1
'

test_expect_success "$2: banyan cancel kills every process of the job" '
    shapes ${R}5 &&
    job=$($banyan submit --server "$EP" -- sh "$PWD/${R}5/{}" ::: \
        s1 s2 s3 s4 s5 | head -1) && [ -n "$job" ] &&
    wait_running ${R}5 && $banyan cancel --server "$EP" "$job" &&
    gone ${R}5
'

test_expect_success "$2: kill -9 of the worker kills every process of its tasks" '
    shapes ${R}6 &&
    job=$($banyan submit --server "$EP" -- sh "$PWD/${R}6/{}" ::: \
        s1 s2 s3 s4 s5 | head -1) && [ -n "$job" ] &&
    wait_running ${R}6 && kill -9 $WORKER_PID && { wait $WORKER_PID; true; } &&
    gone ${R}6
'
}

round 1 "cgroups where delegated"
BANYAN_NO_CGROUP=1
export BANYAN_NO_CGROUP
round 2 "without cgroups"

# Anything a failed check left.
for p in $(pgrep -f "sleep $tag\\."); do kill -9 "$p" 2>/dev/null; done
test_done
