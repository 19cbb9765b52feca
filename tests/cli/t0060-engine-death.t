#!/bin/sh
# t0060-engine-death.t - tasks die with their engine: kill -9 of a local
# `banyan run` (alone, or with its whole process group) kills every task's
# process group within a second, and a task that would write a file after
# two seconds never writes it.  A run that ends normally leaves no process
# behind.  (Regression test for issue 11 item 4: the tasks used to go on,
# re-parented to init.)
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need pgrep setsid

# Each task notes its group, then writes done after 2 s.  banyan is killed
# half a second after both noted theirs (so, without the guardian, the groups
# would live 1.5 s more: the one-second check tells).
task='echo $$ >>pgids; sleep 2; echo {} >>done'

# group_alive PGID: a process of group PGID lives.
group_alive() {
    for ga_p in $(pgrep -g "$1"); do
        proc_alive "$ga_p" && return 0
    done
    return 1
}

# any_alive FILE: a group of FILE (one id a line) has a live process.
any_alive() {
    for aa_g in $(cat "$1"); do
        if group_alive "$aa_g"; then
            echo "group $aa_g is alive:"
            ps -o pid,ppid,stat,args -p "$(pgrep -g "$aa_g" | paste -sd, -)"
            return 0
        fi
    done
    return 1
}

# start_run DIR [setsid]: banyan run of two tasks in DIR, in the
# background; sets RUN_PID once both tasks noted their group.
start_run() {
    mkdir "$1"
    (cd "$1" && exec $2 $banyan run -j2 --db r.db -q -- sh -c "$task" ::: 1 2 \
        >out 2>err) &
    RUN_PID=$!
    sr_i=0
    while [ "$(lines "$1/pgids")" -lt 2 ] && [ $sr_i -lt 100 ]; do
        sleep 0.1
        sr_i=$((sr_i + 1))
    done
    [ "$(lines "$1/pgids")" -eq 2 ]
}

# killed DIR T_MS: the tasks' groups are gone 1 s after the kill at T_MS,
# and 3 s after it nothing was written.  Every child of banyan (tasks, and
# the guardian that killed them) is gone as well.
killed() {
    sleep_until $(($2 + 1000)) &&
    ! any_alive "$1/pgids" &&
    for k in $(cat "$1/kids"); do
        ! proc_alive "$k" || { echo "child $k of banyan is alive"; return 1; }
    done &&
    sleep_until $(($2 + 3000)) &&
    { ! [ -e "$1/done" ] || { echo "done:"; cat "$1/done"; false; }; }
}

test_expect_success 'kill -9 of banyan run kills its tasks within a second' '
    start_run a &&
    sleep 0.5 &&
    pgrep -P $RUN_PID >a/kids &&
    kill -9 $RUN_PID && t=$(now_ms) && { wait $RUN_PID; true; } &&
    killed a $t
'

test_expect_success 'kill -9 of banyan run with its whole process group' '
    start_run b setsid &&
    sleep 0.5 &&
    pgrep -P $RUN_PID >b/kids &&
    kill -9 -$RUN_PID && t=$(now_ms) && { wait $RUN_PID; true; } &&
    killed b $t
'

test_expect_success 'a run that ends normally leaves no process behind' '
    mkdir c && (cd c && {
        setsid $banyan run -j2 --db r.db -q -- sh -c "exit 0" ::: 1 2 3 \
            >out 2>err &
        echo $! >sid
        wait $!
    }) &&
    sid=$(cat c/sid) &&
    ! pgrep -s "$sid" >c/left || { cat c/left; false; }
'

# Anything left by a failed check.
for d in a b; do
    [ -f $d/pgids ] || continue
    for g in $(cat $d/pgids); do kill -9 -$g 2>/dev/null; done
done
test_done
