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
# The cleanup and kill_tree find a process's children with pgrep.  A test
# that uses q or none needs sqlite3, the tree helpers jq: it says so with
# need.
need pgrep

: >pids

cleanup() {
    while read -r p; do
        # Workers put each task in a group of its own: end those too.
        for c in $(pgrep -P "$p" 2>/dev/null); do
            kill -9 "-$c" 2>/dev/null
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

# start_workers N [OPTION]... : workers w1..wN with these options; each
# "wI PID" line goes to the file ./workers.
start_workers() {
    n=$1
    shift
    : >workers
    i=1
    while [ $i -le "$n" ]; do
        start_worker "w$i" "$@"
        echo "w$i $WORKER_PID" >>workers
        i=$((i + 1))
    done
}

# write_kill_task: task.sh for the kill tests.  Each run appends "WORKER
# start" and "WORKER end" to ran.<task id>; runs that start before the
# kill (the file killed.at) last 4 s, later ones 1 s.
write_kill_task() {
    cat >task.sh <<EOF
f=$PWD/ran.\$BANYAN_JOB_ID.\$BANYAN_TASK_ID
echo "\$BANYAN_WORKER start" >>"\$f"
if [ -e "$PWD/killed.at" ]; then sleep 1; else sleep 4; fi
echo "\$BANYAN_WORKER end" >>"\$f"
EOF
}

# q SQL: run a query on r.db (results loaded by the test), a row a line.
q() {
    sqlite3 -batch r.db "$1"
}

# none SQL: the query returns no row (prints the first ones otherwise).
none() {
    rows=$(q "$1") || return 1
    [ -z "$rows" ] || { echo "$rows" | head; return 1; }
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
        if grep -l "Sanitizer\|runtime error:" ./*.log; then
            # the report itself, so that a failure in CI can be read there
            grep -h -B2 -A40 "Sanitizer\|runtime error:" ./*.log | head -120
            false
        fi
    '
}

kill_tree() {
    # Freeze the worker first (it starts nothing more), then its tasks,
    # so no task can finish between the worker's death and its own.
    kill -STOP "$1" 2>/dev/null
    kids=$(pgrep -P "$1" 2>/dev/null)
    for c in $kids; do
        kill -STOP "-$c" 2>/dev/null
    done
    kill -9 "$1" 2>/dev/null
    for c in $kids; do
        kill -9 "-$c" 2>/dev/null
        kill -CONT "-$c" 2>/dev/null
    done
    wait "$1" 2>/dev/null
    return 0
}

# ------------------------------------------------------------ the tree
#
#   tree_json                       banyan status --tree --json (the
#                                   "tree" of the status answer)
#   tree_engines                    engines of the whole tree: the root's
#                                   direct children plus each one's
#                                   subtree.engines
#   tree_formed N                   N engines in the tree, N + 1 nodes, and
#                                   every node's counters reported
#   tree_depth_bound N K            D(N, K): the least d with
#                                   K + K^2 + ... + K^d >= N
#   tree_node NAME                  the node (engine id) worker NAME holds
#                                   now, from its log
#   tree_parent NODE                NODE's parent in the server's topology
#   tree_counter PATH               a number of tree_json (a jq path such
#                                   as .events.steals)

tree_json() {
    # shellcheck disable=SC2086
    "$banyan" status --server "$EP" $CLIENT_OPTS --tree --json 2>/dev/null
}

tree_engines() {
    # shellcheck disable=SC2086
    "$banyan" status --server "$EP" $CLIENT_OPTS --json 2>/dev/null |
        jq '(.engines | length)
            + ([.engines[].subtree.engines // 0] | add // 0)'
}

tree_formed() {
    [ "$(tree_engines)" = "$1" ] &&
        tree_json | jq -e --argjson n "$1" '
            (.nodes | length) == $n + 1
            and all(.nodes[] | select(.node != 0); .received > 0)' \
            >/dev/null
}

tree_depth_bound() {
    td_d=0
    td_cap=0
    td_level=1
    while [ "$td_cap" -lt "$1" ]; do
        td_level=$((td_level * $2))
        td_cap=$((td_cap + td_level))
        td_d=$((td_d + 1))
    done
    echo "$td_d"
}

tree_node() {
    sed -n 's/.* as engine \([0-9][0-9]*\) .*/\1/p' "$1.log" | tail -1
}

tree_parent() {
    tree_json | jq --argjson n "$1" '.nodes[] | select(.node == $n) | .parent'
}

tree_counter() {
    tree_json | jq "$1"
}

# pid_gone PID: PID has ended (gone, or a zombie nobody reaped yet).
pid_gone() {
    ! kill -0 "$1" 2>/dev/null ||
        [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# workers_logged FILE: every worker of FILE ("NAME PID" lines) has logged
# the node it holds (a worker logs its attachment on a timer, a little
# after the server shows it in the tree).
workers_logged() {
    while read -r wl_name wl_pid; do
        [ -n "$(tree_node "$wl_name")" ] || return 1
    done <"$1"
}

