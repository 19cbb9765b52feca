#!/bin/sh
# t0350-mem-multiplex.t - statistical multiplexing of memory: a task without
# --mem is charged the group's estimate until its tree is seen waiting with
# its peak, then that peak (docs/resources.md).  With tasks of 24 and 200
# MiB under a 500 MiB budget the estimate is about 200 MiB, so charging the
# estimate allows 2 at once; charging settled small tasks their peak allows
# more, and the records show it.  --no-mem-multiplex keeps the old rule.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

helper=$(dirname "$banyan")/tests/exec/exec_helper
run() { $banyan run --no-share --no-score -j8 --mem-total 500M \
        --mem-default 200M "$@"; }
# The most tasks of a database that ran at the same moment.
most() {
    sql "$1" "select max(n) from (select (select count(*) from tasks b
              where b.start_time <= a.start_time and b.end_time > a.start_time)
              as n from tasks a)"
}
# Long enough (2.5 s) for the sampler to see each small task waiting even
# when a loaded host stretches its period.
sizes="200 24 200 24 24 24 24 24 24 24"

test_expect_success 'the memory helper is built' '
    test -x "$helper"
'

test_expect_success 'without multiplexing, the estimate allows two at once' '
    run --no-mem-multiplex --mem-group strict --db s.db -- \
        "$helper" mem {} 2500 ::: $sizes &&
    test "$(sql s.db "select count(*) from tasks where state = \"ok\"")" = 10 &&
    test "$(most s.db)" -le 2
'

test_expect_success 'with it, settled small tasks make room for more' '
    run --mem-group mux --db m.db -- "$helper" mem {} 2500 ::: $sizes &&
    test "$(sql m.db "select count(*) from tasks where state = \"ok\"")" = 10 &&
    n=$(most m.db) && echo "# most at once: $n" &&
    test "$n" -ge 3
'

test_expect_success 'and the charged memory never passed the budget' '
    # Every task at each start: the sum of the peaks of those running
    # stayed within 500 MiB.
    over=$(sql m.db "select count(*) from tasks a where (select sum(peak_rss)
        from tasks b where b.start_time <= a.start_time
        and b.end_time > a.start_time) > 500 * 1048576") &&
    test "$over" = 0
'

test_done
