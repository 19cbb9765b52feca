#!/bin/sh
# t0330-critical.t - the critical memory level, forced by setting it far
# above any host's memory: the youngest task is suspended (and a timeout
# still ends it), or killed and requeued up to --requeue-max, with a reason
# that names the level.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

run() { $banyan run --no-share --no-score --mem-reserve 0 "$@"; }

test_expect_success 'below the critical level the youngest task is suspended' '
    expect_code 1 run --mem-critical 1000000G --timeout 1 --kill-grace 0.2 --db s.db -- sleep 30 ::: 1 2>err &&
    grep -q "suspending task 1" err &&
    test "$(sql s.db "select state from tasks")" = timeout &&
    test "$(sql s.db "select suspends from usage")" = 1
'

test_expect_success 'a suspended task does not run (SIGSTOP reaches its group)' '
    # The task counts for 2 s; suspended after about 0.2 s it cannot
    # finish before its 1.5 s timeout.
    expect_code 1 run --mem-critical 1000000G --timeout 1.5 --kill-grace 0.2 --db s2.db -q -- \
        sh -c "echo 0 >count; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; echo \$i >>count; done" ::: 1 2>/dev/null &&
    test -s count && test "$(wc -l <count)" -lt 5
'

test_expect_success '--on-critical kill kills and requeues, then fails it' '
    expect_code 1 run --mem-critical 1000000G --on-critical kill --requeue-max 2 --db k.db -- sleep 30 ::: 1 2>err &&
    test "$(grep -c "killing task 1" err)" = 3 &&
    test "$(sql k.db "select state || \" \" || attempt from tasks")" = "killed 3" &&
    sql k.db "select reason from tasks" | grep -q "^host memory critical: MemAvailable .* below 976.6T.*requeued 2 times already" &&
    test "$(sql k.db "select critical_kills || \" \" || requeued from usage")" = "3 2"
'

test_done
