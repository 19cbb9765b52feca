#!/bin/sh
# t0630-gnu-control.t - GNU Parallel's execution control in banyan run:
# every -j form, -P, --delay, --nice, --wd, --limit, --shuf, --timeout N%,
# --termseq, $PARALLEL, ~/.parallel/config and -J, the PARALLEL_*
# variables, banyan sem (--fg, --bg, --wait, --st), --mem-group and GNU's
# --group.
#
# Every command is one quoted word (a shell line), so the checks hold
# whatever the template semantics of several words.  Timings are coarse:
# lower bounds of gaps, never tight upper ones.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"

run() { $banyan run --no-score --db t.db "$@"; }
ncpus=$(getconf _NPROCESSORS_ONLN)
export HOME="$PWD/home"
mkdir -p "$HOME"
unset PARALLEL PARALLEL_HOME

# maxslot: the highest slot the tasks printed (one number a line).
maxslot() { sort -n | tail -n 1; }
# usage_error cmd...: refused as bad usage (banyan's 2 or GNU's 255).
usage_error() {
    "$@" >/dev/null 2>err
    rc=$?
    cat err
    [ "$rc" -eq 2 ] || [ "$rc" -eq 255 ]
}

test_expect_success '-j0 runs every task at once' '
    run -j0 "sleep 1; echo \$PARALLEL_JOBSLOT; : {}" ::: 1 2 3 4 5 6 >out &&
    test "$(maxslot <out)" = 6
'

test_expect_success '-j+1 and -j-1 are the cores plus and minus one' '
    n=$((ncpus + 3)) &&
    run -j+1 "sleep 1; echo {%}; : {}" ::: $(seq $n) >plus &&
    test "$(maxslot <plus)" = $((ncpus + 1)) &&
    run -j-1 "sleep 0.5; echo {%}; : {}" ::: $(seq $n) >minus &&
    want=$((ncpus - 1)) && if [ $want -lt 1 ]; then want=1; fi &&
    test "$(maxslot <minus)" = $want
'

test_expect_success '-j N% rounds up, as GNU' '
    run -j 50% "sleep 0.5; echo {%}; : {}" ::: $(seq $((ncpus + 2))) >out &&
    test "$(maxslot <out)" = $(((ncpus + 1) / 2))
'

test_expect_success '-P and --max-procs are -j' '
    run -P 2 "sleep 0.5; echo {%}; : {}" ::: 1 2 3 4 >p &&
    test "$(maxslot <p)" = 2 &&
    run --max-procs=3 "sleep 0.5; echo {%}; : {}" ::: 1 2 3 4 5 >mp &&
    test "$(maxslot <mp)" = 3
'

test_expect_success '-j FILE is read again while the run goes on' '
    echo 1 >procs &&
    ( sleep 1.5; echo 3 >procs ) &
    run -j procs "sleep 0.4; echo {%}; : {}" ::: $(seq 12) >out &&
    wait &&
    head -n 2 out | sort -u >first && test "$(cat first)" = 1 &&
    test "$(maxslot <out)" = 3
'

test_expect_success 'a bad -j is a usage error' '
    usage_error run -j nonesuch "echo {}" ::: a &&
    grep -q "invalid --jobs" err &&
    usage_error run -j 1.5 "echo {}" ::: a
'

test_expect_success 'PARALLEL_SEQ, PARALLEL_JOBSLOT and PARALLEL_PID in every task' '
    run -k -j1 "echo \$PARALLEL_SEQ \$PARALLEL_JOBSLOT {}" ::: a b c >out &&
    printf "1 1 a\n2 1 b\n3 1 c\n" >want && cmp out want &&
    run -k "echo \$PARALLEL_PID \$PPID; : {}" ::: a b >pids &&
    awk "\$1 != \$2 || \$1 !~ /^[0-9]+\$/ { exit 1 }" pids &&
    test "$(cut -d" " -f1 pids | sort -u | wc -l)" = 1
'

test_expect_success 'PARALLEL_TMP names a file in TMPDIR, removed after the task' '
    mkdir -p tmpd &&
    TMPDIR=$PWD/tmpd run "touch \$PARALLEL_TMP; echo \$PARALLEL_TMP; : {}" ::: a >out &&
    grep -q "^$PWD/tmpd/par.....\$" out &&
    test ! -e "$(cat out)"
'

test_expect_success '--delay spaces the starts' '
    run -j4 --delay 0.3 "date +%s.%N; : {}" ::: 1 2 3 4 >starts &&
    sort -n starts | awk "NR == 1 { f = \$1 } NR > 1 && \$1 - p < 0.1 { bad = 1 }
                          { p = \$1 } END { exit bad || p - f < 0.8 }"
'

test_expect_success '--nice sets the tasks niceness' '
    cur=$(nice) && want=7 &&
    if [ "$cur" -gt 7 ] && [ "$(id -u)" != 0 ]; then want=$cur; fi &&
    run --nice 7 "cut -d\" \" -f19 /proc/self/stat; : {}" ::: a >out &&
    test "$(cat out)" = "$want"
'

test_expect_success '--wd DIR runs the tasks there, created' '
    run --wd sub/dir "pwd; : {}" ::: a >out &&
    test "$(cat out)" = "$PWD/sub/dir" &&
    run --wd . "pwd; : {}" ::: a >dot &&
    test "$(cat dot)" = "$PWD"
'

test_expect_success '--wd ... gives each task a fresh folder, removed after' '
    run -k --wd ... "pwd; touch f; : {}" ::: a b >out &&
    test "$(grep -c "^$HOME/.parallel/tmp/.*-1\$" out)" = 1 &&
    test "$(grep -c "^$HOME/.parallel/tmp/.*-2\$" out)" = 1 &&
    test -z "$(ls "$HOME/.parallel/tmp")"
'

test_expect_success '--limit CMD: exit 0 starts a task, 1 does not' '
    rm -f open &&
    ( sleep 1; touch open ) &
    t0=$(date +%s.%N) &&
    run -j4 --limit "test -e open" "date +%s.%N; : {}" ::: 1 2 3 >out &&
    wait &&
    test "$(wc -l <out)" = 3 &&
    sort -n out | head -n 1 >first &&
    awk "BEGIN { exit !($(cat first) - $t0 >= 0.9) }"
'

cat >kill.sh <<'EOF'
[ -e killed ] && exit 0
[ "$(ls running | wc -l)" -ge 2 ] || exit 0
touch killed
exit 2
EOF

test_expect_success '--limit CMD: exit 2 kills the youngest task, which runs again' '
    rm -rf running killed && mkdir running &&
    run -j2 --limit "sh kill.sh" \
        "echo start {} >>log; touch running/{}; sleep 1; rm running/{}; echo {}" \
        ::: 1 2 3 >out &&
    test -e killed &&
    test "$(sort out | tr "\n" " ")" = "1 2 3 " &&
    test "$(wc -l <log)" = 4 &&
    test "$(grep -c "start 2" log)" = 2
'

test_expect_success '--limit io is refused' '
    usage_error run --limit "io 10" "echo {}" ::: a
'

test_expect_success '--shuf runs a permutation of the inputs, {#} in start order' '
    run -j1 -k --shuf "echo \$PARALLEL_SEQ {}" ::: a b c d e f g h >out &&
    cut -d" " -f1 out | tr "\n" " " >seqs &&
    test "$(cat seqs)" = "1 2 3 4 5 6 7 8 " &&
    cut -d" " -f2 out | sort | tr "\n" " " >vals &&
    test "$(cat vals)" = "a b c d e f g h "
'

test_expect_success '--timeout N% kills a task far above the median' '
    start=$(date +%s) &&
    ! run -j4 --timeout 300% "sleep {}; echo {}" ::: 0.1 0.1 0.1 8 >out 2>err &&
    test "$(cat out)" = "$(printf "0.1\n0.1\n0.1")" &&
    test $(($(date +%s) - start)) -lt 6
'

test_expect_success 'a bad --timeout N% is a usage error' '
    usage_error run --timeout x% "echo {}" ::: a
'

cat >trap.sh <<'EOF'
#!/bin/sh
for s in INT TERM USR1 HUP; do trap "echo got $s >>sigs" $s; done
echo started >>sigs
i=0
while [ $i -lt 60 ]; do sleep 0.1; i=$((i + 1)); done
EOF
chmod +x trap.sh

test_expect_success '--termseq sends its signals in order' '
    rm -f sigs &&
    ! run --timeout 0.5 --termseq USR1,300,INT,300,HUP,300,KILL,25 \
        "./trap.sh {}" ::: a 2>err &&
    printf "started\ngot USR1\ngot INT\ngot HUP\n" >want && cmp sigs want
'

test_expect_success 'a bad --termseq is a usage error' '
    usage_error run --termseq NOPE,10 "echo {}" ::: a
'

test_expect_success '$PARALLEL holds default options, split as a shell would' '
    mkdir -p "my dir" &&
    PARALLEL="-j1 --wd '"'"'my dir'"'"'" run "pwd; : {}" ::: a >out &&
    test "$(cat out)" = "$PWD/my dir"
'

test_expect_success '~/.parallel/config is read first; the command line wins' '
    mkdir -p "$HOME/.parallel" cfg cli &&
    printf "# defaults\n--wd cfg\n" >"$HOME/.parallel/config" &&
    run "pwd; : {}" ::: a >out &&
    test "$(cat out)" = "$PWD/cfg" &&
    run --wd cli "pwd; : {}" ::: a >out2 &&
    test "$(cat out2)" = "$PWD/cli" &&
    run --plain "pwd; : {}" ::: a >out3 &&
    test "$(cat out3)" = "$PWD" &&
    rm "$HOME/.parallel/config"
'

test_expect_success '-J PROFILE reads ~/.parallel/PROFILE instead' '
    mkdir -p prof &&
    echo "--wd prof" >"$HOME/.parallel/myprof" &&
    run -J myprof "pwd; : {}" ::: a >out &&
    test "$(cat out)" = "$PWD/prof" &&
    usage_error run -J nonesuch "echo {}" ::: a &&
    grep -q "nonesuch" err
'

test_expect_success 'banyan sem --fg runs the command and exits with its status' '
    expect_code 3 $banyan sem --fg --id t1 "echo fg; exit 3" >out &&
    test "$(cat out)" = fg
'

test_expect_success 'banyan sem -j2 --bg, then --wait' '
    rm -f semout &&
    t0=$(date +%s.%N) &&
    for i in 1 2 3; do
        $banyan sem -j2 --id t2 "sleep 0.5; echo \$\$ >>semout" || exit 1
    done &&
    $banyan sem --id t2 --wait &&
    t1=$(date +%s.%N) &&
    test "$(wc -l <semout)" = 3 &&
    awk "BEGIN { exit !($t1 - $t0 >= 0.95) }"
'

test_expect_success 'banyan run --semaphore is banyan sem' '
    $banyan run --semaphore --fg --id t3 "echo hi" >out &&
    test "$(cat out)" = hi
'

test_expect_success 'sem --st -N gives up on a held semaphore' '
    $banyan sem --id t4 "sleep 3" &&
    sleep 0.3 &&
    expect_code 1 $banyan sem --fg --id t4 --st -0.5 "echo ran" >out 2>err &&
    test ! -s out && grep -q "timed out" err &&
    $banyan sem --id t4 --wait
'

test_expect_success 'GNU --group takes no value; the memory group is --mem-group' '
    run -k --group "echo g{}" ::: a b >out &&
    printf "ga\ngb\n" >want && cmp out want &&
    run -k --mem-group mine "echo m{}" ::: a >out2 &&
    test "$(cat out2)" = ma &&
    test "$(sqlite3 t.db "select count(*) from estimates where grp = \"mine\"" 2>/dev/null || echo 1)" = 1
'

test_expect_success 'accepted as GNU does: --will-cite --no-notice --env --compress' '
    run -k --will-cite --no-notice --env HOME --compress --noswap \
        "echo {}" ::: a >out &&
    test "$(cat out)" = a
'

test_expect_success '--env _ wants --record-env first, as GNU' '
    mkdir -p rec && (
        export HOME=$PWD/rec &&
        expect_code 255 run --env _ "echo {}" ::: a 2>err &&
        grep -q "record-env" err &&
        run --record-env && test -s rec/.parallel/ignored_vars &&
        grep -qx PATH rec/.parallel/ignored_vars &&
        run -k --env _ "echo {}" ::: a >out && test "$(cat out)" = a
    )
'

test_expect_success 'banyan run --version and --citation exit 0' '
    $banyan run --version >v && grep -q "^banyan " v &&
    $banyan run --citation >c && grep -q "GNU Parallel" c
'

test_done
