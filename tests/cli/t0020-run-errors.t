#!/bin/sh
# t0020-run-errors.t - bad input: a one-line error, exit code 2, nothing run.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

test_expect_success 'unknown option' '
    check_usage_error "unknown option .--frobnicate." $banyan run --frobnicate echo ::: 1
'

test_expect_success 'option without its value' '
    check_usage_error "needs a value" $banyan run echo ::: 1 --jobs 2>/dev/null ||
    check_usage_error "needs a value" $banyan run --jobs
'

test_expect_success 'bad --jobs, --mem, --gpus, --timeout, --halt values' '
    check_usage_error "invalid --jobs" $banyan run -j zero echo ::: 1 &&
    check_usage_error "invalid --mem" $banyan run --mem 2Q echo ::: 1 &&
    check_usage_error "gpus" $banyan run --gpus 1.5 echo ::: 1 &&
    check_usage_error "invalid --timeout" $banyan run --timeout soon echo ::: 1 &&
    check_usage_error "invalid --halt" $banyan run --halt maybe echo ::: 1
'

test_expect_success 'malformed template names word and column' '
    check_usage_error "word 2, column 3" $banyan run --db t.db -- echo ab{1 ::: x
'

test_expect_success 'template position beyond the inputs' '
    check_usage_error "{3}" $banyan run --db t.db -- echo {3} ::: a ::: b
'

test_expect_success 'unreadable :::: file' '
    check_usage_error "no-such-file" $banyan run --db t.db echo :::: no-such-file
'

test_expect_success 'a database path that cannot be created' '
    check_usage_error "no/such/dir/x.db" $banyan run --db no/such/dir/x.db echo ::: 1 &&
    ! test -e no
'

test_expect_success 'a file that is not a database' '
    echo "just text" >notdb &&
    check_usage_error "notdb" $banyan run --db notdb echo ::: 1 &&
    test "$(cat notdb)" = "just text"
'

test_expect_success 'no command: each input line is a command (GNU)' '
    $banyan run --db t.db </dev/null >out 2>err && ! test -s out &&
    echo "echo ran" | $banyan run --db t.db >out && echo ran >want &&
    cmp want out
'

test_expect_success 'a task that can never fit is refused at once' '
    BANYAN_GPUS=fake:4 check_usage_error "5" $banyan run --db inf.db --gpus 5 -- touch ran-{} ::: 1 &&
    ! test -e ran-1
'

test_expect_success 'a malformed BANYAN_GPUS is a usage error' '
    BANYAN_GPUS=fake:x check_usage_error "BANYAN_GPUS" $banyan run --db t.db true ::: 1
'

test_expect_success 'a missing command fails only its own task (exit 127)' '
    expect_code 1 $banyan run -k --db nf.db -- {} ::: true no-such-command-xyz true 2>err &&
    grep -q "no-such-command-xyz" err &&
    test "$(sql nf.db "select seq, state, exit_code from tasks order by seq")" = "$(printf "1|ok|0\n2|failed|127\n3|ok|0")"
'

test_expect_success 'unknown subcommand' '
    expect_code 2 $banyan frobnicate 2>err && grep -q "unknown command" err
'

test_expect_success 'results of a run that does not exist' '
    $banyan run --db r.db true ::: 1 &&
    expect_code 2 $banyan results --db r.db 99 2>err && grep -q "no run" err
'

test_done
