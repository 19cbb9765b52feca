#!/bin/sh
# t0050-score.t - capability scores in cluster mode: a worker whose score is
# below --min-score is kept but gets no work; the others get the work.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"

test_expect_success 'a worker below --min-score gets no task' '
    start_server slow --min-score 1000000 &&
    export BANYAN_SERVER=$EP &&
    start_worker w1 &&
    wait_for 20 engines_are 1 &&
    grep -q "gets no work: capability score" slow.log &&
    $banyan submit -- true ::: 1 >job &&
    sleep 1 &&
    $banyan explain "$(cat job)" 1 | grep -q "engine has 0"
'

test_expect_success 'with a low --min-score the same worker runs it' '
    stop_all && : >pids &&
    start_server fast --min-score 1 &&
    export BANYAN_SERVER=$EP &&
    start_worker w2 &&
    wait_for 20 engines_are 1 &&
    $banyan submit --wait -- true ::: 1 2 3 >/dev/null &&
    ! grep -q "gets no work" fast.log
'

test_clean_exit
test_done
