#!/bin/sh
# t0040-kill-resume.t - kill -9 in the middle of a run: the database opens
# cleanly and --resume runs exactly the tasks that had not finished.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

N=40
# Each task logs its start, works a little, then logs its end.
task='echo {} >>starts; sleep 0.1; echo {} >>ends'

test_expect_success 'kill -9 banyan mid-run' '
    $banyan run -j4 --db k.db -q -- sh -c "$task" ::: $(seq $N) >/dev/null 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 100 ] && [ "$(wc -l 2>/dev/null <ends || echo 0)" -lt 10 ]; do
        sleep 0.05; i=$((i + 1))
    done
    kill -9 $pid && wait $pid
    # The tasks that were running died with banyan (its guardian killed
    # their groups); give any leftover a moment before the files are read.
    sleep 0.5
    test "$(wc -l <ends)" -lt $N
'

test_expect_success 'the database opens cleanly afterwards' '
    test "$(sql k.db "pragma integrity_check")" = ok &&
    sql k.db "select seq from tasks where state = \"ok\"" | sort >done_before &&
    test -s done_before
'

test_expect_success '--resume runs exactly the tasks that had not finished' '
    cp starts starts_before &&
    $banyan run --resume -j4 --db k.db -q -- sh -c "$task" ::: $(seq $N) >/dev/null 2>err &&
    grep -q "resuming run" err &&
    # every task is now recorded ok, in one run
    test "$(sql k.db "select count(*) from tasks where state = \"ok\"")" = $N &&
    test "$(sql k.db "select count(*) from runs")" = 1 &&
    # tasks finished before the kill did not start again
    tail -n +$(($(wc -l <starts_before) + 1)) starts | sort >rerun &&
    test -z "$(comm -12 done_before rerun)" &&
    # and every task not finished before was run by the resume
    seq $N | sort >all && comm -23 all done_before | sort >missing &&
    test "$(sort rerun)" = "$(cat missing)"
'

test_expect_success '--resume of a finished run runs nothing' '
    : >starts &&
    $banyan run --resume --db k.db -q -- sh -c "$task" ::: $(seq $N) &&
    ! test -s starts
'

test_expect_success '--resume-failed reruns only the failed tasks' '
    expect_code 1 $banyan run --db f.db -q -- sh -c "echo {} >>ran; test {} != 2" ::: 1 2 3 &&
    : >ran &&
    expect_code 1 $banyan run --resume-failed --db f.db -q -- sh -c "echo {} >>ran; test {} != 2" ::: 1 2 3 &&
    test "$(cat ran)" = 2
'

test_expect_success 'a different command or input is a new run, not a resume' '
    $banyan run --resume --db f.db -- true ::: 1 2 3 &&
    test "$(sql f.db "select count(*) from runs")" = 2
'

test_done
