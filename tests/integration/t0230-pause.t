#!/bin/sh
# t0230-pause.t - a worker paused (SIGSTOP: a VM freeze, a partition)
# longer than five heartbeats is given up for lost; its tasks are held five
# more heartbeats for its return, then requeued.  When it comes back, every
# task ends exactly once with the right state: a task not given to another
# engine meanwhile is adopted where it runs; one that was is killed on the
# paused worker, and only the new run is recorded.  (Issue 17 item 2: both used to end `interrupted`, run zero
# times.)
. "$BANYAN_SRCDIR/tests/integration/lib.sh"

start_server srv --heartbeat 200 || exit 1
start_worker w1 --cpus 2
W1=$WORKER_PID
export BANYAN_SERVER=$EP

cat >task.sh <<EOF
echo "\$BANYAN_WORKER start" >>"$PWD/ran.\$1"
sleep \$2
echo "\$BANYAN_WORKER end" >>"$PWD/ran.\$1"
EOF

started() {
    [ "$(cat ran.* 2>/dev/null | grep -c "^$1 start")" -ge "$2" ]
}

test_expect_success 'a worker runs both tasks of a job, then pauses' '
    wait_for 20 engines_are 1 &&
    $banyan submit -- sh task.sh {} 4 ::: a b >job &&
    wait_for 20 started w1 2 &&
    kill -STOP $W1 &&
    wait_for 20 grep -q "is silent: lost; 2 tasks held" srv.log
'

test_expect_success 'back, its tasks are adopted and end ok, once' '
    kill -CONT $W1 &&
    $banyan wait --timeout 60 1 >w && cat w &&
    grep -q "2 ok" w &&
    [ "$(grep -c "w1 end" ran.a)" -eq 1 ] &&
    [ "$(grep -c "w1 end" ran.b)" -eq 1 ] &&
    [ "$(cat ran.a ran.b | grep -c start)" -eq 2 ]
'

test_expect_success 'no task of it was killed or interrupted' '
    ! grep -q "not adopted" srv.log &&
    $banyan results 1 >r && cat r && ! grep -q interrupted r
'

rm -f ran.*
test_expect_success 'paused again with two tasks; another worker joins' '
    $banyan submit -- sh task.sh {} 6 ::: c d >job &&
    [ "$(cat job)" = 2 ] &&
    wait_for 20 started w1 2 &&
    kill -STOP $W1 &&
    start_worker w2 --cpus 2 &&
    wait_for 30 started w2 2 &&
    grep -q "2 orphaned tasks not claimed within the grace period" srv.log
'

test_expect_success 'back, its runs are killed; the new runs are recorded' '
    kill -CONT $W1 &&
    wait_for 20 grep -q "2 reported tasks not adopted (killed)" srv.log &&
    $banyan wait --timeout 60 2 >w && cat w && grep -q "2 ok" w &&
    $banyan results 2 >r && cat r && ! grep -q interrupted r &&
    [ "$(grep -c " w2 " r)" -eq 2 ] &&
    cat ran.c ran.d &&
    [ "$(cat ran.c ran.d | grep -c "w1 end")" -eq 0 ] &&
    [ "$(cat ran.c ran.d | grep -c "w2 end")" -eq 2 ]
'

test_clean_exit
test_done
