#!/bin/sh
# t0160-worker-privdir.t - a worker's private directory (relay socket, blob
# cache) goes with it: removed when it stops, and swept by the next worker
# of the same TMPDIR when it was killed with SIGKILL (a live worker holds a
# flock on its directory's lock file; a lock anyone can take has no owner).
. "$BANYAN_SRCDIR/tests/integration/lib.sh"

mkdir tmp
export TMPDIR=$PWD/tmp
start_server srv || exit 1
dirs() { ls -d tmp/banyan-worker-* 2>/dev/null | wc -l; }

test_expect_success 'a worker makes one private directory, locked' '
    start_worker w1 --noop && W1=$WORKER_PID &&
    wait_for 20 engines_are 1 &&
    [ "$(dirs)" -eq 1 ] && ls tmp/banyan-worker-*/lock >/dev/null
'

test_expect_success 'killed with SIGKILL, it leaves the directory behind' '
    kill -9 $W1 && wait $W1 2>/dev/null; [ "$(dirs)" -eq 1 ]
'

test_expect_success 'the next worker sweeps it and makes its own' '
    old=$(ls -d tmp/banyan-worker-*) &&
    start_worker w2 --noop && W2=$WORKER_PID &&
    wait_for 20 test -d tmp/banyan-worker-*/cache -o -e tmp/banyan-worker-*/lock &&
    ! test -d "$old" && [ "$(dirs)" -eq 1 ]
'

test_expect_success 'a second live worker does not sweep the first' '
    start_worker w3 --noop && W3=$WORKER_PID &&
    wait_for 20 test "$(dirs)" -eq 2
'

test_expect_success 'a stopped worker removes its directory' '
    kill -TERM $W3 && wait $W3 2>/dev/null;
    wait_for 20 test "$(dirs)" -eq 1
'

test_clean_exit
