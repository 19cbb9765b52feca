#!/bin/sh
# t0060-sweep-server.t - banyan sweep --server: experiments as one-task jobs
# on a server, records in the client's local database, GPUs by request,
# resume that runs nothing twice, and the exit codes.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need sqlite3

cat >gs.yaml <<'EOF2'
name: gs
command: 'echo "{g} $CUDA_VISIBLE_DEVICES $BANYAN_EXPERIMENT $BANYAN_SWEEP" >>../seen; echo "{\"loss\": $(({g} * 10 + {k}))}"'
parameters:
  g: [1, 2]
  k: [1, 2]
resources:
  gpus: "{g}"
optimization:
  strategy: grid_search
  objective: minimize_loss
  max_parallel_experiments: 2
EOF2

test_expect_success 'a grid sweep runs on the server, each with its GPUs' '
    start_server srv &&
    BANYAN_GPUS=fake:2 start_worker w1 &&
    wait_for 20 engines_are 1 &&
    echo "$EP" >ep &&
    $banyan sweep --server "$EP" --db gs.db --results-dir res gs.yaml \
        >out 2>err &&
    grep -q "^best: loss=11 " out &&
    test $(wc -l <res/seen) -eq 4 &&
    awk "{ n = split(\$2, a, \",\"); if (n != \$1 || \$4 != \"gs\") exit 1 }" res/seen &&
    test "$(cut -d" " -f3 res/seen | sort -n | tr "\n" " ")" = "1 2 3 4 "
'

EP=$(cat ep 2>/dev/null)

test_expect_success 'the local database holds 4 ok experiments, best first' '
    $banyan results --db gs.db gs >table &&
    test $(grep -c " ok " table) -eq 4 &&
    sed -n 2p table | grep -q " ok .*11" &&
    sed -n 5p table | grep -q " ok .*22"
'

test_expect_success 'the server ran one job per experiment, named after it' '
    $banyan status --server "$EP" --json >st &&
    for n in 1 2 3 4; do grep -q "\"sweep:gs:$n\"" st || exit 1; done
'

test_expect_success 'a rerun runs nothing' '
    $banyan sweep --server "$EP" --db gs.db --results-dir res gs.yaml \
        >out2 2>err2 &&
    grep -q "0 experiments finished now" err2 &&
    test $(wc -l <res/seen) -eq 4
'

test_expect_success 'BANYAN_SERVER selects the server; a failing experiment exits 1' '
    sed -e "s/^name: gs/name: bad/" -e "s/echo \"{\\\\\"loss/exit 3; echo \"{\\\\\"loss/" gs.yaml >bad.yaml &&
    grep -q "exit 3" bad.yaml &&
    BANYAN_SERVER=$EP $banyan sweep --db gs.db --results-dir resb bad.yaml \
        >out3 2>err3; test $? -eq 1 &&
    grep -q "experiment 1 failed: .*exit status 3" err3
'

test_expect_success 'an unreachable server is an internal error, not a hang' '
    $banyan sweep --server tcp://127.0.0.1:1 --db u.db gs.yaml >out4 2>err4
    test $? -eq 3 &&
    grep -q "connection refused" err4
'

# Experiments that sleep while ./slow exists (the worker sees this folder).
cat >slow.yaml <<'EOF2'
name: slow
command: '[ -f "$BANYAN_SWEEP_DIR/slow" ] && sleep 60; echo "{\"loss\": {g}{k}}"'
parameters:
  g: [1, 2]
  k: [1, 2]
resources:
  gpus: "{g}"
optimization:
  strategy: grid_search
  objective: minimize_loss
  max_parallel_experiments: 2
EOF2

no_task_running() {
    $banyan status --server "$EP" --json 2>/dev/null |
        grep -q "\"tasks_running\": *0[,}]"
}

running_jobs() {
    $banyan status --server "$EP" --json 2>/dev/null |
        grep -o "\"tasks_running\": *[0-9]*" | grep -q ": *2$"
}

test_expect_success 'Ctrl-C cancels the submitted jobs; a rerun runs them again' '
    : >slow &&
    $banyan sweep --server "$EP" --db s.db --results-dir ress slow.yaml \
        >out5 2>err5 &
    pid=$! && remember $pid &&
    wait_for 20 running_jobs &&
    kill -INT $pid && wait $pid; test $? -eq 130 &&
    test "$(sql s.db "select count(*) from experiments where state = '"'"'interrupted'"'"'")" = 2 &&
    wait_for 20 no_task_running &&
    rm slow &&
    $banyan sweep --server "$EP" --db s.db --results-dir ress slow.yaml \
        >out6 2>err6 &&
    grep -q "2 to run again" err6 &&
    grep -q "4 experiments finished now (4 ok" err6
'

test_clean_exit
test_done
