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
locks() { ls tmp/banyan-worker-*/lock 2>/dev/null | wc -l; }
# For wait_for, which runs its command again and again: counts now.
dirs_are() { [ "$(dirs)" -eq "$1" ]; }
locks_are() { [ "$(locks)" -eq "$1" ]; }

start_worker w1 --noop
W1=$WORKER_PID
test_expect_success 'a worker makes one private directory, locked' '
    wait_for 20 engines_are 1 && wait_for 20 locks_are 1 &&
    [ "$(dirs)" -eq 1 ]
'

kill -9 $W1
wait $W1 2>/dev/null
old=$(ls -d tmp/banyan-worker-*)
test_expect_success 'killed with SIGKILL, it leaves the directory behind' '
    [ "$(dirs)" -eq 1 ] && test -d "$old"
'

start_worker w2 --noop
test_expect_success 'the next worker sweeps it and makes its own' '
    wait_for 20 test ! -d "$old" && wait_for 20 locks_are 1 &&
    [ "$(dirs)" -eq 1 ]
'

start_worker w3 --noop
W3=$WORKER_PID
test_expect_success 'a second live worker does not sweep the first' '
    wait_for 20 locks_are 2 && [ "$(dirs)" -eq 2 ]
'

kill -TERM $W3
wait $W3 2>/dev/null
test_expect_success 'a stopped worker removes its directory' '
    wait_for 20 dirs_are 1
'

test_clean_exit
test_done
