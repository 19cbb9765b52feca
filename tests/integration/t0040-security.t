#!/bin/sh
# t0040-security.t - who may talk to a server, and what a hostile peer can
# do to it.  With CURVE keys and an allow-list (on tcp://127.0.0.1, so the
# refusal is the allow-list's doing), a worker whose key is not listed is
# refused and gets no task.  A non-loopback --listen without keys is refused
# (exit 2) unless --insecure.  Database, key and log files are 0600.
# Malformed frames sent to a live server are dropped and counted while it
# keeps serving.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"

RAWPEER=${1:?the path of integ_rawpeer}

mode() {
    stat -c %a "$1"
}

# keygen_with NAME CHAR: a key pair NAME.key / NAME.pub whose public key
# contains CHAR (keys are random: try until one does).
keygen_with() {
    i=0
    while [ $i -lt 200 ]; do
        rm -f try.key try.pub
        $banyan keygen --out try >/dev/null || return 1
        if grep -qF "$2" try.pub; then
            mv try.key "$1.key" && mv try.pub "$1.pub"
            return
        fi
        i=$((i + 1))
    done
    echo "no key with $2 in 200 tries"
    return 1
}

test_expect_success 'keygen writes 0600 key files' '
    for k in srv bad; do
        $banyan keygen --out $k >$k.out || return 1
    done &&
    keygen_with good = && keygen_with alice = &&
    for k in srv bad good alice; do
        [ "$(mode $k.key)" = 600 ] || { echo "$k.key $(mode $k.key)"; return 1; }
    done &&
    cat alice.pub >allow && cat good.pub >workers
'

start_server srv --key srv.key --allow allow --allow-workers workers || exit 1
SECURE=$EP
start_worker good --cpus 2 --key good.key --server-key srv.pub
start_worker bad --cpus 2 --key bad.key --server-key srv.pub
# alice: the client, on the list.
A="--key alice.key --server-key srv.pub"
CLIENT_OPTS=$A
export BANYAN_SERVER=$EP

test_expect_success 'the database is created 0600' '
    [ "$(mode srv.db)" = 600 ]
'

test_expect_success 'the allowed worker joins, the other is refused' '
    wait_for 20 at_least refused 1 &&
    $banyan status $A >st && cat st &&
    grep -q " good " st && ! grep -q " bad " st &&
    wait_for 10 grep -q "refused .* not on the allow-list" srv.log &&
    grep "refused" srv.log
'

# Regression: the allow-list reader took the "=" inside a bare Z85 key for
# a "label = key" line and dropped the key, so listed peers were refused.
test_expect_success 'keys with "=" inside are read from the allow-list' '
    grep -q = alice.pub && grep -q = good.pub &&
    $banyan status $A | grep -q "1 engines"
'

test_expect_success 'a job runs on the allowed worker only' '
    $banyan submit $A --array 1-20 --wait -- "echo {} \$BANYAN_WORKER" &&
    $banyan results $A 1 >r1 && cat r1 &&
    [ "$(grep -c " ok .* good " r1)" -eq 20 ] && ! grep -q " bad " r1 &&
    ! grep -q "connected" bad.log
'

test_expect_success 'the job log is 0600' '
    [ "$(mode srv.db.logs/1.log)" = 600 ]
'

test_expect_success 'a non-loopback --listen without keys exits 2' '
    expect_code 2 $banyan server --listen tcp://0.0.0.0:0 --db open.db \
        >open.out 2>&1 &&
    cat open.out && grep -qi "insecure\|key" open.out &&
    expect_code 2 $banyan server --listen "tcp://*:0" --db open.db >/dev/null 2>&1
'

test_expect_success '--insecure lets it listen' '
    { $banyan server --listen tcp://0.0.0.0:0 --db insecure.db --insecure \
        >ins.log 2>&1 & echo $! >>pids; p=$!; } &&
    wait_for 10 grep -q "listening on" ins.log &&
    kill -0 $p && kill -TERM $p && wait $p
'

# A plain loopback server for the hostile frames: a CURVE server would
# refuse the raw peer at its handshake, before any frame is decoded.
start_server plain || exit 1
start_worker w2 --cpus 2
CLIENT_OPTS=
export BANYAN_SERVER=$EP

test_expect_success 'malformed frames are dropped and counted' '
    wait_for 20 engines_are 1 &&
    [ "$(status_field malformed)" = 0 ] &&
    $RAWPEER "$EP" 100 >raw.out && cat raw.out &&
    grep -q "sent 700" raw.out &&
    wait_for 20 at_least malformed 700 ||
        { echo "malformed: $(status_field malformed)"; return 1; }
'

test_expect_success 'the server keeps serving after them' '
    kill -0 $SERVER_PID &&
    $banyan submit --array 1-20 --wait -- "echo {}" >/dev/null &&
    $RAWPEER "$EP" 10 >/dev/null &&
    $banyan submit --array 1-20 --wait -- "echo {}" >/dev/null &&
    engines_are 1 && echo "malformed: $(status_field malformed)"
'

test_expect_success 'the server logs the dropped messages, in few lines' '
    wait_for 10 grep -q "dropped [0-9]* malformed messages, last: " plain.log &&
    grep malformed plain.log &&
    [ "$(grep -c malformed plain.log)" -le 10 ]
'

test_clean_exit
test_done
