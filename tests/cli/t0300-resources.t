#!/bin/sh
# t0300-resources.t - memory learning and limits through the command line:
# --mem-limit kills only the task above it and names limit and peak; tasks
# without --mem learn an estimate per group, which `banyan stats` shows
# (text and --json); --requeue-on-signal.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

helper=$(dirname "$banyan")/tests/exec/exec_helper
run() { $banyan run --no-share --no-score "$@"; }

# A task that logs its start and end around 16 MiB held for 0.4 s.
printf '#!/bin/sh\necho start >>log\n"%s" mem 16 400\necho end >>log\n' \
    "$helper" >logged.sh
# A task killed by SIGKILL the first time it runs (as by the OOM killer).
printf '#!/bin/sh\ntest -e once || { : >once; kill -9 $$; }\necho ran\n' \
    >killed_once.sh
chmod +x logged.sh killed_once.sh

test_expect_success 'the memory helper is built' '
    test -x "$helper"
'

test_expect_success 'a task above --mem-limit is killed, the others are not' '
    expect_code 1 run -j3 --mem-limit 50M --db m.db -- "$helper" mem {} 1500 ::: 10 120 20 2>err &&
    test "$(sql m.db "select state from tasks where seq = 2")" = killed &&
    test "$(sql m.db "select count(*) from tasks where state = \"ok\"")" = 2 &&
    grep -q "memory limit 50M exceeded: peak" err
'

test_expect_success 'its reason names the limit and the peak' '
    reason=$(sql m.db "select reason from tasks where seq = 2") &&
    echo "$reason" | grep -Eq "^memory limit 50M exceeded: peak [0-9.]+M$" &&
    peak=$(sql m.db "select peak_rss from tasks where seq = 2") &&
    test "$peak" -gt $((50 * 1024 * 1024))
'

test_expect_success 'it was killed promptly, not after its 1.5 s' '
    test "$(sql m.db "select end_time - start_time < 1.2 from tasks where seq = 2")" = 1
'

test_expect_success 'tasks without --mem teach the group its estimate' '
    run -j2 --mem-group small --db g.db -- "$helper" mem {} 300 ::: 20 22 24 26 &&
    test "$(sql g.db "select count from estimates where grp = \"small\"")" = 4 &&
    hwm=$(sql g.db "select hwm from estimates where grp = \"small\"") &&
    test "$hwm" -gt $((24 * 1024 * 1024)) && test "$hwm" -lt $((64 * 1024 * 1024))
'

test_expect_success 'the default group is the command' '
    run -j2 --db g.db -- "$helper" mem {} 200 ::: 5 6 &&
    sql g.db "select grp from estimates" | grep -q "exec_helper mem {} 200"
'

test_expect_success 'banyan stats shows each group and the run usage' '
    $banyan stats --db g.db >out &&
    grep -Eq "^small +4 " out &&
    grep -q "^run 1 on " out &&
    grep -q "waiting for:" out &&
    grep -q "memory measurement:" out
'

test_expect_success 'banyan stats --json gives the same figures' '
    $banyan stats --db g.db --json >out.json &&
    grep -q "\"group\": \"small\"" out.json &&
    grep -q "\"count\": 4" out.json &&
    grep -q "\"sessions\": 1" out.json &&
    grep -q "\"overhead_pct\"" out.json
'

test_expect_success 'banyan stats RUN and its errors' '
    $banyan stats --db g.db 1 >one &&
    grep -q "tasks ended: 4 (4 ok)" one &&
    $banyan stats --db g.db last --json | grep -q "\"task_times\"" &&
    expect_code 2 $banyan stats --db g.db 99 2>/dev/null &&
    expect_code 2 $banyan stats --db missing.db 2>/dev/null &&
    expect_code 2 $banyan stats --db g.db --bogus 2>/dev/null
'

test_expect_success 'a learnt group is admitted against its estimate' '
    # 200M budget and a 100M default: two at a time until 3 samples, then
    # the learnt ~20M lets four run together.
    run -j4 --mem-group learn --mem-default 100M --mem-total 200M --db a.db -- \
        ./logged.sh {} ::: $(seq 10) &&
    test "$(head -n 3 log | grep -c start)" = 2 &&
    test "$(sql a.db "select count from estimates where grp = \"learn\"")" = 10 &&
    max=$(awk "/start/ {n++; if (n > m) m = n} /end/ {n--} END {print m}" log) &&
    test "$max" -gt 2
'

test_expect_success '--requeue-on-signal requeues a task killed by SIGKILL' '
    run --requeue-on-signal --mem-group rq --db r.db -- ./killed_once.sh ::: 1 >out &&
    test "$(cat out)" = ran &&
    test "$(sql r.db "select state || \" \" || attempt from tasks")" = "ok 2" &&
    test "$(sql r.db "select floor > 0 from estimates where grp = \"rq\"")" = 1
'

test_expect_success 'without it the task fails, named by its signal' '
    rm -f once &&
    expect_code 1 run --mem-group rq --db r2.db -- ./killed_once.sh ::: 1 2>err &&
    sql r2.db "select reason from tasks" | grep -q "killed by signal 9"
'

test_expect_success 'bad resource options are usage errors (255, as GNU Parallel)' '
    expect_code 255 run --mem-limit lots true ::: 1 2>/dev/null &&
    expect_code 255 run --on-critical maybe true ::: 1 2>/dev/null &&
    expect_code 255 run --share-cpus 0 true ::: 1 2>/dev/null &&
    expect_code 255 run --requeue-max x true ::: 1 2>/dev/null
'

test_done
