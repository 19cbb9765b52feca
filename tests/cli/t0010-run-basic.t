#!/bin/sh
# t0010-run-basic.t - banyan run: templates, inputs, output, joblog, records.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

test_expect_success 'runs a command once per value and exits 0' '
    $banyan run -j2 --db t.db -- echo hello {} ::: a b c >out &&
    sort out >sorted && printf "hello a\nhello b\nhello c\n" >want &&
    cmp sorted want
'

test_expect_success 'all combinations, last source varying fastest (-k)' '
    $banyan run -k -j3 --db t.db -- echo {1}{2} ::: a b ::: 1 2 >out &&
    printf "a1\na2\nb1\nb2\n" >want && cmp out want
'

test_expect_success 'linked sources pair values (:::+)' '
    $banyan run -k --db t.db echo {1}-{2} ::: a b c :::+ 1 2 3 >out &&
    printf "a-1\nb-2\nc-3\n" >want && cmp out want
'

test_expect_success 'inputs from a file (::::) and from stdin' '
    printf "x\ny\n" >in.txt &&
    $banyan run -k --db t.db echo f{} :::: in.txt >out &&
    printf "fx\nfy\n" >want && cmp out want &&
    printf "p\nq\n" | $banyan run -k --db t.db echo s{} >out2 &&
    printf "sp\nsq\n" >want2 && cmp out2 want2
'

test_expect_success 'replacement strings {.} {/} {//} {/.} {#}' '
    $banyan run -k --db t.db echo {#} {.} {/} {//} {/.} ::: dir/sub/f.tar.gz >out &&
    echo "1 dir/sub/f.tar dir/sub dir/sub f.tar" >want0 &&
    echo "1 dir/sub/f.tar f.tar.gz dir/sub f.tar" >want && cmp out want
'

test_expect_success 'values are appended when the template has none' '
    $banyan run -k --db t.db echo x ::: 1 2 >out &&
    printf "x 1\nx 2\n" >want && cmp out want
'

test_expect_success 'a single word with shell syntax runs under sh' '
    $banyan run -k --db t.db "echo {} | tr a-z A-Z" ::: ab "c d" >out &&
    printf "AB\nC D\n" >want && cmp out want
'

test_expect_success 'several words run without a shell ($X reaches sh -c)' '
    X=outer $banyan run --db t.db -q -- sh -c "echo \$X" ::: 1 >out &&
    echo outer >want && cmp out want
'

test_expect_success '{%} slots stay within -j and BANYAN_SLOT matches' '
    $banyan run -j3 --db t.db -q -- sh -c "echo {%} \$BANYAN_SLOT" ::: $(seq 12) >out &&
    awk "{ if (\$1 != \$2 || \$1 < 1 || \$1 > 3) exit 1 }" out &&
    test $(wc -l <out) -eq 12
'

test_expect_success 'output is grouped per task, never interleaved' '
    $banyan run -j4 --db t.db -q -- sh -c "for i in 1 2 3 4 5; do echo {}-\$i; sleep 0.01; done" ::: a b c d >out &&
    for v in a b c d; do
        grep -n "^$v-" out | cut -d: -f1 | awk "NR>1 && \$1 != p+1 { exit 1 } { p = \$1 }" || exit 1
    done
'

test_expect_success '--tag prefixes every line with the values' '
    $banyan run -k --tag --db t.db -q -- printf "1\n2\n" ::: v >out &&
    printf "v\t1\nv\t2\n" >want && cmp out want
'

test_expect_success 'joblog has GNU Parallel columns, one line per task' '
    $banyan run --joblog jl --db t.db -q -- sh -c "exit {}" ::: 0 3 >/dev/null;
    head -1 jl | grep -q "^Seq	Host	Starttime	JobRuntime	Send	Receive	Exitval	Signal	Command$" &&
    test $(wc -l <jl) -eq 3 &&
    awk -F"\t" "NR>1 && \$1==2 { exit !(\$7 == 3 && \$8 == 0) }" jl &&
    awk -F"\t" "NR>1 && \$1==1 { exit !(\$7 == 0) }" jl
'

test_expect_success 'a failing task gives exit code 1, the others still run' '
    expect_code 1 $banyan run -k --db t.db -q -- sh -c "echo {}; test {} != b" ::: a b c >out &&
    printf "a\nb\nc\n" >want && cmp out want
'

test_expect_success 'every run and task is recorded in the database' '
    $banyan run --db rec.db -q -- sh -c "echo out-{}; exit {}" ::: 0 1 >/dev/null;
    test "$(sql rec.db "select count(*) from runs")" = 1 &&
    test "$(sql rec.db "select seq, state, exit_code from tasks order by seq")" = "$(printf "1|ok|0\n2|failed|1")" &&
    sql rec.db "select cast(stdout_tail as text) from tasks where seq=2" | grep -qx out-1
'

test_expect_success 'banyan results lists runs and tasks, also as JSON' '
    $banyan results --db rec.db >runs.txt && grep -q "sh -c" runs.txt &&
    $banyan results --db rec.db last >tasks.txt && grep -q failed tasks.txt &&
    $banyan results --db rec.db --json 1 >tasks.json &&
    grep -q "\"state\": \"failed\"" tasks.json &&
    grep -q "\"exit_code\": 1" tasks.json
'

test_expect_success '--results DIR keeps each task output in files, not printed' '
    $banyan run --results res --db t.db -q -- sh -c "echo o{}; echo e{} >&2" ::: 1 2 >out 2>err &&
    test "$(cat res/1/2/stdout)" = o2 && test "$(cat res/1/1/stderr)" = e1 &&
    test "$(cat res/1/2/seq)" = 2 && ! test -s out && ! test -s err
'

test_expect_success '--dry-run prints the commands and runs nothing' '
    $banyan run --dry-run -- touch made-{} ::: 1 2 >out &&
    printf "touch made-1\ntouch made-2\n" >want && cmp out want &&
    ! test -e made-1
'

test_expect_success 'the default database is .banyan/banyan.db' '
    mkdir d && (cd d && $banyan run true ::: 1) &&
    test -f d/.banyan/banyan.db &&
    test "$(stat -c %a d/.banyan/banyan.db)" = 600
'

test_expect_success '--retries N runs a failing task N times in all' '
    expect_code 1 $banyan run --retries 3 --db r.db -q -- sh -c "echo x >>tries; exit 1" ::: 1 &&
    test $(wc -l <tries) -eq 3 &&
    test "$(sql r.db "select attempt from tasks")" = 3
'

test_expect_success '--retries stops once a task succeeds' '
    $banyan run --retries 5 --db r2.db -q -- sh -c "echo x >>t2; test \$(wc -l <t2) -ge 2" ::: 1 &&
    test $(wc -l <t2) -eq 2
'

test_expect_success '--halt now,fail=1 stops after the first failure' '
    expect_code 1 $banyan run -j1 --halt now,fail=1 --db h.db -q -- sh -c "echo {} >>ran; exit {}" ::: 0 1 0 0 0 2>err &&
    test "$(head -1 err)" = "banyan run: This job failed:" &&
    test $(wc -l <err) -eq 2 && sed -n 2p err | grep -q "exit 1" &&
    test $(wc -l <ran) -eq 2
'

test_expect_success '--halt soon,fail=1 lets running tasks finish' '
    expect_code 1 $banyan run -j2 --halt soon,fail=1 --db h2.db -q -- sh -c "test {} = f && exit 1; sleep 0.5; echo {} >>fin" ::: slow f x y z &&
    test "$(cat fin)" = slow
'

test_done
