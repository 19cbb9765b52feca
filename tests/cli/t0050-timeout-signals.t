#!/bin/sh
# t0050-timeout-signals.t - timeouts and interruption kill whole process
# groups: no grandchild survives, and the tasks are recorded.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

# A process is alive while it exists and is not a zombie (orphans here may
# wait a while for an init that reaps slowly).  Give a dying process up to a
# second to go.
alive() {
    i=0
    while [ $i -lt 20 ]; do
        st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
        [ -z "$st" ] || [ "$st" = Z ] && return 1
        sleep 0.05
        i=$((i + 1))
    done
    return 0
}

test_expect_success 'a timed-out task is killed with its grandchildren' '
    expect_code 1 $banyan run --timeout 0.5 --db t.db -q -- sh -c "sleep 60 & echo \$! >gc.pid; sleep 60 & echo \$! >gc2.pid; wait" ::: 1 &&
    test -s gc.pid && ! alive $(cat gc.pid) && ! alive $(cat gc2.pid) &&
    test "$(sql t.db "select state from tasks")" = timeout &&
    sql t.db "select reason from tasks" | grep -q "timed out"
'

test_expect_success 'a task ignoring SIGTERM is killed after the grace' '
    expect_code 1 $banyan run --timeout 0.3 --kill-grace 0.3 --db t2.db -q -- sh -c "trap \"\" TERM; sleep 60 & echo \$! >gc3.pid; wait; wait" ::: 1 &&
    ! alive $(cat gc3.pid) &&
    test "$(sql t2.db "select state from tasks")" = timeout
'

test_expect_success 'other tasks are unaffected by one timeout' '
    expect_code 1 $banyan run -k --timeout 1 --db t3.db -q -- sh -c "sleep {}; echo {}" ::: 0 5 0.1 >out &&
    printf "0\n0.1\n" >want && cmp out want
'

for sig in INT TERM HUP; do
test_expect_success "SIG$sig terminates every running group, recorded as interrupted" '
    $banyan run -j3 --db s$sig.db -q -- sh -c "sleep 60 & echo \$! >g{}.pid; wait" ::: a b c d e >/dev/null 2>err &
    pid=$!
    i=0
    while [ $i -lt 100 ] && [ "$(ls g?.pid 2>/dev/null | wc -l)" -lt 3 ]; do sleep 0.05; i=$((i + 1)); done
    sleep 0.2
    kill -'$sig' $pid; wait $pid; rc=$?
    ok=1
    for f in g?.pid; do alive $(cat $f) && ok=0; done
    rm -f g?.pid
    test $ok = 1 && test $rc -gt 128 &&
    test "$(sql s'$sig'.db "select count(*) from tasks where state = \"interrupted\"")" = 3 &&
    test "$(sql s'$sig'.db "select state from runs")" = interrupted
'
done

test_done
