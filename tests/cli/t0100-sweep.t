#!/bin/sh
# t0100-sweep.t - banyan sweep: GPU-aware experiments, metrics, failures,
# records, resume after kill -9, and configuration errors.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3
src=$BANYAN_SRCDIR

exps() { # db sweep-name query-columns
    sql "$1" "select $3 from (select e.* from experiments e
              join sweeps s on s.id = e.sweep_id where s.name = '$2')
              order by iter"
}

test_expect_success 'the example sweep runs and results show the best first' '
    BRANIN_SLEEP=0.05 $banyan sweep --db ex.db "$src/examples/sweep/branin.yaml" >out 2>err &&
    grep -q "^best: value=" out &&
    test "$(exps ex.db branin-demo "count(*)")" = 30 &&
    test "$(exps ex.db branin-demo "count(*)" | head -1)" = 30 &&
    $banyan results --db ex.db branin-demo >table &&
    best=$(sql ex.db "select min(objective) from experiments") &&
    sed -n 2p table | grep -q "^ *1 .* ok " &&
    awk -v b="$best" "NR == 2 { d = \$4 - b; exit !(d < 1e-4 && d > -1e-4) }" table
'

cat >grid.yaml <<'EOF2'
name: grid
command: 'echo "$BANYAN_PARAM_TP $BANYAN_PARAM_OPT {tp} {opt} $(pwd)" >>../log; echo "{\"loss\": {tp}}"'
parameters:
  tp: [1, 2, 4]
  opt: {values: [adam, sgd]}
optimization:
  strategy: grid_search
  objective: minimize_loss
  max_parallel_experiments: 2
EOF2

test_expect_success 'a grid runs every point once, in order, each in its own folder' '
    $banyan sweep --db g.db --results-dir res grid.yaml >out 2>err &&
    test "$(exps g.db grid "params_json" | tr -d " ")" = "$(printf "{\"tp\":1,\"opt\":\"adam\"}\n{\"tp\":1,\"opt\":\"sgd\"}\n{\"tp\":2,\"opt\":\"adam\"}\n{\"tp\":2,\"opt\":\"sgd\"}\n{\"tp\":4,\"opt\":\"adam\"}\n{\"tp\":4,\"opt\":\"sgd\"}")" &&
    test $(wc -l <res/log) -eq 6 &&
    awk "{ if (\$1 != \$3 || \$2 != \$4) exit 1 }" res/log &&
    test $(cut -d" " -f5 res/log | sort -u | wc -l) -eq 6 &&
    grep -q "res/3$" res/log
'

test_expect_success 'sweep takes the host options (--mem-reserve was read as --server)' '
    $banyan sweep --db h.db --results-dir hres --mem-reserve 1G \
        --mem-default 10M --mem-total 2G grid.yaml >out 2>err &&
    test $(wc -l <hres/log) -eq 6
'

test_expect_success 'a rerun of a finished grid runs nothing' '
    $banyan sweep --db g.db --results-dir res grid.yaml >out 2>err &&
    test $(wc -l <res/log) -eq 6
'

test_expect_success 'a changed parameter space is refused (exit 2), --restart discards' '
    sed "s/\[1, 2, 4\]/[1, 2, 8]/" grid.yaml >grid2.yaml &&
    expect_code 2 $banyan sweep --db g.db --results-dir res grid2.yaml 2>err &&
    grep -q "different parameter space" err &&
    $banyan sweep --db g.db --results-dir res --restart grid2.yaml 2>err &&
    test "$(exps g.db grid "count(*)")" = 6 &&
    exps g.db grid "params_json" | grep -q "\"tp\": 8"
'

cat >gpus.yaml <<'EOF2'
name: gpus
command: 'echo "{tp} $CUDA_VISIBLE_DEVICES" >>../log; sleep 0.3; echo "{\"t\": {tp}}"'
parameters:
  tp: [1, 2, 4, 8]
  rep: [a, b]
resources:
  gpus: "{tp} * 1"
optimization:
  strategy: grid_search
  objective: minimize_t
  max_parallel_experiments: 4
EOF2

test_expect_success 'experiments get exactly their GPUs; too many GPUs is infeasible, the sweep goes on' '
    expect_code 1 env BANYAN_GPUS=fake:4 $banyan sweep --db gp.db --results-dir gres gpus.yaml >out 2>err &&
    test "$(exps gp.db gpus "state || \":\" || coalesce(gpus, \"\")" | cut -d: -f1 | tr "\n" " ")" = "ok ok ok ok ok ok infeasible infeasible " &&
    exps gp.db gpus "reason" | grep -q "needs 8 gpus, engine has 4" &&
    awk "{ n = split(\$2, g, \",\"); if (n != \$1) exit 1 }" gres/log &&
    test -z "$(sql gp.db "select a.iter, b.iter from experiments a, experiments b,
              json_each(\"[\" || a.gpus || \"]\") ga, json_each(\"[\" || b.gpus || \"]\") gb
              where a.iter < b.iter and a.state = \"ok\" and b.state = \"ok\"
                and a.start_time < b.end_time - 0.005 and b.start_time < a.end_time - 0.005
                and ga.value = gb.value")"
'

cat >fail.yaml <<'EOF2'
name: failures
command: 'case {k} in
  file) echo "{\"m\": 1.5}" >"$BANYAN_METRICS";;
  stdout) echo noise; echo "{\"m\": 2.5}"; echo trailing text;;
  bad) echo "{\"m\": " >"$BANYAN_METRICS";;
  none) echo "no metrics here";;
  nonnum) echo "{\"m\": \"fast\"}";;
  crash) exit 7;;
  slow) sleep 30;;
esac'
parameters:
  k: [file, stdout, bad, none, nonnum, crash, slow]
optimization:
  strategy: list
  objective: {metric: m, goal: maximize}
  max_parallel_experiments: 3
  timeout_per_iteration: 0.5
configurations:
  - {k: file}
  - {k: stdout}
  - {k: bad}
  - {k: none}
  - {k: nonnum}
  - {k: crash}
  - {k: slow}
EOF2

test_expect_success 'metrics from the file and from stdout; every failure recorded with its reason' '
    expect_code 1 $banyan sweep --db f.db --results-dir fres fail.yaml >out 2>err &&
    test "$(exps f.db failures "state")" = "$(printf "ok\nok\nfailed\nfailed\nfailed\nfailed\ntimeout")" &&
    test "$(exps f.db failures "objective" | head -2 | tr "\n" " ")" = "1.5 2.5 " &&
    exps f.db failures "reason" | sed -n 3p | grep -qi "malformed" &&
    exps f.db failures "reason" | sed -n 4p | grep -qi "no metrics" &&
    exps f.db failures "reason" | sed -n 5p | grep -qi "not a number" &&
    exps f.db failures "reason" | sed -n 6p | grep -q "exit status 7" &&
    exps f.db failures "reason" | sed -n 7p | grep -q "timed out" &&
    grep -q "^best: m=2.5 (maximize)" out
'

test_expect_success '--max-failures stops the sweep after N failures' '
    expect_code 1 $banyan sweep --db mf.db --results-dir mres --max-failures 1 fail.yaml >out 2>err &&
    grep -q "max-failures" err &&
    # How many ran before the stop depends on the order the first wave
    # ends in (a loaded host may finish all of it first): the stop itself
    # is what is checked, by its message and the sweep state.
    test "$(sql mf.db "select state from sweeps")" = stopped
'

cat >resume.yaml <<'EOF2'
name: resume
command: 'echo {i} >>../starts; sleep 0.2; echo {i} >>../ends; echo "{\"v\": {i}}"'
parameters:
  i: {min: 1, max: 24, type: int}
optimization:
  strategy: grid_search
  objective: minimize_v
  max_parallel_experiments: 4
EOF2

test_expect_success 'kill -9 mid-sweep, then a rerun runs no finished experiment again' '
    $banyan sweep --db r.db --results-dir rres resume.yaml >/dev/null 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 100 ] && [ "$(wc -l 2>/dev/null <rres/ends || echo 0)" -lt 6 ]; do
        sleep 0.05; i=$((i + 1))
    done
    kill -9 $pid; wait $pid
    sleep 0.5
    finished=$(sql r.db "select count(*) from experiments where state = \"ok\"") &&
    test "$finished" -ge 1 && test "$finished" -lt 24 &&
    sql r.db "select iter + 1 from experiments where state = \"ok\"" | sort >done_before &&
    cp rres/starts starts_before &&
    $banyan sweep --db r.db --results-dir rres resume.yaml >out 2>err &&
    grep -q "resuming sweep" err &&
    test "$(sql r.db "select count(*) from experiments where state = \"ok\"")" = 24 &&
    tail -n +$(($(wc -l <starts_before) + 1)) rres/starts | sort >rerun &&
    test -z "$(comm -12 done_before rerun)" &&
    seq 24 | sort | comm -23 - done_before >missing &&
    test "$(sort -n rerun | tr "\n" " ")" = "$(sort -n missing | tr "\n" " ")"
'

test_expect_success 'the YAML and the JSON form of a config are the same sweep' '
    sed "s/branin-demo-json/branin-demo/" "$src/examples/sweep/branin.json" >same.json &&
    cp "$src/examples/sweep/branin.sh" . &&
    cp "$src/examples/sweep/branin.yaml" same.yaml &&
    BRANIN_SLEEP=0 $banyan sweep --db yj.db --results-dir yj same.yaml >/dev/null 2>&1 &&
    BRANIN_SLEEP=0 $banyan sweep --db yj.db --results-dir yj same.json >/dev/null 2>err &&
    test "$(sql yj.db "select count(*) from sweeps")" = 1 &&
    test "$(sql yj.db "select count(*) from experiments")" = 30
'

test_expect_success 'a bad config gives file:line:column and exit 2' '
    printf "name: x\ncommand: true\nparameters:\n  a: [1]\noptimization:\n  strategyy: grid\n  objective: minimize_v\n" >bad.yaml &&
    expect_code 2 $banyan sweep --db b.db bad.yaml 2>err &&
    grep -q "bad.yaml:6:3:.*strategyy" err &&
    printf "name: x\ncommand: true\nparameters:\n  a: {min: 5, max: 1}\noptimization:\n  objective: minimize_v\n" >bad2.yaml &&
    expect_code 2 $banyan sweep --db b.db bad2.yaml 2>err &&
    grep -q "bad2.yaml:4:" err &&
    expect_code 2 $banyan sweep --db b.db no-such.yaml 2>err &&
    grep -q "no-such.yaml" err
'

test_done
