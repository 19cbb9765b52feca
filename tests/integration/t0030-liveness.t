#!/bin/sh
# t0030-liveness.t - a busy server never drops a healthy worker.  A
# 1,000,000-task array flows through two --noop workers while a real worker
# runs sleeping tasks of another job; heartbeats are short (500 ms, lost
# after 2.5 s of silence), so a long pause of the server's loop or of a
# worker's would show.  No worker may be declared lost, on either side, and
# every task of both jobs must complete.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"

N=${BANYAN_LIVENESS_TASKS:-1000000}

start_server srv --heartbeat 500 || exit 1
# Only the real worker has GPUs, so the sleeping job (--gpus 1) is its own.
start_worker noop1 --noop --gpus none
start_worker noop2 --noop --gpus none
BANYAN_GPUS=fake:4 start_worker real --cpus 4
export BANYAN_SERVER=$EP

test_expect_success 'three workers join' '
    wait_for 20 engines_are 3
'

test_expect_success "a $N-task array and a sleeping job run side by side" '
    $banyan submit --name flood --array 1-$N -- true >j1 &&
    $banyan submit --name real --gpus 1 --array 1-40 -- "sleep 0.2 # {}" >j2 &&
    $banyan wait --timeout 240 1 >w1 && cat w1 &&
    $banyan wait --timeout 240 2 >w2 && cat w2 &&
    grep -q "$N ok" w1 && grep -q "40 ok" w2
'

test_expect_success 'the noop workers took the array, the real one the job' '
    $banyan status >st && cat st &&
    $banyan results 2 >r2 &&
    [ "$(grep -c "^ *[0-9][0-9]*  ok .* real " r2)" -eq 40 ] &&
    grep -q " noop1 .* (noop)" st && grep -q " noop2 .* (noop)" st
'

test_expect_success 'no worker was declared lost by the server' '
    cat srv.log && ! grep -q "lost" srv.log &&
    [ "$(grep -c "joined" srv.log)" -eq 3 ]
'

test_expect_success 'no worker lost the server' '
    ! grep -q "lost the server" noop1.log noop2.log real.log
'

test_expect_success 'all three are still attached' '
    engines_are 3
'

test_clean_exit
test_done
