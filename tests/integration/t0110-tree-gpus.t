#!/bin/sh
# t0110-tree-gpus.t - GPU jobs through the tree of schedulers: a server with
# --fanout 2 and six workers with two fake GPUs and four slots each, so that
# four of them hang below the two relays.  A job of 60 tasks asking for one
# GPU each, sleeping 0.2 s, prints the worker that ran it and its
# CUDA_VISIBLE_DEVICES.  Every task ran with exactly one GPU; from the start
# and end times in the results, no two tasks on one worker ever held the
# same GPU at once (a relay that placed tasks by slots alone would put four
# on a two-GPU engine); and the engines below the relays ran some of them
# (the relays placed GPU tasks with exact allocations).
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq sqlite3

N=60
CMD=': {}; echo "$BANYAN_WORKER [$CUDA_VISIBLE_DEVICES]"; sleep 0.2'

start_server srv --fanout 2 || exit 1
for i in 1 2 3 4 5 6; do
    BANYAN_GPUS=fake:2 start_worker "w$i" --slots 4 --cpus 4 --mem 4G
done
export BANYAN_SERVER=$EP

test_expect_success 'six workers form a tree: two below the root, four below relays' '
    wait_for 30 tree_formed 6 &&
    tree_json >tree.json &&
    [ "$(jq "[.nodes[] | select(.parent == 0)] | length" tree.json)" = 2 ] &&
    [ "$(jq "[.nodes[] | select(.parent != null and .parent != 0)]
             | length" tree.json)" = 4 ]
'

test_expect_success "a job of $N one-GPU tasks succeeds" '
    $banyan submit --name gpu --gpus 1 --array 1-$N -- "$CMD" >j &&
    [ "$(cat j)" = 1 ] &&
    $banyan wait --timeout 120 1
'

# r(seq, state, code, worker, gpus, st, et): the worker and the GPUs from
# what each task printed (the engine that ran it, wherever in the tree).
test_expect_success 'every task has one ok result, with one GPU' "
    \$banyan results --json 1 >r.json &&
    q \"CREATE TABLE r AS SELECT value->>'seq' AS seq,
            value->>'state' AS state, value->>'exit_code' AS code,
            value->>'stdout_tail' AS out,
            CAST(value->>'start_time' AS REAL) AS st,
            CAST(value->>'end_time' AS REAL) AS et
          FROM json_each(readfile('r.json'), '\\\$.tasks')\" &&
    q \"ALTER TABLE r ADD worker\" && q \"ALTER TABLE r ADD gpus\" &&
    q \"UPDATE r SET worker = substr(out, 1, instr(out, ' ') - 1),
                     gpus = substr(out, instr(out, '[') + 1,
                                   instr(out, ']') - instr(out, '[') - 1)\" &&
    [ \"\$(q 'SELECT count(*), count(DISTINCT seq) FROM r')\" = '$N|$N' ] &&
    none \"SELECT seq, state, code, out FROM r
           WHERE state != 'ok' OR code != 0 OR gpus NOT IN ('0', '1')
              OR worker NOT GLOB 'w[1-6]'\"
"

test_expect_success 'no two tasks on one worker held the same GPU at once' '
    none "SELECT a.worker, a.gpus, a.seq, b.seq FROM r a JOIN r b
          ON b.worker = a.worker AND b.gpus = a.gpus AND b.rowid != a.rowid
          AND b.st < a.et AND a.st < b.et"
'

test_expect_success 'tasks really ran side by side on one worker (so the check bites)' '
    n=$(q "SELECT count(*) FROM r a JOIN r b ON b.worker = a.worker
           AND b.rowid < a.rowid AND b.st < a.et AND a.st < b.et") &&
    echo "$n overlapping pairs on one worker" && [ "$n" -gt 0 ]
'

test_expect_success 'engines below the relays ran GPU tasks' '
    $banyan status --json >status.json &&
    jq -r ".engines[].name" status.json | sort >direct &&
    cat direct && [ "$(wc -l <direct)" = 2 ] &&
    q "SELECT worker, count(*) FROM r GROUP BY worker" >byworker &&
    cat byworker &&
    below=$(cut -d"|" -f1 byworker | sort | comm -23 - direct | wc -l) &&
    echo "$below workers below relays ran tasks" && [ "$below" -ge 1 ]
'

test_expect_success 'the server lost no worker and saw no malformed frame' '
    ! grep -q "lost\|cannot send" srv.log &&
    [ "$(status_field malformed)" = 0 ]
'

test_clean_exit
test_done
