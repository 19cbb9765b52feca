#!/bin/sh
# t0120-tree-blob.t - a job's blob through the tree of schedulers: a server
# with --fanout 2, six workers (four below the two relays) and one flat
# worker (--no-relay, always a direct child of the server).  A 2 MiB random
# file is submitted with --stdin-blob to 120 tasks that check the size of
# their stdin, and with --blob to tasks that compare BANYAN_BLOB_0 with the
# file.  Every task succeeds, on the flat worker and below relays alike.
# Then, from `banyan status --tree --json`, the blob crossed each link of
# the tree once: no node received more than the blob's size + 256 KiB, and
# the server sent at most that much per direct child.
#
# t9120-tree-blob-50m.t sources this file with a larger blob, more tasks
# and more workers (BLOB_MB, NTASKS, NWORKERS, NBLOB_TASKS).
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need jq

: "${BLOB_MB:=2}"
: "${NTASKS:=120}"
: "${NBLOB_TASKS:=$NTASKS}"
: "${NWORKERS:=6}"
: "${FANOUT:=2}"
: "${WAIT_S:=120}"
SIZE=$((BLOB_MB * 1048576))
SLACK=262144

start_server srv --fanout "$FANOUT" || exit 1
i=1
while [ "$i" -le "$NWORKERS" ]; do
    start_worker "w$i" --slots 4
    i=$((i + 1))
done
export BANYAN_SERVER=$EP

# results JOB: "worker exit_code state" per task, from what each printed.
results() {
    $banyan results --json "$1" |
        jq -r '.tasks[] | "\(.stdout_tail | rtrimstr("\n")) \(.exit_code) \(.state)"'
}

# ran_all FILE N: N lines, each "wNAME 0 ok" (or "flat 0 ok").
ran_all() {
    n=$(grep -c "^[a-z0-9]* 0 ok$" "$1")
    echo "$n of $2 tasks ok" && [ "$n" -eq "$2" ] &&
        [ "$(wc -l <"$1")" -eq "$2" ]
}

# below_relays FILE: how many distinct workers that are not direct
# children of the server ran tasks of FILE.
below_relays() {
    $banyan status --json | jq -r '.engines[].name' | sort >direct &&
        cut -d" " -f1 "$1" | sort -u | comm -23 - direct | wc -l
}

test_expect_success "$NWORKERS workers form a tree, a flat worker joins beside it" '
    wait_for 60 tree_formed "$NWORKERS" &&
    start_worker flat --slots 4 --no-relay &&
    wait_for 30 engines_are $((FANOUT + 1))
'

test_expect_success "a $BLOB_MB MiB random file is stdin of $NTASKS tasks" '
    head -c $SIZE /dev/urandom >blob.bin &&
    $banyan submit --name stdin --stdin-blob blob.bin --array 1-$NTASKS -- \
        ": {}; test \"\$(wc -c)\" -eq $SIZE && echo \$BANYAN_WORKER" >j1 &&
    [ "$(cat j1)" = 1 ] &&
    $banyan wait --timeout $WAIT_S 1
'

# The server writes an upload to the store chunk by chunk as it comes, so
# its memory does not grow with the blob: with 50 MiB (t9120) its peak
# stays below the blob's size (it was 76 MB when it held the upload).  Not
# in the ASan build, whose shadow memory and quarantine are not ours.
if [ "$BLOB_MB" -ge 32 ] && [ "${BANYAN_SANITIZED:-0}" = 0 ]; then
    test_expect_success 'the server never held the whole blob in memory' '
        hwm=$(awk "/^VmHWM:/ { print \$2 }" /proc/$SERVER_PID/status) &&
        echo "server peak: $hwm kB, blob $((SIZE / 1024)) kB" &&
        [ "$hwm" -lt $((SIZE / 1024)) ]
    '
fi

test_expect_success 'every stdin task saw the whole blob' '
    results 1 >r1 && ran_all r1 $NTASKS
'

test_expect_success 'stdin tasks ran on the flat worker and below relays' '
    grep -q "^flat " r1 &&
    n=$(below_relays r1) && echo "$n workers below relays" && [ "$n" -ge 1 ]
'

test_expect_success "--blob: $NBLOB_TASKS tasks find the file as BANYAN_BLOB_0" '
    $banyan submit --name blob --blob blob.bin --array 1-$NBLOB_TASKS -- \
        ": {}; cmp \"\$BANYAN_BLOB_0\" \"$PWD/blob.bin\" && echo \$BANYAN_WORKER" >j2 &&
    [ "$(cat j2)" = 2 ] &&
    $banyan wait --timeout $WAIT_S 2 &&
    results 2 >r2 && ran_all r2 $NBLOB_TASKS &&
    grep -q "^flat " r2 && [ "$(below_relays r2)" -ge 1 ]
'

test_expect_success 'the second submit of the same file did not upload it again' '
    tree_json >tree.json &&
    [ "$(jq .blobs.puts tree.json)" = 1 ] &&
    [ "$(jq .blobs.bytes_in tree.json)" = $SIZE ]
'

test_expect_success 'the blob crossed each link once: every node received at most its size + 256 KiB' '
    tree_json >tree.json &&
    jq -c ".nodes[] | {node, parent, bytes_in, bytes_out}" tree.json &&
    [ "$(jq "[.nodes[] | select(.node != 0)] | length" tree.json)" -ge "$NWORKERS" ] &&
    over=$(jq --argjson max $((SIZE + SLACK)) \
        "[.nodes[] | select(.node != 0 and .bytes_in > \$max) | .node]
         | length" tree.json) &&
    [ "$over" = 0 ]
'

test_expect_success 'the server sent at most (direct children) x (size + 256 KiB)' '
    direct=$($banyan status --json | jq ".engines | length") &&
    out=$(jq ".nodes[] | select(.node == 0) | .bytes_out" tree.json) &&
    echo "root sent $out bytes to $direct direct children" &&
    [ "$out" -le $((direct * (SIZE + SLACK))) ] &&
    [ "$out" -ge "$SIZE" ]
'

test_expect_success 'the server logged no failed JOB and lost no worker' '
    ! grep -q "cannot send\|lost" srv.log &&
    [ "$(status_field malformed)" = 0 ]
'

test_clean_exit
test_done
