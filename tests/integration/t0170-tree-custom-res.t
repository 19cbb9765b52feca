#!/bin/sh
# t0170-tree-custom-res.t - jobs that need a custom resource through the
# tree of schedulers (issue 6; docs/tree.md, "Custom resources").  A
# server with --fanout 2 and six workers of two slots: two hang below the
# root, four below those two relays.  Only two workers deep in the tree
# (below a relay) offer --resource license=1.  A job of 24 tasks needing
# license=1 each, sleeping 0.2 s, prints the worker that ran it.  The
# relays' SUMMARY carries the licenses up, so the root places the tasks on
# the licensed subtrees and the relays on the licensed engines: every task
# ran on a licensed worker and succeeded, and from the start and end times
# no worker ever ran two at once (its license is 1).
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq sqlite3

N=24
CMD=': {}; echo "$BANYAN_WORKER"; sleep 0.2'

start_server srv --fanout 2 || exit 1
# w1 and w2 join first: they are the root's children.  Of the four below
# them, w3 and w6 have the license.
for i in 1 2; do
    start_worker "w$i" --slots 2 --cpus 2 --mem 2G
done
export BANYAN_SERVER=$EP

test_expect_success 'two workers below the root' '
    wait_for 30 tree_formed 2
'

for i in 3 4 5 6; do
    case $i in
    3 | 6) start_worker "w$i" --slots 2 --cpus 2 --mem 2G \
        --resource license=1 ;;
    *) start_worker "w$i" --slots 2 --cpus 2 --mem 2G ;;
    esac
done

test_expect_success 'six workers: the licensed ones are below relays' '
    wait_for 30 tree_formed 6 &&
    $banyan status --json >status.json &&
    jq -r ".engines[].name" status.json | sort >direct &&
    cat direct && [ "$(cat direct)" = "$(printf "w1\nw2")" ]
'

# The licenses reach the root through the relays' SUMMARY: a job that
# needs one waits at the root (kept for engines to come) until then.
test_expect_success 'the root learns the licenses from SUMMARY' '
    $banyan submit --resource license=1 --array 1-2 -- true >probe &&
    $banyan wait --timeout 30 "$(cat probe)" >probe.wait &&
    cat probe.wait && grep -q "2 ok, 0 failed" probe.wait
'

test_expect_success "a job of $N tasks needing license=1 succeeds" '
    $banyan submit --name lic --resource license=1 --array 1-$N -- "$CMD" \
        >j &&
    $banyan wait --timeout 120 "$(cat j)" >wait && cat wait &&
    grep -q "$N ok, 0 failed" wait
'

test_expect_success 'every task ran on a licensed worker' "
    \$banyan results --json \"\$(cat j)\" >r.json &&
    q \"CREATE TABLE r AS SELECT value->>'seq' AS seq,
            value->>'state' AS state, value->>'exit_code' AS code,
            trim(value->>'stdout_tail', char(10)) AS worker,
            CAST(value->>'start_time' AS REAL) AS st,
            CAST(value->>'end_time' AS REAL) AS et
          FROM json_each(readfile('r.json'), '\\\$.tasks')\" &&
    [ \"\$(q 'SELECT count(*), count(DISTINCT seq) FROM r')\" = '$N|$N' ] &&
    none \"SELECT seq, state, code, worker FROM r
           WHERE state != 'ok' OR code != 0 OR worker NOT IN ('w3', 'w6')\" &&
    q 'SELECT worker, count(*) FROM r GROUP BY worker'
"

test_expect_success 'no worker ever ran two at once (license=1 each)' '
    none "SELECT a.worker, a.seq, b.seq FROM r a JOIN r b
          ON b.worker = a.worker AND b.rowid != a.rowid
          AND b.st < a.et AND a.st < b.et"
'

test_expect_success 'the server lost no worker and saw no malformed frame' '
    ! grep -q "lost\|cannot send" srv.log &&
    [ "$(status_field malformed)" = 0 ]
'

test_clean_exit
test_done
