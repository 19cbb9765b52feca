#!/bin/sh
# t0190-worker-death.t - tasks die with their worker: kill -9 of a worker
# kills every process group it started within a second, so when the server
# runs the lost tasks again on another worker, each side effect happens
# exactly once.  (Regression test for issue 11 item 4: both sh processes
# used to go on, re-parented to init, and write `done` a second time.)
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need pgrep

# none_alive FILE: no process of the groups in FILE and no pid of FILE
# lives (prints the first one that does).
none_alive() {
    for na_id in $(cat "$1"); do
        proc_alive "$na_id" && { echo "process $na_id lives"; return 1; }
        for na_p in $(pgrep -g "$na_id"); do
            proc_alive "$na_p" &&
                { echo "process $na_p of group $na_id lives"; return 1; }
        done
    done
    return 0
}

two_started() {
    [ "$(lines pgids)" -ge 2 ]
}

start_server srv --heartbeat 200 || exit 1
start_worker w1 --cpus 2
W1=$WORKER_PID
export BANYAN_SERVER=$EP

test_expect_success 'a worker with two cpus runs both tasks of a job' '
    wait_for 20 engines_are 1 &&
    $banyan submit -- sh -c "echo \$\$ >>pgids; sleep 3; echo {} >>done" \
        ::: 1 2 >job &&
    [ "$(cat job)" = 1 ] &&
    wait_for 20 two_started
'

sleep 1
# What the worker started: its tasks' groups and its children (the tasks'
# shells and the guardian).
head -n 2 pgids >groups
pgrep -P $W1 >>groups
kill -9 $W1
KILLED_AT=$(now_ms)
wait $W1 2>/dev/null

test_expect_success 'no process of the killed worker lives a second later' '
    sleep_until $((KILLED_AT + 1000)) &&
    none_alive groups
'

test_expect_success 'the server finds the worker lost' '
    wait_for 20 engines_are 0 &&
    grep "w1.*lost" srv.log
'

start_worker w2 --cpus 2

test_expect_success 'a second worker runs the lost tasks; the job succeeds' '
    $banyan wait --timeout 60 1 >w && cat w && grep -q "2 ok" w
'

test_expect_success 'each side effect happened exactly once' '
    sleep_until $((KILLED_AT + 3000)) &&
    sort done >got && printf "1\n2\n" >want &&
    { cmp got want || { cat done; false; }; }
'

test_clean_exit
test_done
