#!/bin/sh
# t0620-gnu-output.t - banyan run's output, joblog, exit status, --halt,
# --retries and resume against what GNU Parallel 20221122 prints for the
# same command line (issue 13).  Every expected text below is GNU's
# output, copied from `parallel -k ...` runs, with times masked as T and
# "parallel:" read "banyan run:".  Commands are one quoted shell word, so
# that they mean the same in both tools.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"

run() { $banyan run --no-score --no-share --db t.db "$@"; }

# The joblog (or a table) with its Starttime and JobRuntime columns as T.
mask_times() { awk -F"$1" -v OFS="$1" 'NR > 1 && NF >= 9 { $3 = "T"; $4 = "T" } { print }'; }

test_expect_success 'exit status: the number of failed tasks, nothing on stderr' '
    expect_code 3 run -k "exit {}" ::: 0 1 0 2 3 >out 2>err &&
    ! test -s out && ! test -s err
'

test_expect_success 'exit status: 101 for more than 100 failures' '
    expect_code 101 run -j4 ": {}; exit 1" ::: $(seq 102) 2>err &&
    ! test -s err
'

test_expect_success 'usage errors exit 255' '
    expect_code 255 run --frobnicate echo ::: a 2>/dev/null &&
    expect_code 255 run --halt 3 echo ::: a 2>/dev/null
'

test_expect_success '--halt now,fail=1: the failing status, GNU message, nothing after' '
    expect_code 3 run -j1 -k --halt now,fail=1 "echo {}; exit {}" ::: 0 3 0 2 >out 2>err &&
    printf "0\n3\n" >want && cmp out want &&
    printf "banyan run: This job failed:\necho 3; exit 3\n" >want && cmp err want
'

test_expect_success '--halt 2 is now,fail=1; --halt 1 is soon,fail=1' '
    expect_code 3 run -j1 --halt 2 "echo {}; exit {}" ::: 0 3 0 >out 2>/dev/null &&
    printf "0\n3\n" >want && cmp out want &&
    expect_code 3 run -j1 --halt 1 "echo {}; exit {}" ::: 0 3 0 >out 2>/dev/null &&
    cmp out want
'

test_expect_success '--halt soon,fail=1 waits for the running task and says so' '
    expect_code 3 run -j2 -k --halt soon,fail=1 "sleep {}; echo {}; exit 3" ::: 1.5 0.2 0 >out 2>err &&
    printf "1.5\n0.2\n" >want && cmp out want &&
    printf "banyan run: This job failed:\nsleep 0.2; echo 0.2; exit 3\nbanyan run: Starting no more jobs. Waiting for 1 jobs to finish.\nbanyan run: This job failed:\nsleep 1.5; echo 1.5; exit 3\n" >want &&
    cmp err want
'

test_expect_success '--halt now,fail=2 exits with the count; soon,fail=50% with the percentage' '
    expect_code 2 run -j1 --halt now,fail=2 "exit {}" ::: 0 3 0 2 0 0 2>err &&
    test $(grep -c "This job failed:" err) -eq 2 &&
    expect_code 40 run -j1 --halt soon,fail=50% "exit {}" ::: 0 3 0 2 0 2>/dev/null &&
    expect_code 20 run -j1 --halt soon,fail=50% "exit {}" ::: 0 3 0 0 0 2>/dev/null
'

test_expect_success '--halt now,success=1 and --halt -2: exit 0 after the first success' '
    expect_code 0 run -j1 --halt now,success=1 "echo {}; exit {}" ::: 4 0 5 >out 2>err &&
    printf "4\n0\n" >want && cmp out want &&
    printf "banyan run: This job succeeded:\necho 0; exit 0\n" >want && cmp err want &&
    expect_code 0 run -j1 --halt -2 "exit {}" ::: 4 0 5 2>/dev/null
'

test_expect_success '--halt soon,done=2 counts every ended task' '
    expect_code 1 run -j1 -k --halt soon,done=2 "echo {}; exit {}" ::: 0 3 0 >out 2>err &&
    printf "0\n3\n" >want && cmp out want &&
    printf "banyan run: This job finished:\necho 0; exit 0\nbanyan run: This job finished:\necho 3; exit 3\n" >want &&
    cmp err want
'

test_expect_success '--joblog: Receive is the bytes of stdout, one line per task' '
    expect_code 1 run -k --joblog jl "printf %s {}; exit {}" ::: 0 12 >/dev/null &&
    mask_times "	" <jl >got &&
    printf "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n1\t:\tT\tT\t0\t1\t0\t0\tprintf %%s 0; exit 0\n2\t:\tT\tT\t0\t2\t12\t0\tprintf %%s 12; exit 12\n" >want &&
    cmp got want
'

test_expect_success '--joblog -: the lines on stdout, each after its task output' '
    expect_code 1 run -k --joblog - "printf %s {}; exit {}" ::: 0 1 | mask_times "	" >got &&
    printf "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n01\t:\tT\tT\t0\t1\t0\t0\tprintf %%s 0; exit 0\n12\t:\tT\tT\t0\t1\t1\t0\tprintf %%s 1; exit 1\n" >want &&
    cmp got want
'

test_expect_success '--joblog +FILE appends; a timeout is Exitval -1 and warned of' '
    expect_code 1 run --joblog +jl --timeout 0.5 "sleep {}" ::: 5 2>err &&
    test $(wc -l <jl) -eq 4 &&
    mask_times "	" <jl | tail -1 >got &&
    printf "1\t:\tT\tT\t0\t0\t-1\t15\tsleep 5\n" >want && cmp got want &&
    printf "banyan run: Warning: This job was killed because it timed out:\nbanyan run: Warning: sleep 5\n" >want &&
    cmp err want
'

test_expect_success '--retries N: N attempts in all, one joblog line, the last output' '
    expect_code 1 run --retries 3 --joblog jr "echo {} >>tries; echo out; exit 1" ::: a >out &&
    test $(wc -l <tries) -eq 3 && test "$(cat out)" = out &&
    test $(wc -l <jr) -eq 2 &&
    rm -f tries && run --retries 0 "echo {} >>tries; test \$(wc -l <tries) -ge 4" ::: a &&
    test $(wc -l <tries) -eq 4
'

test_expect_success '--resume and --resume-failed follow the joblog' '
    expect_code 2 run -k --joblog jz "echo {}; exit {}" ::: 0 1 2 0 >/dev/null &&
    expect_code 1 run -k --resume --joblog jz "echo {}; exit {}" ::: 0 1 2 0 3 >out &&
    test "$(cat out)" = 3 &&
    expect_code 4 run -k --resume-failed --joblog jz "echo {}; exit {}" ::: 0 1 2 0 3 4 >out &&
    printf "1\n2\n3\n4\n" >want && cmp out want &&
    cut -f 1,7 jz | tail -4 | tr "\t\n" ":," >got && test "$(cat got)" = "2:1,3:2,5:3,6:4,"
'

test_expect_success '--retry-failed reruns the failed commands of the joblog' '
    expect_code 4 run -k --retry-failed --joblog jz >out &&
    printf "1\n2\n3\n4\n" >want && cmp out want
'

test_expect_success '--resume without a joblog and without an earlier run says so' '
    run --resume --db fresh.db true ::: a 2>err &&
    grep -q "no earlier run" err && test $(wc -l <err) -eq 1
'

test_expect_success '--results DIR: GNU layout, nothing printed, / written \_' '
    run -k --results r1 "echo {1}-{2}; echo e >&2" ::: a b/c ::: 1 2 >out 2>err &&
    ! test -s out && ! test -s err &&
    test "$(cat r1/1/a/2/1/stdout)" = a-1 &&
    test "$(cat "r1/1/b\\_c/2/2/stdout")" = b/c-2 &&
    test "$(cat r1/1/a/2/2/stderr)" = e &&
    test "$(cat "r1/1/b\\_c/2/1/seq")" = 3
'

test_expect_success '--resume with --results DIR skips the tasks with output files' '
    expect_code 1 run --results rq "echo {}; exit {}" ::: 0 1 >/dev/null &&
    expect_code 1 run --resume --results rq "echo {} >>ran; exit {}" ::: 0 1 2 &&
    test "$(cat ran)" = 2 && test "$(cat rq/1/2/stdout)" = ""
'

test_expect_success '--results with replacement strings: a folder per task, or files' '
    run --results "rr_{}/" echo ::: a b >out && ! test -s out &&
    test "$(cat rr_b/stdout)" = b && test "$(cat rr_a/seq)" = 1 &&
    run --results "rs/x_{}" echo ::: a &&
    test "$(cat rs/x_a)" = a && test -f rs/x_a.err && test "$(cat rs/x_a.seq)" = 1
'

test_expect_success '--results X.csv and -.csv' '
    run -k --results r.csv "echo {}" ::: a "b,c" "d\"e" >out && ! test -s out &&
    mask_times , <r.csv >got &&
    printf "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr\n1,:,T,T,0,2,0,0,\"echo a\",a,\"a\n\",\n" >want &&
    head -3 got | cmp - want &&
    grep -q "^2,:,T,T,0,4,0,0,.*,\"b,c\",\"b,c\$" got &&
    grep -q ",\"d\"\"e\",\"d\"\"e\$" got &&
    run -k --results -.csv "echo {}" ::: a >got &&
    head -1 got | grep -q "^Seq,Host,Starttime" && test $(wc -l <got) -eq 3
'

test_expect_success '--results X.tsv and X.json' '
    run -k --results r.tsv "echo {}" ::: a &&
    mask_times "	" <r.tsv >got &&
    printf "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tV1\tStdout\tStderr\n1\t:\tT\tT\t0\t2\t0\t0\t\"echo a\"\ta\t\"a\n\"\t\n" >want &&
    cmp got want &&
    run -k --results r.json "echo {}" ::: a &&
    sed "s/\"Starttime\": [0-9.]*, \"JobRuntime\": [0-9.]*/T/" r.json >got &&
    printf "{ \"Seq\": 1, \"Host\": \":\", T, \"Send\": 0, \"Receive\": 2, \"Exitval\": 0, \"Signal\": 0, \"Command\": \"echo a\", \"V\": [ \"a\" ], \"Stdout\": \"a\\\\u000a\", \"Stderr\": \"\" }\n" >want &&
    cmp got want
'

test_expect_success '--tag: after every newline and CR, no newline added' '
    run -k --tag "printf \"x\ry\n\nz\"" ::: a >out &&
    printf "a\tx\ra\ty\na\t\na\tz" >want && cmp out want
'

test_expect_success '--tagstring with replacement strings, stderr tagged too' '
    run -k --tagstring "<{}-{#}>" "echo {}; echo e{} >&2" ::: a b >out 2>&1 &&
    printf "<a-1>\ta\n<a-1>\tea\n<b-2>\tb\n<b-2>\teb\n" >want && cmp out want
'

test_expect_success '--files: names of TMPDIR/parXXXXX.par files, stderr dropped' '
    mkdir tmp && TMPDIR=$PWD/tmp run -k --files --tag "echo o{}; echo e >&2" ::: a b >out 2>err &&
    ! test -s err && test $(wc -l <out) -eq 2 &&
    grep -q "^a	$PWD/tmp/par.....\.par$" out &&
    test "$(cat "$(sed -n "2s/^b\t//p" out)")" = ob
'

test_expect_success '--line-buffer prints lines as they come; -u ungroups' '
    run -j2 --lb "echo a{}; sleep {}; echo b{}" ::: 2 0.2 >out &&
    test $(wc -l <out) -eq 4 &&
    test "$(grep -n "^a2$" out | cut -d: -f1)" -lt "$(grep -n "^b0.2$" out | cut -d: -f1)" &&
    run -j2 -u "echo a{}; sleep {}; echo b{}" ::: 2 0.2 >out &&
    test "$(grep -n "^a2$" out | cut -d: -f1)" -lt "$(grep -n "^b0.2$" out | cut -d: -f1)"
'

test_expect_success '-k --line-buffer is grouped output in order' '
    run -k --lb "echo {}" ::: a b >out &&
    printf "a\nb\n" >want && cmp out want
'

test_expect_success '-v: the command line begins its stdout and counts in Receive' '
    run -v -k --tag --joblog jv "echo {}; echo e >&2" ::: a b >out 2>err &&
    printf "a\techo a; echo e >&2\na\ta\nb\techo b; echo e >&2\nb\tb\n" >want &&
    cmp out want && cut -f 6 jv | tail -1 | grep -qx 21 &&
    run -v --results rv echo ::: a && printf "echo a\na\n" >want &&
    cmp rv/1/a/stdout want
'

test_expect_success '-t prints the command line on stderr; --silent undoes -v' '
    run -t -j1 -k "echo {}" ::: a b >out 2>err &&
    printf "echo a\necho b\n" >want && cmp err want &&
    run -v --silent echo ::: a >out && test "$(cat out)" = a
'

test_expect_success 'GNU names of the options: --jl --res --halt-on-error --nok' '
    run --jl jl2 --res rz -k --nok echo ::: a &&
    test $(wc -l <jl2) -eq 2 && test "$(cat rz/1/a/stdout)" = a &&
    expect_code 3 run -j1 --halt-on-error 2 "exit {}" ::: 0 3 0 2>/dev/null
'

test_expect_success 'a task killed by a signal: Exitval 0, its signal; --halt gives 128+N' '
    expect_code 137 run -j1 --halt now,fail=1 --joblog js "kill -9 \$\$; : {}" ::: a b 2>/dev/null &&
    test "$(tail -1 js | cut -f 7,8)" = "0	9"
'

test_expect_success '--ctag and --color-failed: GNU colours, line by line' '
    run -k --ctag "printf \"x\ry\nz\"" ::: a b >out &&
    printf "\033[48;5;134;38;5;231m\033[Ka\tx\033[m\r\033[48;5;134;38;5;231m\033[Ka\ty\033[m\n\033[48;5;134;38;5;231m\033[Ka\tz\033[m\n\033[48;5;021;38;5;231m\033[Kb\tx\033[m\r\033[48;5;021;38;5;231m\033[Kb\ty\033[m\n\033[48;5;021;38;5;231m\033[Kb\tz\033[m\n" >want &&
    cmp out want &&
    expect_code 1 run -k --cf "echo {}; exit {}" ::: 0 1 >out &&
    printf "0\n\033[48;5;196;38;5;231m\033[K1\033[m\n" >want && cmp out want
'

test_done
