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

share="--share-file $PWD/s.share --share-cpus 1 --cpus 0.25 --no-score -j4"
now() { date +%s.%N; }
add() { awk "BEGIN { printf \"%.3f\", $1 + $2 }"; }

# conc DB T: tasks of DB running at wall time T.
conc() {
    sql "$1" "select count(*) from tasks where start_time <= $2 and end_time > $2"
}
# range DB FROM TO: "min max" concurrency over samples every 50 ms.
range() {
    lo=99 hi=0
    for t in $(awk "BEGIN { for (t = $2; t <= $3; t += 0.05) printf \"%.3f \", t }"); do
        c=$(conc "$1" "$t")
        [ "$c" -lt "$lo" ] && lo=$c
        [ "$c" -gt "$hi" ] && hi=$c
    done
    echo "$lo $hi"
}

test_expect_success 'two instances share the cores half and half' '
    $banyan run $share --db a.db -- sh -c "sleep 0.2" ::: $(seq 50) >/dev/null 2>&1 &
    a=$!
    sleep 1
    tb=$(now)
    $banyan run $share --db b.db -- sh -c "sleep 0.2" ::: $(seq 80) >/dev/null 2>&1 &
    b=$!
    wait $a && ta=$(now) && wait $b &&
    echo "b started $tb, a ended $ta" &&
    # a alone ran 4 at once
    r=$(range a.db $(add $tb -0.6) $(add $tb -0.1)) &&
    echo "a alone: $r" && test "$r" = "4 4" &&
    # within 2 s of the second start both are at half
    r=$(range a.db $(add $tb 1.5) $(add $ta -0.4)) &&
    echo "a shared: $r" && test "$r" = "2 2" &&
    r=$(range b.db $(add $tb 1.5) $(add $ta -0.4)) &&
    echo "b shared: $r" && test "$r" = "2 2" &&
    # within 2 s of the first end, b grows back to all four
    r=$(range b.db $(add $ta 1.5) $(add $ta 1.9)) &&
    echo "b after a: $r" && test "$r" = "4 4"
'

test_expect_success 'a cleanly ended instance leaves no record behind' '
    test "$(grep -c . s.share)" = 1
'

test_expect_success 'the share of a kill -9ed instance is reclaimed' '
    for i in 1 2 3; do
        $banyan run $share --db k$i.db -- sh -c "sleep 0.2" ::: $(seq 60) >/dev/null 2>&1 &
        eval p$i=\$!
    done
    sleep 1.5
    tk=$(now)
    kill -9 $p3
    wait $p3
    sleep 2.5
    grep -q "^$p1 " s.share && grep -q "^$p2 " s.share &&
    ! grep -q "^$p3 " s.share &&
    wait $p1 && wait $p2 &&
    r=$(range k1.db $(add $tk -0.6) $(add $tk -0.1)) &&
    echo "three instances: $r" && test "$r" = "1 1" &&
    r=$(range k1.db $(add $tk 1.5) $(add $tk 2.4)) &&
    echo "after the kill: $r" && test "$r" = "2 2" &&
    r=$(range k2.db $(add $tk 1.5) $(add $tk 2.4)) &&
    echo "the other: $r" && test "$r" = "2 2"
'

test_expect_success '--no-share stays out of the file' '
    $banyan run --no-share --share-file $PWD/n.share -j2 --db n.db -- sh -c "sleep 0.1" ::: 1 2 &&
    ! test -e n.share
'

test_done
