# tap.sh - TAP helpers for the numbered CLI tests (sourced, POSIX sh).
#
#   . "$BANYAN_SRCDIR/tests/cli/tap.sh"
#   need jq sqlite3        (the programs the file uses beyond sh, coreutils)
#   test_expect_success 'what it shows' 'commands...'
#   test_done
#
# Each test runs in the test's own directory ($BANYAN_TEST_TMPDIR, the
# working directory ctest gives it).  $banyan is the binary under test.

banyan=${BANYAN_BIN:?BANYAN_BIN is not set}
test_count=0
test_failed=0

test_expect_success() {
    test_count=$((test_count + 1))
    if (eval "$2") >"test.$test_count.log" 2>&1; then
        echo "ok $test_count - $1"
    else
        test_failed=$((test_failed + 1))
        echo "not ok $test_count - $1"
        sed 's/^/#   /' "test.$test_count.log"
    fi
}

# check_usage_error PATTERN cmd... : exit 2 (or $usage_code: 255 for
# banyan run, as GNU Parallel) and one line on stderr (the --help hint
# apart) matching PATTERN: the contract for bad input.
check_usage_error() {
    pat=$1
    shift
    "$@" >out 2>err
    rc=$?
    cat err
    [ "$rc" -eq "${usage_code:-2}" ] ||
        { echo "exit code $rc, expected ${usage_code:-2}"; return 1; }
    grep -q -- "$pat" err || { echo "stderr does not match '$pat'"; return 1; }
    [ "$(grep -vc '^Try ' err)" -eq 1 ] || { echo "not one line"; return 1; }
}

# need PROGRAM... : stop the file here, failed, with one line saying which
# programs it uses are not installed (scripts/install-deps.sh installs
# them), instead of letting every check that uses one fail, or time out
# waiting for a condition that can never hold.
need() {
    need_missing=
    for need_p in "$@"; do
        command -v "$need_p" >/dev/null 2>&1 ||
            need_missing="$need_missing${need_missing:+, }$need_p"
    done
    [ -z "$need_missing" ] && return 0
    echo "Bail out! $need_missing: not found (see scripts/install-deps.sh)"
    exit 1
}

test_diag() {
    echo "# $*"
}

test_done() {
    echo "1..$test_count"
    if [ "$test_failed" -ne 0 ]; then
        echo "# failed $test_failed of $test_count"
        exit 1
    fi
    exit 0
}

# expect_code N cmd... : run cmd, succeed if it exits with N.
expect_code() {
    want=$1
    shift
    "$@"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "expected exit code $want, got $got: $*"
        return 1
    fi
    return 0
}

# now_ms: a clock in milliseconds.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# sleep_until T_MS: sleep until now_ms reaches T_MS.
sleep_until() {
    su_left=$(($1 - $(now_ms)))
    [ "$su_left" -gt 0 ] &&
        sleep "$((su_left / 1000)).$(printf %03d $((su_left % 1000)))"
    return 0
}

# proc_alive PID: PID lives (a zombie waiting for a slow init does not).
proc_alive() {
    pa_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$pa_st" ] && [ "$pa_st" != Z ]
}

# lines FILE: lines of FILE, 0 when it does not exist.
lines() {
    if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# sql DB QUERY : run a query with sqlite3, one row per line, | separated.
sql() {
    sqlite3 -batch "$1" "$2"
}
