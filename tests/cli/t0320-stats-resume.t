#!/bin/sh
# t0320-stats-resume.t - timing statistics survive kill -9 of the run and
# are added to by --resume: sessions, task runs, busy and wall time, queue
# times of every task.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

N=30
run() { $banyan run --no-share --no-score -j2 --db k.db "$@"; }
usage() { sql k.db "select $1 from usage where kind = \"run\" and ref_id = 1"; }

test_expect_success 'kill -9 a run in the middle' '
    # banyan itself in the background: killing a subshell that runs
    # run() would leave banyan going on while the checks read the rows
    $banyan run --no-share --no-score -j2 --db k.db \
        -q -- sh -c "sleep 0.1" ::: $(seq $N) >/dev/null 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 100 ] &&
          [ "$(sql k.db "select count(*) from tasks where state = \"ok\"" 2>/dev/null || echo 0)" -lt 8 ]; do
        sleep 0.05; i=$((i + 1))
    done
    sleep 0.7 # the statistics are written every 0.5 s
    kill -9 $pid && wait $pid
    sleep 0.3
    test "$(sql k.db "select count(*) from tasks where state = \"ok\"")" -lt $N
'

test_expect_success 'the statistics of the killed session are in the database' '
    test "$(usage sessions)" = 1 &&
    test "$(usage tasks)" = "$(sql k.db "select count(*) from tasks where state = \"ok\"")" &&
    test "$(usage tasks)" -ge 6 &&
    test "$(usage "busy_s > 0.5 and wall_s > 0.3 and capacity_s >= busy_s")" = 1 &&
    usage tasks >tasks1 && usage wall_s >wall1 && usage busy_s >busy1
'

test_expect_success '--resume adds to them' '
    run --resume -q -- sh -c "sleep 0.1" ::: $(seq $N) >/dev/null 2>err &&
    grep -q "resuming run 1" err &&
    test "$(usage sessions)" = 2 &&
    # the counters were committed with the task rows: nothing is lost
    test "$(usage tasks)" = $N &&
    test "$(usage "wall_s > $(cat wall1) and busy_s > $(cat busy1)")" = 1 &&
    test "$(usage "tasks > $(cat tasks1)")" = 1
'

test_expect_success 'every task has its queue, start and end times' '
    test "$(sql k.db "select count(*) from tasks where state = \"ok\"")" = $N &&
    test "$(sql k.db "select count(*) from tasks where queued_time > 0 and
                      start_time >= queued_time and end_time > start_time")" = $N
'

test_expect_success 'banyan stats reports both sessions' '
    $banyan stats --db k.db last >out &&
    grep -q "2 sessions" out &&
    grep -q "tasks ended: $N ($N ok)" out &&
    $banyan stats --db k.db --json | grep -q "\"sessions\": 2"
'

test_done
