# launch_lib.sh - what the tests of `banyan launch` share (sourced after
# tap.sh): waiting for files and for processes to be gone, and stopping a
# launch after a failed check.

# Both launch tests find what launch started with ps and pgrep.
need ps pgrep

# all_gone FILE [SECONDS] : none of the pids in FILE lives (within SECONDS).
all_gone() {
    n=$(( ${2:-0} * 10 ))
    while :; do
        alive=""
        for p in $(cat "$1"); do
            kill -0 "$p" 2>/dev/null && alive="$alive $p"
        done
        [ -z "$alive" ] && return 0
        [ "$n" -le 0 ] && break
        n=$((n - 1))
        sleep 0.1
    done
    echo "still running:$alive"
    ps -o pid,ppid,args -p "$(echo $alive | tr " " ,)"
    return 1
}

# finish PID RC [PIDFILE] : after a failed check, stop the launch still
# running (its SIGTERM stops what it started) and the processes listed in
# PIDFILE; return RC.
finish() {
    if kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1"
        wait "$1"
    fi
    if [ "$2" -ne 0 ] && [ -n "${3:-}" ] && [ -f "$3" ]; then
        for p in $(cat "$3"); do kill -TERM "$p" 2>/dev/null; done
    fi
    return "$2"
}

# wait_file FILE [SECONDS] : wait up to SECONDS (default 60) for FILE to
# exist and not be empty.
wait_file() {
    n=$(( ${2:-60} * 10 ))
    while [ ! -s "$1" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    [ -s "$1" ]
}
