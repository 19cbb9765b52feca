#!/bin/sh
# t0340-sweep-resources.t - a sweep learns one estimate under its name,
# kills an experiment above --mem-limit with the limit and peak in its
# reason, and keeps usage statistics under kind "sweep".
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

helper=$(dirname "$banyan")/tests/exec/exec_helper

cat >mem.yaml <<EOF2
name: memsweep
command: '"$helper" mem {mb} 300 && echo "{\"loss\": {mb}}"'
parameters:
  mb: [10, 90, 20]
optimization:
  strategy: grid_search
  objective: minimize_loss
  max_parallel_experiments: 3
EOF2

exps() { sql s.db "select $1 from experiments order by iter"; }

test_expect_success 'the experiment above --mem-limit is killed, the others run' '
    expect_code 1 $banyan sweep --no-share --mem-limit 50M --db s.db --results-dir res mem.yaml >out 2>err &&
    test "$(exps state | tr "\n" " ")" = "ok killed ok " &&
    exps reason | grep -Eq "^memory limit 50M exceeded: peak [0-9.]+M$"
'

test_expect_success 'the sweep learnt under its own name' '
    test "$(sql s.db "select count from estimates where grp = \"memsweep\"")" = 2 &&
    test "$(sql s.db "select floor > 0 from estimates where grp = \"memsweep\"")" = 1
'

test_expect_success 'its usage is recorded under kind sweep' '
    test "$(sql s.db "select tasks || \" \" || limit_kills from usage where kind = \"sweep\"")" = "3 1" &&
    $banyan stats --db s.db | grep -q "^sweep 1 on "
'

test_done
