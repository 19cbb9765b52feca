#!/bin/sh
# t0600-gnu-template.t - banyan run's command line as GNU Parallel reads it:
# one shell line, quoted values, -q, the shell GNU picks, direct spawn of
# plain lines, every replacement string, {= perl =} in one co-process per
# run, --plus, the -I family, --rpl, commands from input.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need bash perl
usage_code=255 # banyan run's usage errors, as GNU Parallel's

run() { $banyan run --db t.db "$@"; }

test_expect_success 'the words form one shell line' '
    run -k echo {} ";" echo done ::: a >out &&
    printf "a\ndone\n" >want && cmp out want &&
    run echo {} ">" out_{} ::: x "y z" >/dev/null &&
    test "$(cat out_x)" = x && test "$(cat "out_y z")" = "y z" &&
    run -k sleep 0\; echo {} ::: b >out && test "$(cat out)" = b
'

test_expect_success 'values are quoted, GNU style, and reach the job intact' '
    run -k echo {} ::: "it'\''s" "\$HOME" "a  b" "*" "" >out &&
    printf "%s\n" "it'\''s" "\$HOME" "a  b" "*" "" >want && cmp out want &&
    run --dry-run echo {} ::: "it'\''s" a+b "a b" "" >out &&
    printf "%s\n" "echo '\''it'\''\"'\''\"'\''s'\''" "echo a+b" \
        "echo '\''a b'\''" "echo '\'''\''" >want && cmp out want
'

test_expect_success '-q quotes the words: sh -c works as written' '
    X=outer run -k -q sh -c "echo \$X \$0" {} ::: "a b" >out &&
    test "$(cat out)" = "outer a b" &&
    run --dry-run -q echo {} ">" x ::: "a b" >out &&
    test "$(cat out)" = "echo '\''a b'\'' '\''>'\'' x"
'

test_expect_success 'jobs run in the calling shell: exported bash functions' '
    bash -c "f() { echo \"f:\$1\"; }; export -f f; $banyan run --db f.db f ::: a; true" >out &&
    test "$(cat out)" = "f:a" &&
    PARALLEL_SHELL=/bin/bash run "echo \$BASH_VERSION" ::: x >out &&
    grep -q "^[0-9].* x\$" out
'

test_expect_success 'a plain line is spawned without a shell, other lines with one' '
    env -u _ PARALLEL_SHELL=/bin/bash $banyan run --db s.db printenv ::: _ >out;
    test ! -s out &&
    env -u _ PARALLEL_SHELL=/bin/bash $banyan run --db s.db printenv {} "|" cat ::: _ >out &&
    grep -q printenv out
'

test_expect_success 'every replacement string counts: nothing appended' '
    run -k echo tmp{#}.txt ::: x y >out &&
    printf "tmp1.txt\ntmp2.txt\n" >want && cmp out want &&
    run -j1 echo {%} ::: x >out && test "$(cat out)" = 1
'

test_expect_success 'the built-in replacement strings, {} with two sources as two words' '
    run echo {} {.} {/} {//} {/.} {1} {2/} {-1.} ::: d/f.tar.gz ::: e/g.x >out &&
    test "$(cat out)" = "d/f.tar.gz e/g.x d/f.tar e/g f.tar.gz g.x d e f.tar g d/f.tar.gz g.x e/g"
'

test_expect_success '{= perl =}, {=n perl =} and the functions GNU documents' '
    run -k echo "{= s/a/X/g =}" "{=2 \$_=uc =}" "{= \$_=\$job->seq().\"/\".total_jobs() =}" \
        ::: aba b ::: c >out &&
    printf "XbX c C 1/2 1/2\nb c C 2/2 2/2\n" >want && cmp out want &&
    run echo "{= \$_=Q(\$_) =}" "{= uq() =}" ::: "a b" >out &&
    test "$(cat out)" = "'\''a b'\'' a b"
'

test_expect_success 'one perl co-process serves the whole run, and is gone after it' '
    run -j3 echo "{= \$_=\$\$ =}" ::: $(seq 20) >out &&
    test "$(sort -u out | wc -l)" = 1 &&
    ! kill -0 "$(head -n 1 out)" 2>/dev/null
'

test_expect_success 'a perl error is refused before anything runs' '
    check_usage_error "Cannot use" $banyan run --db e.db echo "{= s/( =}" ::: a
'

test_expect_success '--plus and its strings' '
    run --plus echo {..} {...} {/..} {+/} {+.} {+..} {##} ::: a/b.c.d.e >out &&
    test "$(cat out)" = "a/b.c a/b b.c a e d.e 1" &&
    run --plus echo {:1:2} {#a} {%e} {/b/X} {//a/Y} {^a} {:-d} ::: abcabe >out &&
    test "$(cat out)" = "bc bcabe abcab aXcabe YbcYbe Abcabe abcabe"
'

test_expect_success 'the -I family renames the strings' '
    run -I XX echo XX/XX ::: a >out && test "$(cat out)" = "a/a" &&
    run --er EE --bnr BB --dnr DD --bner NN --seqreplace SS --slotreplace LL \
        -j1 echo EE BB DD NN SS LL ::: d/f.x >out &&
    test "$(cat out)" = "d/f f.x d f 1 1"
'

test_expect_success '--rpl, with a group and as a plain tag' '
    run --rpl "{r} s/a/b/" --rpl "{s(\\d)} s/\$\$1/X/" --rpl "%% \$_=uc" \
        echo {r} {s2} %% ::: a2a >out &&
    test "$(cat out)" = "b2a aXa A2A"
'

test_expect_success '--parens changes {= =}' '
    run --parens "<<>>" echo "<< s/a/b/ >>" ::: aa >out &&
    test "$(cat out)" = "ba"
'

test_expect_success 'no command: each input line is a command' '
    printf "echo a; echo b\necho c d\n" | run -k >out &&
    printf "a\nb\nc d\n" >want && cmp out want &&
    run -k ::: "echo x" "echo y | tr y Y" >out &&
    printf "x\nY\n" >want && cmp out want
'

test_expect_success 'the joblog Command column is the line GNU writes' '
    run --joblog jl echo {} ::: "a b" >/dev/null &&
    test "$(tail -n 1 jl | cut -f 9)" = "echo '\''a b'\''"
'

test_done
