#!/bin/sh
# t0200-client.t - the client commands without a server: usage errors,
# keygen files, and a clear connection error (exit 3) when nobody listens.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"

# check_conn_error PATTERN cmd... : exit 3 within 5 s, one line matching.
check_conn_error() {
    pat=$1
    shift
    start=$(date +%s)
    "$@" >out 2>err
    rc=$?
    end=$(date +%s)
    cat err
    [ "$rc" -eq 3 ] || { echo "exit code $rc, expected 3"; return 1; }
    grep -q -- "$pat" err || { echo "stderr does not match '$pat'"; return 1; }
    [ "$(wc -l <err)" -eq 1 ] || { echo "not one line"; return 1; }
    [ $((end - start)) -le 5 ] || { echo "took $((end - start)) s"; return 1; }
}

nobody="ipc://$PWD/nobody.sock"

test_expect_success '--help of every client command exits 0 with usage' '
    for c in submit wait status log explain cancel keygen; do
        $banyan $c --help >out 2>err || { echo "$c --help failed"; return 1; }
        grep -q "^Usage: banyan $c" out || { echo "$c: no usage"; return 1; }
    done
'

test_expect_success 'submit: usage errors are one line, exit 2' '
    check_usage_error "no command" $banyan submit &&
    check_usage_error "unknown option .--frob." $banyan submit --frob echo ::: 1 &&
    check_usage_error "needs a value" $banyan submit --priority &&
    check_usage_error "invalid --array" $banyan submit --array 5-2 echo &&
    check_usage_error "invalid --array" $banyan submit --array x echo &&
    check_usage_error "cannot be combined" $banyan submit --array 3 echo ::: 1 &&
    check_usage_error "invalid --mem" $banyan submit --mem 2Q echo ::: 1 &&
    check_usage_error "gpus" $banyan submit --gpus 1.5 echo ::: 1 &&
    check_usage_error "invalid --timeout" $banyan submit --timeout soon echo ::: 1 &&
    check_usage_error "invalid --env" $banyan submit --env =x echo ::: 1 &&
    check_usage_error "invalid --priority" $banyan submit --priority high echo ::: 1
'

test_expect_success 'submit: template errors are found before connecting' '
    check_usage_error "word 2, column 3" $banyan submit --server "$nobody" -- echo ab{1 ::: x &&
    check_usage_error "{3}" $banyan submit --server "$nobody" -- echo {3} ::: a ::: b &&
    check_usage_error "{2}" $banyan submit --server "$nobody" --array 4 -- echo {2} &&
    check_usage_error "linked" $banyan submit --server "$nobody" -- echo :::+ a &&
    check_usage_error "no-such-file" $banyan submit --server "$nobody" echo :::: no-such-file
'

test_expect_success 'other commands: usage errors are one line, exit 2' '
    check_usage_error "one JOB" $banyan wait &&
    check_usage_error "invalid job id .abc." $banyan wait abc &&
    check_usage_error "invalid --timeout" $banyan wait --timeout x 1 &&
    check_usage_error "unexpected argument" $banyan status extra &&
    check_usage_error "JOB .TASK." $banyan log &&
    check_usage_error "invalid task number" $banyan log 1 x &&
    check_usage_error "JOB and TASK" $banyan explain 1 &&
    check_usage_error "invalid job id .0." $banyan cancel 0 &&
    check_usage_error "unknown option" $banyan keygen --frob &&
    check_usage_error "unexpected argument" $banyan keygen extra
'

test_expect_success 'a malformed endpoint is a usage error' '
    check_usage_error "invalid server endpoint .http://x." $banyan status --server http://x
'

test_expect_success 'submit with nobody listening: exit 3, one clear line, fast' '
    check_conn_error "cannot connect to the server at $nobody: connection refused" \
        $banyan submit --server "$nobody" -- echo ::: 1 2 &&
    test ! -s out
'

test_expect_success 'BANYAN_SERVER is used when --server is not given' '
    BANYAN_SERVER="$nobody" check_conn_error "$nobody" $banyan status
'

test_expect_success 'every read command: exit 3 when nobody listens' '
    check_conn_error refused $banyan wait --server "$nobody" 1 &&
    check_conn_error refused $banyan status --server "$nobody" --json &&
    check_conn_error refused $banyan log --server "$nobody" 1 &&
    check_conn_error refused $banyan explain --server "$nobody" 1 2 &&
    check_conn_error refused $banyan cancel --server "$nobody" 1
'

test_expect_success 'tcp: nobody on the port gives exit 3 naming the endpoint' '
    check_conn_error "tcp://127.0.0.1:9" $banyan submit --server tcp://127.0.0.1:9 -- true ::: 1
'

test_expect_success 'keygen writes PREFIX.key (0600) and PREFIX.pub' '
    $banyan keygen --out k1 >pub.out 2>err &&
    test "$(stat -c %a k1.key)" = 600 &&
    test -f k1.pub &&
    test "$(wc -l <k1.pub)" -eq 1 &&
    test "$(wc -c <k1.pub)" -eq 41 &&
    test "$(cat pub.out)" = "$(cat k1.pub)" &&
    grep -q "^public-key = $(cat k1.pub | sed "s/[][\\.*^$]/\\\\&/g")\$" k1.key &&
    test "$(grep -c "^secret-key = .\{40\}\$" k1.key)" -eq 1
'

test_expect_success 'keygen defaults to banyan.key / banyan.pub' '
    mkdir d && (cd d && $banyan keygen >/dev/null 2>&1) &&
    test -f d/banyan.key && test -f d/banyan.pub
'

test_expect_success 'two keygens give different keys' '
    $banyan keygen --out k2 >/dev/null 2>&1 &&
    ! cmp -s k1.pub k2.pub
'

test_expect_success 'keygen refuses to overwrite, exit 2, files unchanged' '
    cp k1.key k1.key.orig && cp k1.pub k1.pub.orig &&
    check_usage_error "exists" $banyan keygen --out k1 &&
    cmp k1.key k1.key.orig && cmp k1.pub k1.pub.orig &&
    echo mine >k3.pub &&
    check_usage_error "k3.pub" $banyan keygen --out k3 &&
    test ! -e k3.key && test "$(cat k3.pub)" = mine
'

test_expect_success 'keygen into a missing directory fails without leftovers' '
    expect_code 3 $banyan keygen --out no/such/dir/k 2>err &&
    grep -q "no/such/dir/k.key" err && test ! -e no
'

test_expect_success 'a client key without the server key is a usage error' '
    check_usage_error "server" $banyan status --server "$nobody" --key k1.key
'

test_expect_success 'a .pub file given as own key is a usage error' '
    check_usage_error "no secret key" $banyan status --server "$nobody" --key k1.pub --server-key k2.pub
'

test_done
