#!/bin/sh
# t0210-task-ends.t - one failure, one verdict: the same failure gives the
# same state, reason and retry decision in the four paths that run tasks
# (issue 11, acceptance 2):
#
#   run           `banyan run` (local), read from the tasks table of --db
#   sweep         `banyan sweep CONFIG` (local), the experiments table
#   submit        `banyan submit` to a server and a worker, read from
#                 `banyan results --server --json`
#   sweep-server  `banyan sweep --server`, the experiments table of --db
#
# The table below is the test.  A row is one failure: how the command is
# written, its time limit, the state and reason (an extended regular
# expression matching the whole reason) every path must record, and
# whether it is retried.  Each (row, path) cell runs the failure on its
# own.  Every command that runs appends a line to its cell's file att.*,
# so "retried" is seen, not believed: with one retry allowed (run
# --retries 2: two attempts in all, GNU Parallel's meaning; submit
# --retries 1) a retried failure runs twice, and the
# attempt the path records must say the same.  Sweeps have no retry
# setting (one attempt per experiment, sweep_run.c and sweep_remote.c):
# there every row must run once.
#
# Commands are written two ways, as a user would:
#   line  a shell command line.  Every path runs it with /bin/sh -c (run
#         and submit because it is a shell line, sweeps always), so the
#         process that exits or dies is that shell in all four
#   word  a program and its arguments: every path spawns it directly (a
#         sweep's command without shell syntax too)
#
# A cell that disagrees with its row is a bug in banyan and fails.  What
# every path recorded is printed at the end, side by side.
. "$BANYAN_SRCDIR/tests/integration/lib.sh"
need sqlite3 jq

helper=$(dirname "$banyan")/tests/exec/exec_helper
paths="run sweep submit sweep-server"

# row | kind | timeout (s, 0 none) | state | reason (ERE) | retried
table='
notfound       | word | 0   | failed      | could not start: nosuchcmd_t0210: command not found | no
exit3          | line | 0   | failed      | exit status 3                                       | yes
timeout        | line | 0.5 | timeout     | timed out after 0\.500 s                            | yes
sigkill        | line | 0   | killed      | killed by signal 9 \(Killed\)                       | yes
program-sigterm| word | 0   | killed      | killed by signal 15 \(Terminated\)                  | yes
memlimit       | line | 0   | killed      | memory limit 64M exceeded: peak [0-9.]+[KMG]?       | yes
interrupt      | line | 0   | interrupted | interrupted                                         | no
cancel         | line | 0   | interrupted | interrupted                                         | no
'

# The command of ROW, appending to ATT each time it runs.
#   interrupt  SIGINT to the client that runs it (run, sweep, sweep
#              --server); `banyan cancel` of the job for submit, whose
#              client has returned
#   cancel     SIGTERM to run and sweep; `banyan cancel` of the job for
#              submit and sweep --server
row_cmd() {
    case $1 in
    notfound) echo "nosuchcmd_t0210" ;;
    exit3) echo "echo run >>$2; exit 3" ;;
    timeout | interrupt | cancel) echo "echo run >>$2; exec sleep 30" ;;
    sigkill) echo "echo run >>$2; kill -KILL \$\$" ;;
    program-sigterm) echo "$PWD/selfterm.sh $2" ;;
    memlimit) echo "echo run >>$2; exec $helper mem 200 3000" ;;
    esac
}

# A program (not a shell line) that a signal ends: what a crashing
# binary or one killed by a user looks like.
cat >selfterm.sh <<'EOF'
#!/bin/sh
echo run >>"$1"
kill -TERM $$
sleep 5
EOF
chmod +x selfterm.sh

# field ROW N: the Nth column of ROW's line in the table, trimmed.
field() {
    echo "$table" | awk -F'|' -v r="$1" -v n="$2" '
        { k = $1; gsub(/^ +| +$/, "", k) }
        k == r { v = $n; gsub(/^ +| +$/, "", v); print v; exit }'
}

rows() {
    echo "$table" | awk -F'|' 'NF > 1 { k = $1; gsub(/ /, "", k); print k }'
}

# retries PATH: the retries a path allows in this test.
retries() {
    case $1 in
    run | submit) echo 1 ;;
    *) echo 0 ;;
    esac
}

# want_runs ROW PATH: how many times the command must run.
want_runs() {
    case $(field "$1" 6) in
    yes) echo $((1 + $(retries "$2"))) ;;
    *) echo 1 ;;
    esac
}

sweep_config() { # ROW CMD TIMEOUT -> cfg.ROW.json
    cat >"cfg.$1.json" <<EOF
{"name": "$1", "command": "$2", "parameters": {"p": [1]},
 "optimization": {"objective": "minimize_loss",
                  "timeout_per_iteration": $3}}
EOF
}

# task_json JOB: the first task of JOB as "state|reason|attempt", once it
# has ended (fails while it has not).
task_json() {
    "$banyan" results --server "$EP" --json "$1" 2>/dev/null |
        jq -er '.tasks[0] | select(.state != null and .state != "running"
                                   and .state != "queued")
                | [.state, (.reason // ""), (.attempt | tostring)]
                | join("|")'
}

# sweep_job NAME: the server's job id of the sweep's first experiment.
sweep_job() {
    "$banyan" status --server "$EP" --json 2>/dev/null |
        jq -er --arg n "sweep:$1:1" '.jobs[] | select(.name == $n) | .id'
}

experiment() { # DB NAME
    sql "$1" "select e.state, ifnull(e.reason, ''), e.attempt
              from experiments e join sweeps s on s.id = e.sweep_id
              where s.name = '$2'"
}

# bg CMD...: start a client in the background, remembered for cleanup;
# sets BG.
bg() {
    "$@" >"client.$row.$path.log" 2>&1 &
    BG=$!
    remember $BG
}

# stop_client SIG: after the task has started, SIG to the client BG, and
# wait for it to end.
stop_client() {
    wait_for 30 test -s "$att" || return 1
    kill "-$1" "$BG"
    wait "$BG"
    echo "client exit $?" >>"client.$row.$path.log"
}

# cell ROW PATH: run ROW's failure through PATH; writes got.ROW.PATH as
# "state|reason|attempt|runs".
cell() {
    row=$1
    path=$2
    EP=$(cat ep)
    att=$PWD/att.$row.$path
    rm -f "$att" "got.$row.$path"
    cmd=$(row_cmd "$row" "$att")
    kind=$(field "$row" 2)
    to=$(field "$row" 3)
    topt=
    [ "$to" = 0 ] || topt="--timeout $to"
    # run and submit: a value from ::: (a word command gets it as an
    # extra argument, a line has it in a comment)
    if [ "$kind" = line ]; then
        set -- "$cmd # {}" ::: 1
    else
        # shellcheck disable=SC2086
        set -- $cmd ::: 1
    fi
    case $path in
    run)
        # shellcheck disable=SC2086
        bg "$banyan" run --db "run.$row.db" --no-score --retries 2 $topt \
            --mem-limit 64M -- "$@"
        case $row in
        interrupt) stop_client INT || return 1 ;;
        cancel) stop_client TERM || return 1 ;;
        *) wait "$BG" ;;
        esac
        got=$(sql "run.$row.db" "select state, ifnull(reason, ''), attempt
                                 from tasks")
        ;;
    submit)
        case $row in
        interrupt | cancel)
            # shellcheck disable=SC2086
            job=$("$banyan" submit --server "$EP" --retries 1 $topt \
                -- "$@" | head -1) || return 1
            wait_for 30 test -s "$att" || return 1
            "$banyan" cancel --server "$EP" "$job" || return 1
            ;;
        *)
            # shellcheck disable=SC2086
            job=$("$banyan" submit --server "$EP" --retries 1 $topt --wait \
                -- "$@" | head -1)
            ;;
        esac
        [ -n "$job" ] || return 1
        wait_for 30 task_json "$job" || return 1
        got=$(task_json "$job")
        ;;
    sweep)
        sweep_config "$row" "$cmd" "$to"
        bg "$banyan" sweep --db sweep.db --results-dir "sweep.$row" \
            --mem-limit 64M "cfg.$row.json"
        case $row in
        interrupt) stop_client INT || return 1 ;;
        cancel) stop_client TERM || return 1 ;;
        *) wait "$BG" ;;
        esac
        got=$(experiment sweep.db "$row")
        ;;
    sweep-server)
        sweep_config "$row" "$cmd" "$to"
        bg "$banyan" sweep --server "$EP" --db sweep-server.db \
            --results-dir "sweep-server.$row" "cfg.$row.json"
        case $row in
        interrupt) stop_client INT || return 1 ;;
        cancel)
            wait_for 30 test -s "$att" || return 1
            wait_for 10 sweep_job "$row" || return 1
            "$banyan" cancel --server "$EP" "$(sweep_job "$row")" || return 1
            wait "$BG"
            ;;
        *) wait "$BG" ;;
        esac
        got=$(experiment sweep-server.db "$row")
        ;;
    esac
    if [ -e "$att" ]; then
        runs=$(wc -l <"$att" | tr -d ' ')
    else
        runs=${got##*|} # it could not run: what the path counted
    fi
    echo "$got|$runs" >"got.$row.$path"
}

# check ROW PATH: got.ROW.PATH is what the table says.
check() {
    want_state=$(field "$1" 4)
    want_reason=$(field "$1" 5)
    want_runs=$(want_runs "$1" "$2")
    IFS='|' read -r g_state g_reason g_attempt g_runs <"got.$1.$2"
    echo "got:  state=$g_state reason='$g_reason' attempt=$g_attempt runs=$g_runs"
    echo "want: state=$want_state reason~/^$want_reason\$/ attempt=runs=$want_runs"
    [ "$g_state" = "$want_state" ] &&
        printf '%s\n' "$g_reason" | grep -Eqx "$want_reason" &&
        [ "$g_runs" = "$want_runs" ] && [ "$g_attempt" = "$g_runs" ]
}

test_expect_success 'a server and a worker with --mem-limit 64M' '
    start_server srv &&
    start_worker w1 --cpus 2 --mem-limit 64M &&
    echo "$WORKER_PID" >w1.pid &&
    wait_for 20 engines_are 1 &&
    echo "$EP" >ep
'
EP=$(cat ep 2>/dev/null)

for row in $(rows); do
    for path in $paths; do
        desc="$row via $path: $(field "$row" 4), '$(field "$row" 5)', runs $(want_runs "$row" "$path")"
        test_expect_success "$desc" "cell $row $path; check $row $path"
    done
done

# What every path recorded, side by side (state, reason, attempt, runs).
for row in $(rows); do
    for path in $paths; do
        test_diag "$row $path: $(cat "got.$row.$path" 2>/dev/null)"
    done
done

# A worker's SIGTERM is the cluster's engine shutdown: its task was not
# failed, the server gives it to the next worker, where it ends ok.
test_expect_success 'a task whose worker stops on SIGTERM is not failed: it runs again on the next worker' '
    att=$PWD/att.worker-term &&
    job=$($banyan submit --server "$EP" --retries 1 \
        "echo run >>$att; [ \$(wc -l <$att) -ge 2 ] || exec sleep 30 # {}" \
        ::: 1 | head -1) &&
    wait_for 30 test -s "$att" &&
    kill -TERM "$(cat w1.pid)" &&
    wait_for 20 pid_gone "$(cat w1.pid)" &&
    start_worker w2 --cpus 2 --mem-limit 64M &&
    wait_for 30 task_json "$job" &&
    got=$(task_json "$job") &&
    echo "got: $got" &&
    test "$(wc -l <"$att")" -eq 2 &&
    test "${got%%|*}" = ok
'

test_clean_exit
test_done
