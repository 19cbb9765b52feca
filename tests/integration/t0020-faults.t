#!/bin/sh
# t0020-faults.t - faults in the middle of a run: a worker killed with
# SIGKILL (its tasks die with it), a worker restarted
# (SIGTERM, then a new one), the server killed with SIGKILL and restarted on
# the same database, and a client killed while it waits.  Every task leaves
# side-effect files: started/N gets a line when the task starts and done/N
# one when it ends, so "every task completed exactly once" is read from the
# file system, not from the server's word.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"

mkdir started done
# Task N: note the start, work a little, note the end.
task() {
    echo "echo \$BANYAN_WORKER >>$PWD/started/$1{}; sleep $2;" \
         "echo \$BANYAN_WORKER >>$PWD/done/$1{}"
}

# exactly_once PREFIX N [DEAD]: done/PREFIX1..N each hold exactly one line,
# not counting lines from worker DEAD (killed with -9: a task that ended
# there but whose result never left the node is rightly run again).
exactly_once() {
    i=1
    while [ $i -le "$2" ]; do
        f=done/$1$i
        [ -f "$f" ] || { echo "$f missing"; return 1; }
        [ "$(grep -cvx "${3:-/}" "$f")" -eq 1 ] ||
            { echo "$f:"; cat "$f"; return 1; }
        i=$((i + 1))
    done
    [ "$(ls done | grep -c "^$1[0-9]")" -eq "$2" ] ||
        { echo "extra files"; return 1; }
}

# task_a: like task a, but a run that starts before the kill (the file
# killed.at) takes 4 s, so that none ends on the worker before it dies (one
# that ended there but whose result never left would rightly run again);
# later ones take 0.3 s.
task_a() {
    echo "echo \$BANYAN_WORKER >>$PWD/started/a{};" \
         "if [ -e $PWD/killed.at ]; then sleep 0.3; else sleep 4; fi;" \
         "echo \$BANYAN_WORKER >>$PWD/done/a{}"
}

# alive_in FILE: a process of FILE, or of a group named there, lives (a
# zombie waiting for a slow init does not count); prints it.
alive_in() {
    for ai_id in $(cat "$1"); do
        for ai_p in $ai_id $(pgrep -g "$ai_id"); do
            ai_st=$(sed 's/.*) //' "/proc/$ai_p/stat" 2>/dev/null | cut -c1)
            [ -n "$ai_st" ] && [ "$ai_st" != Z ] &&
                { echo "process $ai_p lives"; return 0; }
        done
    done
    return 1
}

# started_on WORKER PREFIX: some task of PREFIX started on WORKER.
started_on() {
    grep -lx "$1" started/$2* >/dev/null 2>&1
}

EPATH="ipc://$PWD/srv.sock"
start_server srv --listen "$EPATH" --heartbeat 200 || exit 1
start_worker wa --cpus 4
WA=$WORKER_PID
start_worker wb --cpus 4
WB=$WORKER_PID
export BANYAN_SERVER=$EP

test_expect_success 'two workers join' '
    wait_for 20 engines_are 2
'

# ---------------------------------------------------------- worker lost

test_expect_success 'kill -9 a worker mid-run' '
    $banyan submit --array 1-40 -- "$(task_a)" >job &&
    [ "$(cat job)" = 1 ] &&
    wait_for 30 started_on wa a &&
    pgrep -P $WA >wa.kids &&
    kill -9 $WA && touch killed.at && { wait $WA; true; } &&
    wait_for 20 engines_are 1 &&
    grep "wa.*lost" srv.log
'

test_expect_success 'its tasks died with it' '
    ! alive_in wa.kids
'

test_expect_success 'the lost worker s tasks ran again elsewhere' '
    $banyan wait --timeout 120 1 && $banyan results 1 >r1 &&
    again=$(grep -lx wb $(grep -lx wa started/a*)) &&
    echo "requeued: $again" && [ -n "$again" ]
'

test_expect_success 'every task completed exactly once, none on the dead worker' '
    exactly_once a 40 &&
    ! grep -lx wa done/a* &&
    [ "$(grep -c " ok " r1)" -eq 40 ] && ! grep -q " wa " r1
'

# ------------------------------------------------------- worker restart

start_worker wc --cpus 4
WC=$WORKER_PID

test_expect_success 'kill -TERM a worker mid-run, start a new one' '
    wait_for 20 engines_are 2 &&
    $banyan submit --array 1-40 -- "$(task b 0.3)" >job &&
    [ "$(cat job)" = 2 ] &&
    wait_for 30 started_on wc b &&
    kill -TERM $WC
'
wait $WC
WC_RC=$?
start_worker wd --cpus 4

test_expect_success 'the stopped worker exited 0, without joining again' '
    [ $WC_RC -eq 0 ] && grep -q "stopping" wc.log
'

test_expect_success 'the interrupted tasks ran again; all exactly once' '
    $banyan wait --timeout 120 2 &&
    exactly_once b 40 &&
    again=$(grep -l "wb\|wd" $(grep -lx wc started/b*)) &&
    echo "requeued: $again" && [ -n "$again" ] &&
    grep "wc.*said BYE" srv.log &&
    [ "$(grep -c "worker wc joined" srv.log)" -eq 1 ]
'

# ------------------------------------------------------- server restart

test_expect_success 'a job runs when the server is killed' '
    wait_for 20 engines_are 2 &&
    $banyan submit --array 1-40 -- "$(task c 0.5)" >job &&
    [ "$(cat job)" = 3 ] &&
    wait_for 30 test -f started/c5
'
kill -9 $SERVER_PID
wait $SERVER_PID 2>/dev/null
mv srv.log srv.1.log
start_server srv --listen "$EPATH" --heartbeat 200

test_expect_success 'the server restarts on the same database' '
    kill -0 $SERVER_PID && grep -q "listening on $EPATH" srv.log
'

test_expect_success 'the job finishes after the restart' '
    $banyan wait --timeout 120 3 >w3 && cat w3 &&
    grep -q "40 ok" w3
'

test_expect_success 'no task ran twice and none was lost' '
    exactly_once c 40 &&
    for f in started/c*; do
        [ "$(wc -l <$f)" -eq 1 ] || { echo "$f started twice"; return 1; }
    done
'

test_expect_success 'the workers reconnected and the results are kept' '
    wait_for 20 engines_are 2 &&
    $banyan results 3 >r3 && [ "$(grep -c " ok " r3)" -eq 40 ] &&
    $banyan wait 1 && $banyan wait 2
'

# ------------------------------------------------ client gone mid-wait

test_expect_success 'a client killed while waiting does not hurt the server' '
    $banyan submit --array 1-8 -- "$(task d 1)" >job &&
    [ "$(cat job)" = 4 ] &&
    { $banyan wait 4 >w4a 2>&1 & echo $! >>pids; wp=$!; } &&
    sleep 0.3 && kill -9 $wp && ! wait $wp &&
    $banyan status >/dev/null &&
    $banyan wait --timeout 60 4 >w4 && cat w4 && grep -q "8 ok" w4 &&
    exactly_once d 8
'

test_expect_success 'the server is still healthy and counted nothing bad' '
    kill -0 $SERVER_PID &&
    [ "$(status_field malformed)" = 0 ]
'

test_clean_exit
test_done
