#!/bin/sh
# t0650-gnu-remote.t - banyan run -S against a real sshd (Debian's
# openssh-server) that the test starts on a free loopback port, with its
# own host key, user key and ssh config: the same command lines through
# GNU Parallel (when installed, with rsync for the file transfers) and
# banyan run give the same output, exit code and files; no worker is left
# on the "remote" host afterwards, also after SIGTERM of banyan run.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# Two to three minutes under the sanitizers, for ssh and tar more than for
# banyan: make check runs it in the normal build only (run it by hand
# against build-asan/banyan: BANYAN_BIN=build-asan/banyan sh THIS_FILE).
[ "${BANYAN_SANITIZED:-0}" = 1 ] &&
    skip_all "runs in the normal build of make check (sanitized: too slow for CI)"

for p in sshd ssh ssh-keygen; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] ||
        skip_all "$p not found (scripts/install-deps.sh installs openssh-server and openssh-client)"
done
sshd_bin=$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)
need pgrep tar

d=$(pwd)
ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey" >/dev/null </dev/null &&
ssh-keygen -q -t ed25519 -N '' -f "$d/userkey" >/dev/null </dev/null &&
cp "$d/userkey.pub" "$d/authorized_keys" ||
    skip_all "ssh-keygen could not make the keys"

# A free loopback port: bind port 0 and read what the kernel picked.
free_port() {
    for py in /usr/bin/python3 python3; do
        "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return 0
    done
    echo $((20000 + $$ % 20000))
}

# sshd needs its privilege separation directory (root only).
[ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null

start_sshd() {
    port=$(free_port)
    cat >"$d/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $d/hostkey
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
MaxStartups 100
EOF
    cat >"$d/ssh_config" <<EOF
Host alias
    HostName 127.0.0.1
    Port $port
    User $(id -un)
    IdentityFile $d/userkey
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
EOF
    "$sshd_bin" -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
    sshd_pid=$!
}

stop_sshd() {
    [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null
    wait "$sshd_pid" 2>/dev/null
    sshd_pid=
}
trap stop_sshd EXIT
trap 'stop_sshd; exit 1' INT TERM

SSH="ssh -F $d/ssh_config"
up=
for try in 1 2 3; do
    start_sshd
    i=0
    while [ $i -lt 100 ]; do
        if $SSH -o BatchMode=yes -o ConnectTimeout=5 alias true \
            </dev/null 2>/dev/null; then
            up=1
            break
        fi
        kill -0 "$sshd_pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$up" ] && break
    stop_sshd
done
[ -n "$up" ] || skip_all "sshd could not be started: $(tail -n 2 "$d/sshd.log" | tr '\n' ' ')"

gnu=
command -v parallel >/dev/null 2>&1 && command -v rsync >/dev/null 2>&1 &&
    gnu=parallel
[ -n "$gnu" ] || test_diag "GNU parallel or rsync missing: comparing with GNU's recorded output only"

# brun ARGS... : banyan run --ssh "$SSH" ARGS, stdout in out, stderr in
# err, exit code in rc; then nothing of it may be left running: its
# children, and the remote workers (their socket names carry its pid).
brun() {
    "$banyan" run --ssh "$SSH" "$@" >out 2>err &
    brun_pid=$!
    wait $brun_pid
    rc=$?
    no_leftovers $brun_pid
}

no_leftovers() {
    nl_i=0
    while [ $nl_i -lt 50 ]; do
        pgrep -f -- "banyan-run-$1-" >left || return 0
        sleep 0.1
        nl_i=$((nl_i + 1))
    done
    echo "left running after banyan run (pid $1):"
    ps -o pid,ppid,args -p "$(paste -sd, left)"
    return 1
}

# grun ARGS... : the same through GNU Parallel, into gout, gerr, grc.
grun() {
    parallel --ssh "$SSH" "$@" >gout 2>gerr
    grc=$?
}

# same EXPECTED: banyan's out matches the expected text, and GNU's when
# it is installed.
same() {
    printf '%s' "$1" >want
    diff want out || { echo "stderr:"; cat err; return 1; }
    if [ -n "$gnu" ]; then
        diff gout out || { echo "GNU said otherwise"; return 1; }
        [ "$grc" = "$rc" ] || { echo "rc $rc, GNU's $grc"; return 1; }
    fi
}

test_expect_success '-S alias: the tasks run there, output in order' '
    brun -k -S alias echo ::: a b c &&
    { [ -z "$gnu" ] || grun -k -S alias echo ::: a b c; } &&
    same "a
b
c
" && [ "$rc" -eq 0 ] && [ ! -s err ]
'

test_expect_success '-S 2/alias: two slots there, tasks run at once' '
    brun -k -S 2/alias "echo {} \$(hostname) >/dev/null; sleep 1; echo {}" ::: x y &&
    { [ -z "$gnu" ] || grun -k -S 2/alias "echo {} \$(hostname) >/dev/null; sleep 1; echo {}" ::: x y; } &&
    same "x
y
" && [ "$rc" -eq 0 ]
'

test_expect_success '-S :,alias: this machine and the remote share the tasks' '
    brun -k -S :,alias echo ::: a b c d &&
    { [ -z "$gnu" ] || grun -k -S :,alias echo ::: a b c d; } &&
    same "a
b
c
d
" && [ "$rc" -eq 0 ] && [ ! -s err ]
'

test_expect_success 'GNU variables in remote tasks' '
    brun -k -S 1/alias "echo \$PARALLEL_SEQ \$PARALLEL_JOBSLOT \$PARALLEL_SSHLOGIN {}" ::: a b &&
    { [ -z "$gnu" ] || grun -k -S 1/alias "echo \$PARALLEL_SEQ \$PARALLEL_JOBSLOT \$PARALLEL_SSHLOGIN {}" ::: a b; } &&
    same "1 1 alias a
2 1 alias b
" && [ "$rc" -eq 0 ]
'

test_expect_success 'a sshlogin with its own ssh command, and --slf' '
    printf "# hosts\n1/$SSH alias\n" >slf &&
    "$banyan" run -k --slf slf echo ::: p q >out 2>err &&
    printf "p\nq\n" >want && diff want out
'

test_expect_success 'failing remote tasks: exit code is their number' '
    brun -k -S alias "echo {}; exit {}" ::: 0 1 2 &&
    { [ -z "$gnu" ] || grun -k -S alias "echo {}; exit {}" ::: 0 1 2; } &&
    same "0
1
2
" && [ "$rc" -eq 2 ]
'

# The remote side works in rw-B (banyan) and rw-G (GNU): same host, so
# the files would otherwise collide.
transfer_case() {
    mkdir -p "$1" && cd "$1" &&
    printf "one\n" >in1.txt && printf "two\n" >in2.txt &&
    if [ "$1" = B ]; then run="$banyan run"; else run=parallel; fi &&
    $run --ssh "$SSH" -k -S alias --workdir "$d/$1/rw" --trc {}.out \
        "wc -l < {} > {}.out; cat {}" ::: in1.txt in2.txt >out 2>err
    echo $? >rc
    cd "$d"
}

test_expect_success '--transferfile, --return, --cleanup (--trc) round trip' '
    transfer_case B &&
    printf "one\ntwo\n" >want && diff want B/out && [ "$(cat B/rc)" = 0 ] &&
    [ "$(cat B/in1.txt.out)" = 1 ] && [ "$(cat B/in2.txt.out)" = 1 ] &&
    [ ! -e B/rw ] &&
    if [ -n "$gnu" ]; then
        transfer_case G &&
        diff G/out B/out && [ "$(cat G/rc)" = 0 ] &&
        diff G/in1.txt.out B/in1.txt.out && [ ! -e G/rw ]
    fi
'

test_expect_success '--transferfile without --cleanup leaves the files there' '
    mkdir -p T && cd T && printf "abc\n" >f.txt &&
    brun -S alias --workdir "$d/T/rw" --transferfile {} cat ::: f.txt &&
    cd "$d" && [ "$(cat T/out)" = abc ] && [ "$rc" -eq 0 ] &&
    [ "$(cat T/rw/f.txt)" = abc ]
'

test_expect_success '--basefile: sent once before the tasks' '
    mkdir -p BF && cd BF && printf "base\n" >base.txt &&
    brun -k -S alias --workdir "$d/BF/rw" --bf base.txt "cat base.txt; echo {}" ::: x y &&
    cd "$d" && printf "base\nx\nbase\ny\n" >want && diff want BF/out &&
    [ -f BF/rw/base.txt ] && [ "$rc" -eq 0 ]
'

test_expect_success '--nonall: the command once on every host' '
    brun -k -S alias,: --nonall "echo hi" &&
    { [ -z "$gnu" ] || grun -k -S alias,: --nonall "echo hi"; } &&
    same "hi
hi
" && [ "$rc" -eq 0 ]
'

test_expect_success '--onall: every task on every host' '
    brun -k -S alias,: --onall echo ::: a b &&
    { [ -z "$gnu" ] || grun -k -S alias,: --onall echo ::: a b; } &&
    same "a
b
a
b
" && [ "$rc" -eq 0 ]
'

test_expect_success '--joblog: the Host column is the sshlogin' '
    brun -k -S alias --joblog jl echo ::: a &&
    [ "$(sed -n 2p jl | cut -f 2,5-9)" = "alias	0	2	0	0	echo a" ]
'

test_expect_success 'SIGTERM: banyan run stops, no worker left on the remote' '
    rm -f started &&
    "$banyan" run --ssh "$SSH" -S alias "touch $d/started; sleep 60" ::: 1 \
        >out 2>err &
    p=$! && i=0 &&
    while [ ! -e started ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done &&
    [ -e started ] && kill -TERM $p && { wait $p; rc=$?; } &&
    [ "$rc" -eq 143 ] && no_leftovers $p &&
    ! pgrep -f -- "touch $d/started" >/dev/null
'

test_expect_success 'an unreachable host: said, exit 1, nothing left' '
    "$banyan" run --ssh "ssh -F $d/ssh_config -o ConnectTimeout=3" \
        -S nosuchhost.invalid echo ::: a >out 2>err &
    p=$! && { wait $p; rc=$?; } && cat err &&
    [ "$rc" -eq 1 ] && grep -q "nosuchhost" err && no_leftovers $p
'

test_done
