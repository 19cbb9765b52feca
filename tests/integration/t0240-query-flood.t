#!/bin/sh
# t0240-query-flood.t - a flood of queries never makes the server drop a
# healthy worker.  With 100 jobs queued, each status answer is a walk of
# them; after a burst of malformed messages, four peers send 10,000 status
# queries each as fast as the link takes them while a worker runs tasks.
# Heartbeats are short (100 ms, lost after 0.5 s of silence).  (Issue 17
# item 3: the server used to answer up to 50,000 queries in one pass and
# then hold the worker's unread PONGs against it.)
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
rawpeer=$1

start_server srv --heartbeat 100 || exit 1
start_worker w1 --cpus 2
export BANYAN_SERVER=$EP

test_expect_success 'a worker runs a job; 100 more jobs wait' '
    wait_for 20 engines_are 1 &&
    $banyan submit -- sh -c "sleep 4; echo {} >>$PWD/ran" ::: a b >job &&
    i=0 && while [ $i -lt 100 ]; do
        $banyan submit --array 1-1000 -- sleep 100 >/dev/null || break
        i=$((i + 1))
    done && [ $i -eq 100 ]
'

# Under ASan (make check-asan sets ASAN_OPTIONS) each answer costs several
# times more: a quarter of the queries stretch its passes as far.
Q=10000
[ -n "${ASAN_OPTIONS:-}" ] && Q=2500

test_expect_success "malformed messages, then 4 x $Q status queries" '
    "$rawpeer" "$EP" 1000 &&
    for i in 1 2 3 4; do "$rawpeer" "$EP" $Q status >f$i & done &&
    wait && [ "$(cat f1 f2 f3 f4 | grep -c "sent $Q")" -eq 4 ]
'

test_expect_success 'the worker was never lost, its tasks ran once' '
    $banyan wait --timeout 120 1 >w && cat w && grep -q "2 ok" w &&
    ! grep -E "lost|silent" srv.log &&
    [ "$(grep -c joined srv.log)" -eq 1 ] &&
    [ "$(wc -l <ran)" -eq 2 ]
'

test_clean_exit
test_done
