#!/bin/sh
# t0640-gnu-pipe.t - banyan run --pipe and its family cut the input where
# GNU Parallel does (issue 13, item 4).
#
# Every expected output below is what GNU Parallel 20221122 printed for the
# same command line (parallel -k ...), pasted literally.  The block files
# live in TMPDIR: none may be left there afterwards, also after a SIGTERM
# of banyan run while tasks run and stdin is still open.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
usage_code=255 # banyan run's usage errors, as GNU Parallel's
need seq md5sum

mkdir -p tmp
TMPDIR=$(pwd)/tmp
export TMPDIR
run() { $banyan run --db t.db "$@"; }
no_temp_left() {
    left=$(ls -A tmp) && [ -z "$left" ] || { echo "left in TMPDIR: $left"; false; }
}
same() { # expected got
    cmp -s "$1" "$2" || { echo "expected:"; cat "$1"; echo "got:"; cat "$2"; false; }
}

test_expect_success '--pipe --block 100k: the blocks GNU cuts (wc -l)' '
    seq 1 100000 | run -k --pipe --block 100k wc -l >out &&
    printf "18517\n16666\n16666\n16666\n16666\n14819\n" >want &&
    same want out && no_temp_left
'

test_expect_success '--pipe --block 10k: the same 59 blocks as GNU' '
    seq 1 100000 | run -k --pipe --block 10k wc -l >out &&
    uniq -c out | tr -s " " >got &&
    printf " 1 2221\n 3 2000\n 1 1963\n 53 1666\n 1 1518\n" >want &&
    same want got && no_temp_left
'

printf ">s1\nACGT\nAC\n>s2\nGG\n>s3\nTTTT\nA\n>s4\nC\n" >fa.txt

test_expect_success '--recstart on FASTA, -N1: one record per task' '
    run -k --pipe --recstart ">" -N1 "echo =; cat" <fa.txt >out &&
    printf "=\n>s1\nACGT\nAC\n=\n>s2\nGG\n=\n>s3\nTTTT\nA\n=\n>s4\nC\n" >want &&
    same want out
'

test_expect_success '--recstart with a block smaller than a record grows it' '
    run -k --pipe --recstart ">" --block 12 "echo =; cat" <fa.txt >out 2>err &&
    printf "=\n>s1\nACGT\nAC\n=\n>s2\nGG\n=\n>s3\nTTTT\nA\n=\n>s4\nC\n" >want &&
    same want out && grep -q "record was longer than 12" err
'

test_expect_success '--rrs -N2 removes the separators' '
    run -k --pipe --recstart ">" --rrs -N2 "echo =; cat" <fa.txt >out &&
    printf "=\ns1\nACGT\nAC\ns2\nGG\n=\ns3\nTTTT\nA\ns4\nC\n" >want &&
    same want out
'

test_expect_success '--recend ";" -N2, with and without --rrs' '
    printf "a;b;c;d;e;" | run -k --pipe --recend ";" -N2 "echo =; cat; echo" >out &&
    printf "=\na;b;\n=\nc;d;\n=\ne;\n" >want && same want out &&
    printf "a;b;c;d;e;" | run -k --pipe --recend ";" --rrs -N2 "echo =; cat; echo" >out2 &&
    printf "=\nab\n=\ncd\n=\ne\n" >want2 && same want2 out2
'

test_expect_success '-N2 and -L with --pipe' '
    seq 5 | run -k --pipe -N2 "cat; echo -" >out &&
    printf "1\n2\n-\n3\n4\n-\n5\n-\n" >want && same want out &&
    seq 10 | run -k --pipe -L3 --block 8 "echo =; cat" >out2 2>/dev/null &&
    printf "=\n1\n2\n3\n=\n4\n5\n6\n=\n7\n8\n9\n=\n10\n" >want2 &&
    same want2 out2 &&
    seq 5 | run -k --pipe -L2 "cat; echo -" >out3 &&
    printf "1\n2\n3\n4\n-\n5\n-\n" >want3 && same want3 out3
'

test_expect_success '--header repeats the header to every block' '
    printf "H\n1\n2\n3\n" | run -k --pipe --header : -N1 "cat; echo -" >out &&
    printf "H\n1\n-\nH\n2\n-\nH\n3\n-\n" >want && same want out &&
    { echo h1; echo h2; seq 7; } | run -k --pipe --header 2 -N3 "echo =; cat" >out2 &&
    printf "=\nh1\nh2\n1\n2\n3\n=\nh1\nh2\n4\n5\n6\n=\nh1\nh2\n7\n" >want2 &&
    same want2 out2
'

test_expect_success 'no input, no task; {} is empty; --tag gives an empty tag' '
    run -k --pipe "echo hi" </dev/null >out && ! test -s out &&
    seq 3 | run -k --pipe echo x{}y >out2 && echo xy >want2 && same want2 out2 &&
    seq 3 | run -k --pipe -N2 --tag cat >out3 &&
    printf "\t1\n\t2\n\t3\n" >want3 && same want3 out3
'

test_expect_success 'the exit code counts failed blocks' '
    seq 6 | run -k --pipe -N2 "grep -q 3"; test $? -ne 0
'

test_expect_success '--group-by: a block never splits lines of one value' '
    printf "a 1\na 2\nb 3\nb 4\nc 5\n" |
        run -k --pipe --colsep " " --group-by 1 -N1 "echo =; cat" >out &&
    printf "=\na 1\na 2\n=\nb 3\nb 4\n=\nc 5\n" >want && same want out &&
    printf "k\tv\na\t1\na\t2\nb\t3\n" |
        run -k --pipe --header : --group-by k -N1 "echo =; cat" >out2 &&
    printf "=\nk\tv\na\t1\na\t2\n=\nk\tv\nb\t3\n" >want2 &&
    same want2 out2 &&
    printf "a 1\na 2\nb 3\n" |
        run -k --pipe --colsep " " --group-by 1 --block 5 "echo =; cat" >out3 2>/dev/null &&
    printf "=\na 1\na 2\nb 3\n" >want3 && same want3 out3 &&
    seq 1 20000 | awk "{print int(\$1 / 37) \"\t\" \$1}" >gb.tsv &&
    test "$(run -k --pipe --group-by 1 --block 10k wc -l <gb.tsv | tr "\n" " ")" = \
         "1331 1147 1147 1036 1036 1036 1036 1036 1036 925 925 925 925 925 925 925 925 925 925 909 " &&
    no_temp_left
'

seq 1 100000 >big.txt

test_expect_success '--pipepart -a cuts the file where GNU does' '
    run -k --pipepart -a big.txt --block 100k "wc -lc" >out &&
    printf "  18518  100002\n  16667  100002\n  16667  100002\n  16667  100002\n  16667  100002\n  14814   88885\n" >want &&
    same want out && no_temp_left &&
    run -k -j3 --pipepart --block -2 -a big.txt "wc -l" | tr "\n" " " >out2 &&
    printf "18210 16359 16359 16359 16359 16354 " >want2 && same want2 out2 &&
    run -k --pipepart -a fa.txt --recstart ">" --block 3 "echo =; cat" >out3 &&
    printf "=\n>s1\nACGT\nAC\n=\n>s2\nGG\n=\n>s3\nTTTT\nA\n=\n>s4\nC\n" >want3 &&
    same want3 out3
'

test_expect_success '--pipepart --header : and its default block (-10 per slot)' '
    { echo HEAD; seq 10; } >h.txt &&
    run -k --pipepart -a h.txt --header : --block 6 "echo =; cat" >out &&
    printf "=\nHEAD\n1\n2\n3\n4\n=\nHEAD\n5\n6\n7\n8\n=\nHEAD\n9\n10\n" >want &&
    same want out &&
    run -k -j4 --pipepart -a big.txt "wc -l" >out2 &&
    test "$(wc -l <out2)" -eq 40 && head -4 out2 | tr "\n" " " >got2 &&
    printf "3167 2945 2945 2611 " >want2 && same want2 got2
'

test_expect_success '--roundrobin: -j tasks share the blocks, nothing lost' '
    seq 1000 | run -k --pipe --roundrobin --block 100 -j4 "wc -l" >out &&
    test "$(wc -l <out)" -eq 4 &&
    test "$(awk "{s += \$1} END {print s}" out)" -eq 1000 &&
    seq 10 | run -k --pipe --roundrobin -j4 "wc -l" >out2 &&
    echo 10 >want2 && same want2 out2 && no_temp_left &&
    { echo H; seq 100000; } |
        run -k --pipe --roundrobin --header : --block 1k -j3 \
            "awk \"/H/ {h++} END {print h, NR}\"" >out3 &&
    test "$(wc -l <out3)" -eq 3 && test "$(grep -c "^1 " out3)" -eq 3 &&
    test "$(awk "{s += \$2} END {print s}" out3)" -eq 100003 && no_temp_left
'

test_expect_success '--cat: {} is the block as a file in TMPDIR' '
    seq 3 | run -k --pipe --cat -N1 "cat {}; echo {}" >out &&
    sed -n "1p;3p;5p" out >data && printf "1\n2\n3\n" >want && same want data &&
    sed -n "2p;4p;6p" out | grep -c "^$TMPDIR/" >n && echo 3 >want3 &&
    same want3 n && no_temp_left
'

test_expect_success '--fifo: {} is a fifo that gives the block' '
    seq 3 | run -k --pipe --fifo -N1 "cat {}" >out &&
    printf "1\n2\n3\n" >want && same want out &&
    seq 1 20000 | run -k --pipe --fifo --block 10k "wc -c <{}" >out2 &&
    test "$(awk "{s += \$1} END {print s}" out2)" -eq "$(seq 1 20000 | wc -c)" &&
    no_temp_left
'

test_expect_success '--tee: every task gets all of stdin' '
    seq 10 | run -k --pipe --tee "grep {} | wc -l" ::: 1 2 >out &&
    printf "2\n1\n" >want && same want out && no_temp_left
'

test_expect_success 'every byte of a large input reaches exactly one task' '
    seq 1 2000000 >large.txt &&
    run -j3 --pipe --block 100k "wc -c" <large.txt >out &&
    test "$(awk "{s += \$1} END {print s}" out)" -eq "$(wc -c <large.txt)" &&
    run -k -j3 --pipe --block 100k cat <large.txt | md5sum >got &&
    md5sum <large.txt >want && same want got && no_temp_left
'

test_expect_success 'blocks run while stdin is still open (streaming)' '
    { seq 1 300000; sleep 3; } 2>/dev/null |
        run --pipe --block 100k "date +%s >>started; wc -l" >out &&
    end=$(date +%s) && first=$(sort -n started | head -1) &&
    echo "first task at $first, run ended at $end" &&
    test $((end - first)) -ge 2 &&
    test "$(awk "{s += \$1} END {print s}" out)" -eq 300000
'

test_expect_success 'no block file is left after SIGTERM of banyan run' '
    { seq 1 100000; sleep 30; } 2>/dev/null |
        $banyan run --db t.db -j2 --pipe --block 10k "sleep 30" >/dev/null 2>&1 &
    pid=$! &&
    i=0 && while [ -z "$(ls -A tmp)" ] && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1)); done &&
    test -n "$(ls -A tmp)" &&
    kill -TERM $pid && { wait $pid; true; } && no_temp_left
'

test_expect_success 'bad combinations are refused, as GNU refuses them' '
    check_usage_error "fifo cannot be combined" sh -c "echo | $banyan run --pipe --cat --fifo cat" &&
    check_usage_error "pipepart needs" $banyan run --pipepart cat &&
    check_usage_error "incompatible with --max-replace-args" $banyan run --pipepart -a fa.txt -N1 cat &&
    check_usage_error "retries cannot be combined" $banyan run --pipe --roundrobin --retries 2 cat &&
    check_usage_error "seekable" $banyan run --db t.db --pipepart -a /dev/stdin cat &&
    check_usage_error "invalid --block" $banyan run --pipe --block x cat &&
    check_usage_error "takes its input from stdin" $banyan run --pipe cat ::: a
'

test_done
