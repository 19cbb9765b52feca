# lib.sh - helpers for the cluster integration tests (sourced, POSIX sh).
#
#   . "$BANYAN_SRCDIR/tests/integration/lib.sh"
#
# Every process a test starts (server, workers, clients in the background)
# is recorded in ./pids and killed (SIGKILL, with its process group when it
# leads one) when the test exits, whether it passed, failed or was
# interrupted: a test never leaves a process behind.  Everything happens in
# the test's own directory (the working directory ctest gives it).
#
#   start_server NAME [OPTION...]   banyan server --db NAME.db, logs in
#                                   NAME.log; sets EP (the endpoint) and
#                                   SERVER_PID
#   start_worker NAME [OPTION...]   banyan worker --server $EP --name NAME,
#                                   logs in NAME.log; sets WORKER_PID.
#                                   Environment: pass it before the call
#                                   (BANYAN_GPUS=fake:2 start_worker ...)
#   wait_for SECONDS CMD...         retry CMD every 0.1 s until it succeeds
#   engines                         connected engines (banyan status)
#   status_field NAME               a number of the status ("malformed")
#   at_least NAME N                 status_field NAME >= N
#
# The status commands pass $CLIENT_OPTS (CURVE keys) when it is set.
#   kill_tree PID                   SIGKILL PID's children's groups and PID
#   test_clean_exit                 last test: SIGTERM all, no sanitizer
#                                   report in any *.log

. "$BANYAN_SRCDIR/tests/cli/tap.sh"

: >pids

cleanup() {
    while read -r p; do
        # Workers put each task in a group of its own: end those too.
        for c in $(pgrep -P "$p" 2>/dev/null); do
            kill -9 -- "-$c" 2>/dev/null
            kill -9 "$c" 2>/dev/null
        done
        kill -9 "$p" 2>/dev/null
    done <pids
    wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

remember() {
    echo "$1" >>pids
}

# start_server NAME [OPTION...]: listens on tcp://127.0.0.1:0 unless an
# option says --listen.
start_server() {
    name=$1
    shift
    case " $* " in
    *" --listen "*) set -- "$@" ;;
    *) set -- --listen tcp://127.0.0.1:0 "$@" ;;
    esac
    "$banyan" server --db "$PWD/$name.db" "$@" >>"$name.log" 2>&1 &
    SERVER_PID=$!
    remember $SERVER_PID
    i=0
    EP=
    while [ $i -lt 100 ]; do
        EP=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$name.log" | tail -1)
        [ -n "$EP" ] && kill -0 $SERVER_PID 2>/dev/null && return 0
        kill -0 $SERVER_PID 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    echo "server $name did not start:"
    cat "$name.log"
    return 1
}

start_worker() {
    name=$1
    shift
    "$banyan" worker --server "$EP" --name "$name" "$@" >>"$name.log" 2>&1 &
    WORKER_PID=$!
    remember $WORKER_PID
}

wait_for() {
    limit=$(($1 * 10))
    shift
    i=0
    while [ $i -lt $limit ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "timed out after $((limit / 10)) s waiting for: $*"
    return 1
}

# engines: the number of engines the server has now.
engines() {
    status_field engines
}

# engines_are N: true when the server has N engines.
engines_are() {
    [ "$(engines)" = "$1" ]
}

# status_field NAME: a number of the server's status ("malformed", ...).
status_field() {
    # shellcheck disable=SC2086
    "$banyan" status --server "$EP" $CLIENT_OPTS --json 2>/dev/null |
        grep -o "\"$1\": *[0-9][0-9]*" | head -1 | sed 's/.*: *//' 
}

at_least() {
    v=$(status_field "$1")
    [ -n "$v" ] && [ "$v" -ge "$2" ]
}

# stop_all: SIGTERM to every process still running (servers and workers
# stop cleanly on it, so sanitizers get to report), SIGKILL after 10 s.
stop_all() {
    live=
    while read -r p; do
        kill -TERM "$p" 2>/dev/null && live="$live $p"
    done <pids
    i=0
    while [ $i -lt 100 ]; do
        left=
        for p in $live; do
            kill -0 "$p" 2>/dev/null && left="$left $p"
        done
        [ -z "$left" ] && break
        sleep 0.1
        i=$((i + 1))
    done
    for p in $left; do
        echo "pid $p ignored SIGTERM for 10 s"
    done
    [ -z "$left" ]
}

# test_clean_exit: the last test of every file: every process stops on
# SIGTERM, and no log holds a sanitizer report (ASan, UBSan, LSan).
test_clean_exit() {
    test_expect_success 'every process stops cleanly, no sanitizer report' '
        stop_all &&
        ! grep -l "Sanitizer\|runtime error:" ./*.log
    '
}

kill_tree() {
    # Freeze the worker first (it starts nothing more), then its tasks,
    # so no task can finish between the worker's death and its own.
    kill -STOP "$1" 2>/dev/null
    kids=$(pgrep -P "$1" 2>/dev/null)
    for c in $kids; do
        kill -STOP -- "-$c" 2>/dev/null
    done
    kill -9 "$1" 2>/dev/null
    for c in $kids; do
        kill -9 -- "-$c" 2>/dev/null
        kill -CONT -- "-$c" 2>/dev/null
    done
    wait "$1" 2>/dev/null
    return 0
}
