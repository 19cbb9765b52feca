#!/bin/sh
# t0250-identity.t - nobody can pose as a worker, and keys have roles
# (issue 17 item 1).  With CURVE: a client key cannot join as a worker, a
# worker key cannot query, a HELLO that names a connected worker's id from
# another worker key is refused as forged, and a key on no list is told so
# at once instead of waiting forever.  Without CURVE, on loopback: a peer
# without the user's token (another token, another user) is refused, and
# a worker's id cannot be read from /proc.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
rawpeer=$1

test_expect_success 'keys: a server, a client, two workers, a stranger' '
    for k in srv alice w1 w2 eve; do
        $banyan keygen --out $k >/dev/null || return 1
    done &&
    cat alice.pub >clients && cat w1.pub w2.pub >workers
'

start_server srv --key srv.key --allow clients --allow-workers workers ||
    exit 1
A="--key alice.key --server-key srv.pub"
CLIENT_OPTS=$A
export BANYAN_SERVER=$EP

test_expect_success 'a worker key joins as a worker' '
    "$rawpeer" "$EP" hello forged-id w1.key srv.pub >h1 && cat h1 &&
    grep -q "^welcome " h1
'

test_expect_success 'another worker key naming its id is refused: forged' '
    "$rawpeer" "$EP" hello forged-id w2.key srv.pub >h2 && cat h2 &&
    grep -q "^error .*authenticated with another key" h2 &&
    [ "$(status_field forged)" = 1 ] && engines_are 1
'

test_expect_success 'a client key cannot join as a worker' '
    "$rawpeer" "$EP" hello sneaky alice.key srv.pub >h3 && cat h3 &&
    grep -q "^error a client key may not join as a worker" h3 &&
    engines_are 1 && at_least forbidden 1
'

test_expect_success 'a worker key cannot query or submit' '
    ! $banyan status --key w1.key --server-key srv.pub >st 2>err &&
    cat err && grep -q "a worker key may not send client requests" err &&
    ! $banyan submit --key w2.key --server-key srv.pub -- true 2>err &&
    grep -q "may not send client requests" err
'

test_expect_success 'a key on no list fails at once and names its key' '
    timeout 60 $banyan status --key eve.key --server-key srv.pub >st 2>err
    rc=$? && cat err && [ $rc -ne 0 ] && [ $rc -ne 124 ] &&
    grep -qF "refused key $(cat eve.pub)" err
'

test_expect_success 'the refusals are logged in few lines' '
    wait_for 10 grep -q "refused .* for the sender.s key" srv.log &&
    grep "sender" srv.log
'

stop_all
rm -f pids && : >pids
start_server plain || exit 1
CLIENT_OPTS=
export BANYAN_SERVER=$EP

test_expect_success 'without keys, the server made the user token, 0600' '
    [ -f "$BANYAN_TOKEN_FILE" ] &&
    [ "$(stat -c %a "$BANYAN_TOKEN_FILE")" = 600 ] &&
    $banyan status >st && grep -q "0 engines" st
'

test_expect_success 'another token is refused at once' '
    head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n" >other &&
    chmod 600 other &&
    ! BANYAN_TOKEN_FILE=$PWD/other $banyan status >st 2>err && cat err &&
    grep -q "refused our token" err
'

test_expect_success 'a token others may read is refused' '
    cp "$BANYAN_TOKEN_FILE" shared && chmod 644 shared &&
    ! BANYAN_TOKEN_FILE=$PWD/shared $banyan status >st 2>err && cat err &&
    grep -q "others may read it" err
'

if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then
    test_expect_success 'another user can neither query nor join' '
        chmod 755 . && cp "$banyan" ./banyan-copy && chmod 755 banyan-copy &&
        ! runuser -u nobody -- env HOME=/nonexistent \
            BANYAN_TOKEN_FILE=/nonexistent/token ./banyan-copy status \
            --server "$EP" >st 2>err && cat err &&
        grep -q "token" err &&
        ! runuser -u nobody -- env BANYAN_TOKEN_FILE="$BANYAN_TOKEN_FILE" \
            ./banyan-copy status --server "$EP" >st 2>err && cat err &&
        grep -q "Permission denied" err && engines_are 0
    '
else
    test_count=$((test_count + 1))
    echo "ok $test_count - another user can neither query nor join # SKIP needs root and runuser"
fi

test_expect_success 'a worker id carries a secret: not readable in /proc' '
    start_worker w --cpus 1 &&
    wait_for 20 engines_are 1 &&
    id=$(hostname):$WORKER_PID &&
    "$rawpeer" "$EP" hello "$id" >h4 && cat h4 &&
    grep -q "^welcome " h4 && engines_are 2 &&
    ! grep -q "HELLO again" plain.log
'

test_clean_exit
test_done
