#!/bin/sh
# t0130-tree-broadcast.t - a broadcast reaches every engine of the tree
# exactly once, with coalesced replies (issue 6; docs/tree.md,
# "Broadcast").  24 workers below a --fanout 3 root: a command runs once
# on each engine (24 lines in a file, 24 distinct nodes answer); a
# broadcast without a command reaches the 24 as well; the root sends one
# BCAST down each of its k links and receives one BREPLY up each, whatever
# the number of engines; a worker killed just before a broadcast is
# counted missing, within the timeout, and the command exits 1.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq

N=24
K=3

: >srv.log # start_server reads it at once
start_server srv --fanout $K || exit 1
# Real workers (a noop worker acknowledges a broadcast without running
# it), one slot each: no job runs here.
start_workers $N --slots 1
export BANYAN_SERVER=$EP

# bcast_counters: the root's broadcast counters, "started sent received".
bcast_counters() {
    tree_json | jq -r '.broadcasts | "\(.started) \(.sent) \(.received)"'
}

test_expect_success "$N workers form a tree of fanout $K" '
    wait_for 40 tree_formed $N && wait_for 10 workers_logged workers &&
    tree_json | jq -e --argjson k $K "
        [.nodes[] | select(.parent == 0)] | length == \$k"
'

test_expect_success 'a command runs exactly once on every engine' '
    bcast_counters >c0 &&
    $banyan broadcast --json -- sh -c "echo \$\$ >>\"$PWD/ran\"" >b1.json &&
    bcast_counters >c1 && cat b1.json c0 c1 &&
    [ "$(wc -l <ran)" -eq $N ] &&
    [ "$(sort -u ran | wc -l)" -eq $N ] &&
    jq -e --argjson n $N "
        .ok == \$n and .failed == 0 and .missing == 0 and .engines == \$n
        and (.outputs | length) == \$n
        and ([.outputs[].node] | unique | length) == \$n
        and all(.outputs[]; .exit == 0)" b1.json
'

test_expect_success 'the nodes that answered are the nodes of the tree' '
    jq -c "[.outputs[].node] | sort" b1.json >answered &&
    tree_json | jq -c "[.nodes[].node | select(. != 0)] | sort" >nodes &&
    cmp answered nodes
'

test_expect_success "the root sent $K BCAST and received $K BREPLY (one per link)" '
    read -r s0 t0 r0 <c0 && read -r s1 t1 r1 <c1 &&
    [ $((s1 - s0)) -eq 1 ] &&
    [ $((t1 - t0)) -eq $K ] && [ $((r1 - r0)) -eq $K ] &&
    jq -e --argjson k $K ".received == \$k" b1.json
'

test_expect_success "a broadcast without a command reaches the $N engines" '
    bcast_counters >c2 &&
    $banyan broadcast --json >b2.json && bcast_counters >c3 &&
    cat b2.json c2 c3 &&
    jq -e --argjson n $N "
        .ok == \$n and .failed == 0 and .missing == 0
        and ([.outputs[].node] | unique | length) == \$n" b2.json &&
    read -r s2 t2 r2 <c2 && read -r s3 t3 r3 <c3 &&
    [ $((t3 - t2)) -eq $K ] && [ $((r3 - r2)) -eq $K ] &&
    [ "$(wc -l <ran)" -eq $N ]
'

# A leaf (no children), not a child of the root: it is missing alone, and
# its parent, a relay, is the one that counts it.
leaf=$(tree_json | jq '[.nodes[] | select(.parent != 0 and .parent != null
                                          and .children == 0)][0].node')
victim=
while read -r name pid; do
    [ "$(tree_node "$name")" = "$leaf" ] && victim="$name $pid"
done <workers
test_diag "killing leaf node $leaf: worker $victim"

test_expect_success 'a worker killed just before a broadcast is missing, exit 1' '
    [ -n "$victim" ] && set -- $victim && kill -9 "$2" &&
    start=$(date +%s) &&
    expect_code 1 $banyan broadcast --timeout 3 --json >b3.json &&
    end=$(date +%s) && cat b3.json &&
    [ $((end - start)) -le 6 ] &&
    jq -e --argjson n $N --argjson leaf $leaf "
        .missing == 1 and .ok == \$n - 1 and .failed == 0 and .ms <= 3000
        and ([.outputs[].node] | index(\$leaf) == null)" b3.json
'

test_clean_exit
test_done
