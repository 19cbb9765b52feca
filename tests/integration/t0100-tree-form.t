#!/bin/sh
# t0100-tree-form.t - the tree of schedulers forms and stays balanced
# (issue 6).  For each fanout k and n noop workers (2/16, 3/20, 4/32,
# 8/64): `status --tree --json` shows n + 1 nodes, none with more than k
# children, every parent present, and the depth D(n, k) of a complete
# k-ary tree (docs/tree.md: the server's topology has host_slack 0, so the
# depth is exactly D after every join).  Then a job of 10,000 noop tasks
# completes, and its tasks reached engines below relays: the job's
# definition crosses a link only before the first task placed across it,
# so a node whose received bytes grew by the size of that definition (a
# 4 KiB argument: far beyond a few heartbeats) had tasks placed on it.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq

# The argument that makes the job's definition large; noop workers never
# run it.
BIG=$(printf '%04096d' 0)

# The shape of a tree as one JSON object (jq program over tree_json).
SHAPE='
(.nodes | map({key: (.node | tostring), value: .parent}) | from_entries)
    as $p
| def depth($x; $lim):
    if $x == 0 then 0
    elif $lim == 0 or ($p | has($x | tostring) | not) then 1000
    else 1 + depth($p[$x | tostring]; $lim - 1) end;
{
  nodes: (.nodes | length),
  distinct: ([.nodes[].node] | unique | length),
  parentless: [.nodes[] | select(.node != 0)
               | select(.parent as $q
                        | $q == null or ($p | has($q | tostring) | not))
               | .node],
  max_children: ([.nodes[].node as $id
                  | [.nodes[] | select(.parent == $id)] | length] | max),
  children_mismatch: [.nodes[].node as $id
                      | .nodes[] | select(.node == $id)
                      | select(.children != ([$p | to_entries[]
                                              | select(.value == $id)]
                                             | length)) | .node],
  depth: ([.nodes[].node | depth(.; 64)] | max),
  reported_depth: .depth,
  fanout: .fanout
}'

# Nodes below a relay (parent not the root) whose received bytes grew by
# at least 4 KiB between two tree_json snapshots: $1 before, $2 after.
reached_below_relays() {
    jq -n --slurpfile a "$1" --slurpfile b "$2" '
        ($a[0].nodes | map({key: (.node | tostring), value: .bytes_in})
         | from_entries) as $before
        | [$b[0].nodes[] | select(.parent != null and .parent != 0)
           | select(.bytes_in - ($before[.node | tostring] // 0) >= 4096)]
        | length'
}

# below_relays FILE: how many nodes of a tree_json snapshot hang below a
# relay.
below_relays() {
    jq '[.nodes[] | select(.parent != null and .parent != 0)] | length' "$1"
}

# reached BEFORE AFTER: a fresh snapshot in AFTER shows tasks below relays.
reached() {
    tree_json >"$2" && [ "$(reached_below_relays "$1" "$2")" -ge 1 ]
}

one_tree() {
    k=$1
    n=$2
    d=$(tree_depth_bound "$n" "$k")
    : >"srv$k.log" # start_server reads it at once
    start_server "srv$k" --fanout "$k" || return 1
    EP_K=$EP
    i=1
    while [ "$i" -le "$n" ]; do
        # A few slots each: the root's direct children cannot hold the
        # whole job, so its subtrees get tasks too.
        start_worker "k$k-w$i" --noop --slots 4
        i=$((i + 1))
    done

    test_expect_success "k=$k: $n workers form a tree of $((n + 1)) nodes" '
        wait_for 40 tree_formed $n
    '

    test_expect_success "k=$k: at most $k children each, every parent there, depth D($n, $k) = $d" '
        EP=$EP_K && tree_json >tree$k.json &&
        jq "$SHAPE" tree$k.json >shape$k.json && cat shape$k.json &&
        jq -e --argjson n $n --argjson k $k --argjson d $d "
            .nodes == \$n + 1 and .distinct == \$n + 1
            and .parentless == [] and .max_children <= \$k
            and .children_mismatch == [] and .fanout == \$k
            and .depth == \$d and .reported_depth == \$d" shape$k.json
    '

    test_expect_success "k=$k: 10,000 noop tasks complete, some below relays" '
        EP=$EP_K && export BANYAN_SERVER=$EP &&
        tree_json >before$k.json &&
        $banyan submit --array 1-10000 -- true "{} $BIG" >job$k &&
        $banyan wait --timeout 60 "$(cat job$k)" >wait$k && cat wait$k &&
        grep -q "10000 ok, 0 failed" wait$k &&
        wait_for 20 reached before$k.json after$k.json ||
        { cat after$k.json; false; }
    '
    test_diag "k=$k: $(reached_below_relays before$k.json after$k.json) of" \
        "$(below_relays after$k.json) nodes below relays got tasks"

    test_expect_success "k=$k: every process stops cleanly" '
        stop_all
    '
}

one_tree 2 16
one_tree 3 20
one_tree 4 32
one_tree 8 64

test_clean_exit
test_done
