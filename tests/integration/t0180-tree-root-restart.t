#!/bin/sh
# t0180-tree-root-restart.t - the root (the server) killed with SIGKILL in
# the middle of a job and restarted on the same database and endpoint:
# the whole tree comes back as it was (issue 6; docs/tree.md, "Restart of
# the root").  7 real workers below a --fanout 2 root; a job of 30 tasks,
# each writing "start" and "end" lines with its worker's name to a file of
# its own, the ones started before the kill lasting 4 s.  After the
# restart: the root's topology lists every worker at its old id below its
# old parent (the relays' children never said HELLO to the new root: their
# relays announced them); every task ends ok and ran exactly once; a new
# worker gets an id no worker had and hangs below a node that had fewer
# than k = 2 children.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq

N=7
SLOTS=2
TASKS=30
EPATH="ipc://$PWD/srv.sock"

: >srv.log # start_server reads it at once
start_server srv --listen "$EPATH" --fanout 2 --grace 5000 \
    --heartbeat 500 || exit 1
start_workers $N --slots $SLOTS
export BANYAN_SERVER=$EP

write_kill_task

# shape: "NODE PARENT" of every node but the root, sorted.
shape() {
    tree_json | jq -r '.nodes[] | select(.node != 0)
                       | "\(.node) \(.parent)"' | sort -n
}

# same_shape: the topology is the one saved in shape.before, every node's
# counters reported (its SUMMARY reached the root).
same_shape() {
    shape >shape.now && cmp -s shape.before shape.now &&
        tree_formed $N
}

test_expect_success "$N workers form a tree of fanout 2, three levels" '
    wait_for 40 tree_formed $N && wait_for 10 workers_logged workers &&
    tree_json | jq -e "[.nodes[] | select(.node != 0 and .children > 0)]
                       | length >= 2" &&
    [ "$(tree_json | jq .depth)" -ge 2 ] &&
    shape >shape.before && test_diag "tree: $(tr "\n" , <shape.before)"
'

# Deep nodes: their parent is not the root; they never talk to it.
awk '$2 != 0 { print $1 }' shape.before >deep.nodes
deep_names=
while read -r name pid; do
    grep -qx "$(tree_node "$name")" deep.nodes && deep_names="$deep_names $name"
done <workers

started() {
    [ "$(cat ran.* 2>/dev/null | grep -c " start$")" -ge "$1" ]
}

started_deep() {
    for sd in $deep_names; do
        cat ran.* 2>/dev/null | grep -q "^$sd start$" && return 0
    done
    return 1
}

test_expect_success "a job of $TASKS tasks runs, also on deep nodes" '
    [ -n "$deep_names" ] &&
    $banyan submit --array 1-$TASKS -- sh "$PWD/task.sh" >job &&
    wait_for 30 started 6 && wait_for 20 started_deep
'

test_expect_success "the server is killed with SIGKILL and restarted" '
    : >killed.at &&
    kill -9 $SERVER_PID && wait_for 5 pid_gone $SERVER_PID &&
    mv srv.log srv.1.log && : >srv.log &&
    start_server srv --listen "$EPATH" --fanout 2 --grace 5000 \
        --heartbeat 500 &&
    grep -q "listening on $EPATH" srv.log
'

test_expect_success "the whole tree is back: same ids, same parents" '
    wait_for 30 same_shape ||
        { echo "before:"; cat shape.before; echo "now:"; shape; exit 1; }
'

test_expect_success "status --tree lists every worker" '
    [ "$(tree_json | jq "[.nodes[] | select(.node != 0)] | length")" \
        -eq $N ] &&
    while read -r name pid; do
        n=$(tree_node "$name") &&
        tree_json | jq -e --argjson n "$n" "any(.nodes[]; .node == \$n)" \
            >/dev/null || { echo "$name (node $n) missing"; exit 1; }
    done <workers
'

test_expect_success "the relays announced the deep nodes (no HELLO of theirs)" '
    for n in $(cat deep.nodes); do
        grep -q "node $n is back below node" srv.log ||
            { echo "node $n not announced"; exit 1; }
    done
'

test_expect_success "the job ends with every task ok" '
    $banyan wait --timeout 90 "$(cat job)" >wait && cat wait &&
    grep -q "$TASKS ok, 0 failed" wait
'

test_expect_success "every task ran exactly once" '
    [ "$(ls ran.* | wc -l)" -eq $TASKS ] &&
    for f in ran.*; do
        [ "$(grep -c " start$" "$f")" -eq 1 ] &&
            [ "$(grep -c " end$" "$f")" -eq 1 ] ||
            { echo "$f:"; cat "$f"; exit 1; }
    done
'

# children_of NODE: NODE's children in shape.now.
children_of() {
    awk -v p="$1" '$2 == p' shape.now | wc -l
}

test_expect_success "a new worker gets a fresh id, below a node with room" '
    shape >shape.now &&
    start_worker w8 --slots $SLOTS &&
    echo "w8 $WORKER_PID" >>workers &&
    wait_for 30 tree_formed $((N + 1)) &&
    wait_for 10 workers_logged workers &&
    id8=$(tree_node w8) && p8=$(tree_parent "$id8") &&
    test_diag "w8 is node $id8 below node $p8" &&
    ! awk "{ print \$1 }" shape.before | grep -qx "$id8" &&
    [ "$id8" -gt "$(awk "{ print \$1 }" shape.before | sort -n | tail -1)" ] &&
    [ "$(children_of "$p8")" -lt 2 ] &&
    tree_json | jq -e "all(.nodes[]; .children <= 2)"
'

test_clean_exit
test_done
