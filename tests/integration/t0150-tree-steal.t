#!/bin/sh
# t0150-tree-steal.t - work stealing moves queued work to an idle subtree
# (issue 6; docs/tree.md, "Work stealing").  6 one-slot workers below a
# --fanout 2 root: two relays, A and B, each with two children.  The root
# hands each branch what it can hold: its relay's own slot exactly, and
# its subtree's slots times the prefetch depth, so that each branch runs 3
# tasks and queues 2 at its relay.  A job of exactly that many tasks
# leaves nothing pending at the root.  On A's engines a task sleeps 4 s,
# on B's 1 s: after 1 s B's relay has placed its queue and its children
# free up, while A still queues 2 tasks, which A's relay has reported
# (SUMMARY, every heartbeat of 0.5 s).  B's relay then asks for work
# (STEAL), the root recalls from A (RECALL), A gives queued tasks back
# (RETURN) and they should run in B, long before A's engines are free.
# Every task runs exactly once.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq

N=6

: >srv.log # start_server reads it at once
start_server srv --fanout 2 --heartbeat 500 || exit 1
start_workers $N --slots 1
export BANYAN_SERVER=$EP

test_expect_success "$N workers: two relays with two children each" '
    wait_for 40 tree_formed $N && wait_for 10 workers_logged workers &&
    tree_json | jq -e "[.nodes[] | select(.parent == 0 and .children == 2)]
                       | length == 2"
'

# A: the root's first direct child and its children; B: the other.
$banyan status --json >status.json
a_node=$(jq '[.engines[].id] | min' status.json)
tree_json >tree.json
: >a.names
: >b.names
while read -r name pid; do
    n=$(tree_node "$name")
    p=$(jq --argjson n "${n:-0}" '.nodes[] | select(.node == $n) | .parent' \
        tree.json)
    if [ "$n" = "$a_node" ] || [ "$p" = "$a_node" ]; then
        echo "$name" >>a.names
    else
        echo "$name" >>b.names
    fi
done <workers
test_diag "A (node $a_node): $(echo $(cat a.names)); B: $(echo $(cat b.names))"

# What the root can hand out at once: each direct child's own slots, plus
# its subtree's slots times the prefetch depth.
prefetch=$(tree_counter .prefetch)
held=$(jq --argjson d "$prefetch" '
    [.engines[] | .slots + $d * (.subtree.slots // 0)] | add' status.json)
per_branch=$((held / 2))
test_diag "prefetch $prefetch: the root hands out $held tasks at once"

cat >task.sh <<EOF
echo "\$BANYAN_WORKER" >>"$PWD/ran.\$BANYAN_TASK_ID"
if grep -qx "\$BANYAN_WORKER" "$PWD/a.names"; then sleep 4; else sleep 1; fi
EOF

test_expect_success "a job of $held tasks: each branch holds $per_branch" '
    [ "$(wc -l <a.names)" -eq 3 ] && [ "$(wc -l <b.names)" -eq 3 ] &&
    [ "$held" -gt $N ] &&
    tree_json | jq -c .events >events.before &&
    $banyan submit --array 1-$held -- sh "$PWD/task.sh" >job &&
    $banyan wait --timeout 60 "$(cat job)" >wait && cat wait &&
    grep -q "$held ok, 0 failed" wait
'

test_expect_success 'B stole, the root recalled from A, A returned tasks' '
    tree_json | jq -c .events >events.after &&
    cat events.before events.after &&
    jq -e ".steals >= 1 and .recalls >= 1 and .returned >= 1" events.after
'

# ran_in FILE: runs on the workers named in FILE.
ran_in() {
    cat ran.* | grep -cxf "$1"
}

test_expect_success 'every task ran exactly once' '
    [ "$(ls ran.* | wc -l)" -eq $held ] &&
    for f in ran.*; do
        [ "$(wc -l <"$f")" -eq 1 ] || { echo "$f:"; cat "$f"; exit 1; }
    done
'

# A ran its 3 first tasks and not both it queued; B ran its share and
# what it stole.
test_expect_success 'a task queued in A ran in B' '
    a=$(ran_in a.names) && b=$(ran_in b.names) &&
    echo "A ran $a tasks, B ran $b" &&
    [ $((a + b)) -eq $held ] &&
    [ "$a" -lt "$per_branch" ] && [ "$b" -gt "$per_branch" ]
'

# B, idle again 1 s after its first steal, steals again (steal_retry_ms
# is 1 s) and gets A's other queued task, 2 s before A's engines are
# free: A runs only the 3 tasks it started with.
test_expect_success 'both tasks queued in A ran in B' '
    a=$(ran_in a.names) && b=$(ran_in b.names) &&
    echo "A ran $a tasks, B ran $b" &&
    [ "$a" -eq $((per_branch - 2)) ] && [ "$b" -eq $((per_branch + 2)) ]
'

test_clean_exit
test_done
