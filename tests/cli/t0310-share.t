#!/bin/sh
# t0310-share.t - fair sharing of cores between banyan instances on one host
# (a private arbitration file in the test's directory): two instances get
# half each, the first grows back when the second ends, and the share of a
# kill -9'd third is reclaimed.
#
# Every instance divides 1 core (--share-cpus 1) and its tasks declare a
# quarter core each (--cpus 0.25), so -j4 wants the whole core on any host.
# Concurrency is read back from the task records: the tasks of an instance
# that were running at time T.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

share="--share-file $PWD/s.share --share-cpus 1 --cpus 0.25 --no-score -j4"
now() { date +%s.%N; }
add() { awk "BEGIN { printf \"%.3f\", $1 + $2 }"; }

# conc DB T: tasks of DB running at wall time T.
conc() {
    sql "$1" "select count(*) from tasks where start_time <= $2 and end_time > $2"
}
# level DB FROM TO: "max share" over samples every 50 ms: the most tasks
# running at once and the percentage of samples at that level (a sample can
# fall between one task's end and the next one's start, more so on a busy
# host, so the level is not held in every sample).
level() {
    awk -v db="$1" "BEGIN { for (t = $2; t <= $3; t += 0.05) printf \"%.3f\\n\", t }" |
    while read -r t; do conc "$1" "$t"; done |
    awk "{ n[\$1]++; k++; if (\$1 > m) m = \$1 } END { printf \"%d %d\\n\", m, 100 * n[m] / k }"
}
# at DB FROM TO N: at most N at once, and N in at least 75% of the samples.
at() {
    r=$(level "$1" "$2" "$3")
    echo "$1 $2..$3: max $r% (want $4)"
    test "${r% *}" = "$4" && test "${r#* }" -ge 75
}

test_expect_success 'two instances share the cores half and half' '
    $banyan run $share --db a.db -q -- sh -c "sleep 0.2" ::: $(seq 50) >/dev/null 2>&1 &
    a=$!
    sleep 1
    tb=$(now)
    $banyan run $share --db b.db -q -- sh -c "sleep 0.2" ::: $(seq 80) >/dev/null 2>&1 &
    b=$!
    wait $a && ta=$(now) && wait $b &&
    echo "b started $tb, a ended $ta" &&
    # a alone ran 4 at once
    at a.db $(add $tb -0.6) $(add $tb -0.1) 4 &&
    # within 2 s of the second start both are at half
    at a.db $(add $tb 1.5) $(add $ta -0.4) 2 &&
    at b.db $(add $tb 1.5) $(add $ta -0.4) 2 &&
    # within 2 s of the first end, b grows back to all four
    at b.db $(add $ta 1.5) $(add $ta 1.9) 4
'

test_expect_success 'a cleanly ended instance leaves no record behind' '
    test "$(grep -c . s.share)" = 1
'

test_expect_success 'the share of a kill -9ed instance is reclaimed' '
    for i in 1 2 3; do
        $banyan run $share --db k$i.db -q -- sh -c "sleep 0.2" ::: $(seq 60) >/dev/null 2>&1 &
        eval p$i=\$!
    done
    # measure from when all three hold a record (a loaded host, under
    # ASan, can take a second to start the third)
    n=0
    until grep -q "^$p1 " s.share 2>/dev/null && grep -q "^$p2 " s.share &&
          grep -q "^$p3 " s.share; do
        n=$((n + 1)); test $n -lt 200 || break; sleep 0.05
    done
    sleep 1.5
    tk=$(now)
    kill -9 $p3
    wait $p3
    sleep 2.5
    grep -q "^$p1 " s.share && grep -q "^$p2 " s.share &&
    ! grep -q "^$p3 " s.share &&
    wait $p1 && wait $p2 &&
    at k1.db $(add $tk -0.6) $(add $tk -0.1) 1 &&
    at k1.db $(add $tk 1.5) $(add $tk 2.4) 2 &&
    at k2.db $(add $tk 1.5) $(add $tk 2.4) 2
'

test_expect_success '--no-share stays out of the file' '
    $banyan run --no-share --share-file $PWD/n.share -j2 --db n.db -q -- sh -c "sleep 0.1" ::: 1 2 &&
    ! test -e n.share
'

test_done
