#!/bin/sh
# t0500-bad-input.t - input an attacker or an accident gives: each is a
# one-line error with exit 2 (255 for banyan run, as GNU Parallel) and
# nothing started, or output that survives it (issue 17's smaller
# defects).
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need jq

test_expect_success '--results naming a regular file is refused before anything runs' '
    : >plain && usage_code=255 &&
    check_usage_error "cannot use --results .plain.: Not a directory" \
        $banyan run --db r.db --results plain echo {} ::: a b &&
    [ ! -e r.db ] && [ ! -s plain ]
'

test_expect_success '--results writes each task its stdout file' '
    $banyan run --db r2.db --results res echo {} ::: a b >/dev/null &&
    [ "$(cat res/1/a/stdout res/1/b/stdout)" = "a
b" ]
'

test_expect_success 'results --json keeps a task whose output is not UTF-8' '
    printf "printf \"a\\\\377b\\\\n\"\n" >bad.sh &&
    $banyan run --db u.db sh bad.sh ::: 1 >/dev/null &&
    $banyan results --db u.db --json 1 >u.json &&
    jq -e ".[0].stdout_tail == \"a\\ufffdb\\n\"" u.json
'

test_expect_success ':::: /dev/zero fails at once instead of filling memory' '
    usage_code=255 &&
    check_usage_error "/dev/zero., line 1: a NUL byte" \
        timeout 20 $banyan run --db z.db echo :::: /dev/zero
'

test_expect_success 'a NUL byte in an input line is an error, not a cut line' '
    printf "a\nb\0c\n" >nul.txt && usage_code=255 &&
    check_usage_error "nul.txt., line 2: a NUL byte" \
        $banyan run --db z.db echo :::: nul.txt
'

test_expect_success 'an input line longer than 1 MiB is an error' '
    head -c 1100000 /dev/zero | tr "\0" x >long.txt && usage_code=255 &&
    check_usage_error "long.txt., line 1: longer than 1048576 bytes" \
        $banyan run --db z.db echo :::: long.txt
'

test_expect_success 'a TCP port above 65535 is refused, not wrapped' '
    timeout 20 $banyan server --db s.db --listen tcp://127.0.0.1:99999 \
        2>err; rc=$?; cat err &&
    [ "$rc" -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] && [ ! -e s.db ] &&
    [ "$(grep -c "invalid port in tcp://127.0.0.1:99999" err)" -eq 1 ] &&
    timeout 20 $banyan status --server tcp://127.0.0.1:70000 2>err;
    rc=$?; cat err && [ "$rc" -eq 2 ] && grep -q "invalid server endpoint" err
'

test_expect_success 'a sweep name that leaves .banyan/sweeps is refused' '
    printf "name: ../../x\ncommand: echo {p}\nparameters:\n  p: [1]\n" >up.yaml &&
    check_usage_error "up.yaml:1:7: .name. must be a plain file name" \
        $banyan sweep --db w.db up.yaml &&
    [ ! -e ../x ] && [ ! -e x ]
'

test_expect_success 'a repeated sweep value is found among 100,000 at once' '
    { printf "name: big\ncommand: echo {p}\nparameters:\n  p: [" &&
      seq -s ", " 0 99999 | tr -d "\n" && printf ", 5.0]\n"; } >big.yaml &&
    check_usage_error "big.yaml:4:.*lists the value .5. twice" \
        timeout 20 $banyan sweep --db w.db big.yaml
'

test_done
