#!/bin/sh
# t0010-e2e.t - end to end over TCP loopback: a server, two workers with
# fake GPUs (2 and 4), 1,000 tasks in five jobs with mixed resources
# (--gpus 1, --gpus 2, --gpus 0.5, cpu-only, some failing).  Every result is
# checked: state and exit code, output through `banyan log`, the worker that
# ran it, and CUDA_VISIBLE_DEVICES against the GPUs the server assigned on
# that worker.  From the start and end times in the results, no GPU of a
# worker ever held more than its capacity and no worker ran more tasks at
# once than its slots.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need sqlite3

SLOTS=6
# Each task prints who it is, where it ran and which GPUs it saw.
CMD=': {}; echo "$BANYAN_JOB_ID.$BANYAN_TASK_ID $BANYAN_WORKER [$CUDA_VISIBLE_DEVICES]"; sleep 0.02'

start_server srv || exit 1
BANYAN_GPUS=fake:2 start_worker wa --cpus $SLOTS --mem 8G
BANYAN_GPUS=fake:4 start_worker wb --cpus $SLOTS --mem 8G
export BANYAN_SERVER=$EP

# load_results: all results into r(job, seq, state, code, worker, gpus,
# st, et, out) through `banyan results --json` and SQLite's JSON reader.
load_results() {
    q "CREATE TABLE r(job, seq, state, code, worker, gpus, st REAL, et REAL,
                      out)" || return 1
    for j in 1 2 3 4 5; do
        $banyan results --json $j >r$j.json || return 1
        q "INSERT INTO r SELECT $j, value->>'seq', value->>'state',
               value->>'exit_code', value->>'worker',
               coalesce(value->>'gpus', ''), value->>'start_time',
               value->>'end_time', value->>'stdout_tail'
             FROM json_each(readfile('r$j.json'), '\$.tasks')" || return 1
    done
    n=$(q "SELECT count(*), count(DISTINCT job || '.' || seq) FROM r")
    [ "$n" = "1000|1000" ] || { echo "rows: $n"; return 1; }
}

# The line each task printed, as the results say it should be.
EXPECTED="job || '.' || seq || ' ' || worker || ' [' || gpus || ']'"

test_expect_success 'both workers join the server' '
    wait_for 20 engines_are 2 &&
    $banyan status >status.txt && cat status.txt &&
    grep -q " wa " status.txt && grep -q " wb " status.txt
'

test_expect_success 'five jobs, 1,000 tasks, are submitted' '
    $banyan submit --name g1 --gpus 1 --array 1-300 -- "$CMD" >j1 &&
    $banyan submit --name g2 --gpus 2 --array 1-150 -- "$CMD" >j2 &&
    $banyan submit --name half --gpus 0.5 --array 1-200 -- "$CMD" >j3 &&
    $banyan submit --name cpu --cpus 1 --array 1-300 -- "$CMD" >j4 &&
    $banyan submit --name fail --array 1-50 -- "$CMD; exit \$(({} % 4))" >j5 &&
    [ "$(cat j1 j2 j3 j4 j5 | tr "\n" " ")" = "1 2 3 4 5 " ]
'

test_expect_success 'wait: the four good jobs succeed, the failing one exits 1' '
    for j in 1 2 3 4; do
        $banyan wait --timeout 120 $j || { echo "job $j"; return 1; }
    done &&
    expect_code 1 $banyan wait --timeout 60 5 >w5 && cat w5 &&
    grep -q "38 failed" w5
'

test_expect_success 'results: every task of every job has one result' '
    load_results
'

test_expect_success 'exit codes and states are the tasks own' "
    none \"SELECT job, seq, state, code FROM r WHERE
        (job < 5 AND (state != 'ok' OR code != 0)) OR
        (job = 5 AND (code != seq % 4 OR
             state != CASE WHEN seq % 4 = 0 THEN 'ok' ELSE 'failed' END))\"
"

test_expect_success 'every task ran on a named worker, both workers worked' '
    q "SELECT worker, count(*) FROM r GROUP BY worker" >byworker &&
    cat byworker &&
    [ "$(cut -d"|" -f1 byworker | tr "\n" " ")" = "wa wb " ]
'

test_expect_success 'GPUs: the count each job asked for, within the worker' "
    none \"SELECT job, seq, worker, gpus FROM r WHERE
        (job IN (1, 3) AND gpus NOT GLOB '[0-9]') OR
        (job = 2 AND gpus NOT GLOB '[0-9],[0-9]') OR
        (job IN (4, 5) AND gpus != '') OR
        (worker = 'wa' AND gpus GLOB '*[2-9]*') OR
        (worker = 'wb' AND gpus GLOB '*[4-9]*') OR
        (job = 2 AND substr(gpus, 1, 1) = substr(gpus, 3, 1))\"
"

test_expect_success 'output: each task saw its own id, worker and GPUs' '
    none "SELECT job, seq, out FROM r WHERE out != $EXPECTED || char(10)"
'

test_expect_success 'banyan log: one line per task, the same as the results' '
    for j in 1 2 3 4 5; do
        $banyan log $j >>all.log || return 1
    done &&
    [ "$(wc -l <all.log)" -eq 1000 ] &&
    q "CREATE TABLE l(line)" && q ".import all.log l" &&
    none "SELECT job, seq FROM r WHERE $EXPECTED NOT IN (SELECT line FROM l)"
'

test_expect_success 'banyan log JOB TASK prints that task alone' '
    $banyan log 2 17 >one && cat one &&
    [ "$(wc -l <one)" -eq 1 ] && grep -q "^2\.17 w[ab] \[[0-9],[0-9]\]$" one
'

# u: one row per (task, GPU) with its share in milli-GPUs.
test_expect_success 'no GPU of a worker ever held more than its capacity' "
    q \"CREATE TABLE u AS
        SELECT worker, CAST(substr(gpus, 1, 1) AS INT) AS gpu,
               CASE job WHEN 3 THEN 500 ELSE 1000 END AS share, st, et
          FROM r WHERE gpus != ''
        UNION ALL
        SELECT worker, CAST(substr(gpus, 3, 1) AS INT), 1000, st, et
          FROM r WHERE length(gpus) = 3\" &&
    none \"SELECT a.worker, a.gpu, a.st, sum(b.share) FROM u a
        JOIN u b ON b.worker = a.worker AND b.gpu = a.gpu
                AND b.st <= a.st AND b.et > a.st
        GROUP BY a.rowid HAVING sum(b.share) > 1000\"
"

test_expect_success 'tasks really overlapped (so the check above bites)' '
    n=$(q "SELECT count(*) FROM u a JOIN u b ON b.worker = a.worker
           AND b.gpu = a.gpu AND b.rowid != a.rowid
           AND b.st <= a.st AND b.et > a.st") &&
    echo "$n overlapping pairs on one GPU (0.5 GPU tasks)" &&
    [ "$n" -gt 0 ] &&
    n=$(q "SELECT count(*) FROM r a JOIN r b ON b.worker = a.worker
           AND b.rowid != a.rowid AND b.st <= a.st AND b.et > a.st") &&
    echo "$n overlapping pairs on one worker" && [ "$n" -gt 0 ]
'

test_expect_success "no worker ran more than its $SLOTS slots at once" '
    none "SELECT a.worker, a.job, a.seq, count(*) FROM r a
        JOIN r b ON b.worker = a.worker AND b.st <= a.st AND b.et > a.st
        GROUP BY a.job, a.seq HAVING count(*) > $SLOTS"
'

test_expect_success 'results without a job lists the five jobs' '
    $banyan results >jobs.txt && cat jobs.txt &&
    for n in g1 g2 half cpu fail; do grep -q " $n " jobs.txt || return 1; done
'

test_expect_success 'explain on an ended task says its state' '
    $banyan explain 5 2 >ex && cat ex && grep -qi "failed" ex
'

test_expect_success 'the server lost no worker and saw no malformed frame' '
    ! grep -q "lost" srv.log &&
    [ "$(status_field malformed)" = 0 ] && [ "$(status_field refused)" = 0 ]
'

test_clean_exit
test_done
