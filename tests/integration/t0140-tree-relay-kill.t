#!/bin/sh
# t0140-tree-relay-kill.t - a relay killed in the middle of a job loses
# nothing and runs nothing twice below it (issue 6; docs/tree.md,
# "Heartbeats and losses").  7 real workers below a --fanout 2 root; a job
# of 60 tasks of 1 to 4 s, each writing "start" and "end" lines with its
# worker's name to a file of its own; once tasks run below it, a relay
# that has children (a direct child of the root) is killed with its tasks.
# Its children go back to the root with the tasks they still run, which
# the root adopts; only what ran on the relay's own engine is requeued,
# after the grace period.  Then: every task ends ok; a task ran more than
# once only when its earlier runs were on the killed worker; the runs cut
# short by the kill are at most its slots; the tree is whole again
# without it.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq

N=7
SLOTS=2
TASKS=60

: >srv.log # start_server reads it at once
start_server srv --fanout 2 --grace 3000 --heartbeat 500 || exit 1
start_workers $N --slots $SLOTS
export BANYAN_SERVER=$EP

# Each run appends "WORKER start" and "WORKER end" to the task's file.
# Runs that start before the kill (the file killed.at) last 4 s: they are
# still running when the victim's children come back to the root (after
# 5 silent heartbeats, 2.5 s), which must adopt them; later ones last 1 s.
write_kill_task

test_expect_success "$N workers form a tree of fanout 2 with relays" '
    wait_for 40 tree_formed $N && wait_for 10 workers_logged workers &&
    tree_json | jq -e "[.nodes[] | select(.node != 0 and .children > 0)]
                       | length >= 2"
'

# The victim: the root's direct child with the most engines below it.
victim_node=$($banyan status --json |
    jq '.engines | max_by(.subtree.engines // 0) | .id')
victim=
while read -r name pid; do
    [ "$(tree_node "$name")" = "$victim_node" ] && victim="$name $pid"
done <workers
set -- $victim
victim_name=$1
victim_pid=$2
test_diag "the victim: node $victim_node, worker $victim_name (pid $victim_pid)"

# The workers below the victim (its descendants in the topology).
tree_json >tree.before.json
jq --argjson v "$victim_node" '
    (.nodes | map({key: (.node | tostring), value: .parent}) | from_entries)
        as $p
    | def below($x; $lim):
        $lim > 0 and $p[$x | tostring] != null
        and ($p[$x | tostring] == $v or below($p[$x | tostring]; $lim - 1));
    .nodes[] | select(below(.node; 64)) | .node' tree.before.json >below.nodes
below_names=
while read -r name pid; do
    grep -qx "$(tree_node "$name")" below.nodes &&
        below_names="$below_names $name"
done <workers
test_diag "below it: nodes $(echo $(cat below.nodes)), workers$below_names"

# started_below: a worker below the victim has started a task.
started_below() {
    for sb_name in $below_names; do
        cat ran.* 2>/dev/null | grep -q "^$sb_name start$" && return 0
    done
    return 1
}

test_expect_success "a job of $TASKS tasks runs below the victim" '
    [ -n "$victim_pid" ] && [ -n "$below_names" ] &&
    $banyan submit --array 1-$TASKS -- sh "$PWD/task.sh" >job &&
    wait_for 30 started_below
'

test_expect_success "the victim is killed with its tasks" '
    : >killed.at &&
    kill_tree $victim_pid &&
    wait_for 5 pid_gone $victim_pid
'

test_expect_success "the job ends with every task ok" '
    $banyan wait --timeout 60 "$(cat job)" >wait && cat wait &&
    grep -q "$TASKS ok, 0 failed" wait
'

test_expect_success "every task has a file of its own" '
    [ "$(ls ran.* | wc -l)" -eq $TASKS ]
'

# Every run before the last of a task was on the killed worker: nothing
# ran twice on the engines that survived.
test_expect_success "no task ran twice on a surviving engine" '
    for f in ran.*; do
        runs=$(grep -c " start$" "$f")
        [ "$runs" -ge 1 ] || { echo "$f: no run"; exit 1; }
        [ "$runs" -eq 1 ] && continue
        echo "$f ran $runs times:" && cat "$f"
        grep " start$" "$f" | head -n $((runs - 1)) |
            grep -v "^$victim_name start$" && exit 1
    done
    exit 0
'

test_expect_success "the last run of every task ended" '
    for f in ran.*; do
        [ "$(tail -1 "$f")" = "$(grep " start$" "$f" | tail -1 |
                                 sed "s/ start$/ end/")" ] ||
            { echo "$f:"; cat "$f"; exit 1; }
    done
'

# A run cut short: a "start" not followed by its "end".  Only the killed
# engine's running tasks can be cut short, and it ran $SLOTS at most.
test_expect_success "at most $SLOTS runs were cut short, all on the victim" '
    for f in ran.*; do
        awk "/ start\$/ { if (open != \"\") print open; open = \$1; next }
             / end\$/ { open = \"\" }" "$f"
    done >cut &&
    test_diag "runs cut short: $(echo $(cat cut))" &&
    [ "$(wc -l <cut)" -le $SLOTS ] &&
    ! grep -vx "$victim_name" cut
'

test_expect_success "the victim's children reattached: $((N - 1)) engines" '
    wait_for 20 tree_formed $((N - 1)) &&
    tree_json >tree.after.json &&
    jq -e --argjson v $victim_node "all(.nodes[]; .node != \$v)" \
        tree.after.json &&
    for n in $(cat below.nodes); do
        jq -e --argjson n $n "any(.nodes[]; .node == \$n)" tree.after.json ||
            exit 1
    done
'

# The branch's tasks were held for the grace period, not requeued at
# once; those still running below came back with the victim's children
# and were adopted.
test_expect_success "the root held the branch's tasks and adopted the running ones" '
    tree_json | jq -c .events | tee events &&
    jq -e ".orphaned >= 1 and .orphans_adopted >= 1
           and .orphans_adopted + .orphans_requeued <= .orphaned" events
'

test_clean_exit
test_done
