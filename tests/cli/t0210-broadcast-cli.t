#!/bin/sh
# t0210-broadcast-cli.t - banyan broadcast, submit --blob/--stdin-blob and
# status --tree without a server: usage errors (exit 2, one clear line,
# found before connecting) and what happens when nobody listens.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"

# check_fast CODE PATTERN cmd... : exit CODE within 15 s (half the 30 s a
# command that waited for an answer would take; ASan on a loaded host has
# taken 7 s to fail fast), one line matching,
# nothing on stdout.
check_fast() {
    want=$1
    pat=$2
    shift 2
    start=$(date +%s)
    "$@" >out 2>err
    rc=$?
    end=$(date +%s)
    cat err
    [ "$rc" -eq "$want" ] || { echo "exit code $rc, expected $want"; return 1; }
    grep -q -- "$pat" err || { echo "stderr does not match '$pat'"; return 1; }
    [ "$(wc -l <err)" -eq 1 ] || { echo "not one line"; return 1; }
    [ ! -s out ] || { echo "something on stdout"; return 1; }
    [ $((end - start)) -le 15 ] || { echo "took $((end - start)) s"; return 1; }
}

nobody="ipc://$PWD/nobody.sock"
printf 'payload\n' >blob.txt
mkdir adir

test_expect_success 'broadcast --help: usage, BANYAN_BLOB_0, exit codes' '
    $banyan broadcast --help >out 2>err &&
    grep -q "^Usage: banyan broadcast" out &&
    grep -q "BANYAN_BLOB_0" out &&
    grep -q "timeout" out &&
    $banyan --help >out 2>err &&
    grep -q "^  broadcast " out
'

test_expect_success 'broadcast: a bad --timeout is exit 2 before connecting' '
    check_usage_error "invalid --timeout .x." $banyan broadcast --server "$nobody" --timeout x &&
    check_usage_error "invalid --timeout .0." $banyan broadcast --server "$nobody" --timeout 0 &&
    check_usage_error "invalid --timeout .-5." $banyan broadcast --server "$nobody" --timeout -5 &&
    check_usage_error "needs a value" $banyan broadcast --timeout
'

test_expect_success 'broadcast: a missing or odd --blob file is exit 2' '
    check_usage_error "cannot read --blob .no-such-file.: No such file" \
        $banyan broadcast --server "$nobody" --blob no-such-file &&
    check_usage_error "not a regular file" \
        $banyan broadcast --server "$nobody" --blob adir -- cat
'

test_expect_success 'broadcast: unknown option, malformed endpoint: exit 2' '
    check_usage_error "unknown option .--frob." $banyan broadcast --frob &&
    check_usage_error "invalid server endpoint" $banyan broadcast --server http://x
'

test_expect_success 'broadcast with nobody listening: exit 2, one line, fast' '
    check_fast 2 "cannot connect to the server at $nobody: connection refused" \
        $banyan broadcast --server "$nobody" &&
    check_fast 2 refused $banyan broadcast --server "$nobody" -- uname -n &&
    check_fast 2 refused $banyan broadcast --server "$nobody" --blob blob.txt &&
    check_fast 2 "tcp://127.0.0.1:9" $banyan broadcast --server tcp://127.0.0.1:9 --json &&
    BANYAN_SERVER="$nobody" check_fast 2 "$nobody" $banyan broadcast --quiet
'

test_expect_success 'submit --help documents --blob and BANYAN_BLOB_<i>' '
    $banyan submit --help >out &&
    grep -q -- "--blob FILE" out &&
    grep -q -- "--stdin-blob FILE" out &&
    grep -q "BANYAN_BLOB_<i>" out
'

test_expect_success 'submit: blob files are checked before connecting' '
    check_usage_error "cannot read --blob .no-such-file." \
        $banyan submit --server "$nobody" --blob no-such-file --array 2 true &&
    check_usage_error "cannot read --stdin-blob .nope." \
        $banyan submit --server "$nobody" --stdin-blob nope --array 2 cat &&
    check_usage_error "--blob .adir. is not a regular file" \
        $banyan submit --server "$nobody" --blob adir --array 2 true &&
    check_usage_error "given twice" \
        $banyan submit --stdin-blob blob.txt --stdin-blob blob.txt --array 2 cat
'

test_expect_success 'submit: at most 16 blobs' '
    set -- &&
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
        set -- "$@" --blob blob.txt
    done &&
    check_usage_error "at most 16 blobs" \
        $banyan submit --server "$nobody" "$@" --blob blob.txt --array 2 true &&
    check_usage_error "at most 16 blobs" \
        $banyan submit --server "$nobody" "$@" --stdin-blob blob.txt --array 2 cat
'

test_expect_success 'submit --blob with nobody listening: exit 3, nothing printed' '
    check_fast 3 refused $banyan submit --server "$nobody" --blob blob.txt --array 2 true &&
    check_fast 3 refused $banyan submit --server "$nobody" --stdin-blob blob.txt --array 2 cat
'

test_expect_success 'status --tree: usage errors exit 2, nobody listening exit 3' '
    $banyan status --help >out && grep -q -- "--tree" out &&
    check_usage_error "unexpected argument" $banyan status --tree extra &&
    check_usage_error "unknown option" $banyan status --trees &&
    check_fast 3 refused $banyan status --tree --server "$nobody"
'

test_done
