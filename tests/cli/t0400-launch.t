#!/bin/sh
# t0400-launch.t - banyan launch: a server and workers around a command, and
# nothing of them left afterwards (after CMD, after SIGINT, after SIGKILL of
# launch itself); usage errors.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
. "$BANYAN_SRCDIR/tests/cli/launch_lib.sh"

# children PID : the pids of PID's children, one a line.
children() {
    ps -o pid= --ppid "$1"
}

# The command run by launch records launch's children (the server, the
# workers) from its own parent pid, then runs its banyan commands.
cat >job.sh <<'SH'
#!/bin/sh
ps -o pid= --ppid $PPID | grep -v "^ *$$\$" >kids
echo "$BANYAN_SERVER" >server-seen
id=$($BANYAN_BIN submit -- echo hello {} ::: 1 2 3 4 5 6 7 8) || exit 10
$BANYAN_BIN wait "$id" || exit 11
$BANYAN_BIN status --json >status.json || exit 12
exit 7
SH
chmod +x job.sh

test_expect_success 'launch --help' '
    $banyan launch --help >out &&
    grep -q "^Usage: banyan launch" out &&
    $banyan --help | grep -q "^  launch "
'

test_expect_success 'usage errors are one line, exit 2' '
    check_usage_error "--engines N is required" $banyan launch -- true &&
    check_usage_error "--engines" $banyan launch --engines 0 -- true &&
    check_usage_error "--engines" $banyan launch --engines x -- true &&
    check_usage_error "unknown option .--frob." $banyan launch --engines 2 --frob &&
    check_usage_error "needs a value" $banyan launch --engines &&
    check_usage_error "cannot read no-such-file" $banyan launch --engines 2 --hosts no-such-file &&
    : >empty-hosts &&
    check_usage_error "no hosts" $banyan launch --engines 2 --hosts empty-hosts &&
    check_usage_error "exclude each other" $banyan launch --engines 2 --slurm --mpi &&
    check_usage_error "mpirun not found" env PATH=/nonexistent $banyan launch --engines 2 --mpi &&
    check_usage_error "not a duration" $banyan launch --engines 2 --grace soon
'

test_expect_success 'a missing CMD is exit 127 before anything starts' '
    expect_code 127 $banyan launch --engines 1 -- no-such-command-here 2>err &&
    grep -q "no-such-command-here: command not found" err
'

test_expect_success 'launch --engines 4 runs a job through 4 workers, then stops them all' '
    BANYAN_BIN=$banyan expect_code 7 $banyan launch --engines 4 \
        --endpoint-file ep -- ./job.sh 2>err &&
    cat err &&
    grep -q "banyan launch: 4 engines ready at tcp://127.0.0.1:" err &&
    [ "$(wc -l <kids)" -eq 5 ] &&
    grep -q "\"engines\": *4" status.json &&
    grep -q "\"state\": *\"done\"" status.json &&
    grep -q "^tcp://127.0.0.1:[0-9]*\$" server-seen &&
    all_gone kids &&
    [ ! -e ep ] &&
    [ -z "$(ls -d "$TMPDIR"/banyan-launch-* 2>/dev/null)" ]
'

# tree.sh has no "#!" line: launch runs it with /bin/sh, as a shell would.
test_expect_success '--fanout 2: 6 engines in a tree count as 6, and all stop' '
    cat >tree.sh <<-\SH &&
	ps -o pid= --ppid $PPID | grep -v "^ *$$\$" >kids6
	exec "$BANYAN_BIN" status --json >tree.json
	SH
    chmod +x tree.sh &&
    BANYAN_BIN=$banyan $banyan launch --engines 6 --fanout 2 -- ./tree.sh 2>err10 &&
    grep -q "banyan launch: 6 engines ready" err10 &&
    grep -q "\"fanout\": *2" tree.json &&
    [ "$(wc -l <kids6)" -eq 7 ] &&
    all_gone kids6
'

test_expect_success 'SIGINT stops a launch without CMD; nothing is left behind' '
    $banyan launch --engines 3 --noop --endpoint-file ep2 2>err3 &
    lpid=$!
    { wait_file ep2 &&
      children $lpid >kids2 &&
      [ "$(wc -l <kids2)" -eq 4 ] &&
      $banyan status --server "$(cat ep2)" | grep -q "^server: 3 engines" &&
      kill -INT $lpid &&
      wait $lpid &&
      all_gone kids2 &&
      [ ! -e ep2 ] &&
      [ -z "$(ls -d "$TMPDIR"/banyan-launch-* 2>/dev/null)" ]; }
    finish $lpid $? kids2
'

test_expect_success 'SIGTERM while CMD runs: CMD is stopped too, exit 143' '
    $banyan launch --engines 2 --endpoint-file ep3 -- sleep 60 2>err4 &
    lpid=$!
    { wait_file ep3 &&
      children $lpid >kids3 &&
      [ "$(wc -l <kids3)" -eq 4 ] &&
      kill -TERM $lpid &&
      { wait $lpid; rc=$?; } ;
      [ "$rc" -eq 143 ] && all_gone kids3; }
    finish $lpid $? kids3
'

test_expect_success 'SIGKILL of launch: its children stop by themselves' '
    $banyan launch --engines 2 --endpoint-file ep4 --db own.db 2>err5 &
    lpid=$!
    { wait_file ep4 &&
      children $lpid >kids4 &&
      [ "$(wc -l <kids4)" -eq 3 ] &&
      kill -KILL $lpid &&
      { wait $lpid; true; } &&
      all_gone kids4 20 &&
      [ -e own.db ]; }
    finish $lpid $? kids4
'

test_expect_success 'a worker that dies is reported; everything stops, exit 1' '
    $banyan launch --engines 2 --endpoint-file ep5 2>err6 &
    lpid=$!
    { wait_file ep5 &&
      children $lpid >kids5 &&
      w=$(ps -o pid=,args= --ppid $lpid | grep " worker " | head -n 1 | awk "{print \$1}") &&
      kill -KILL $w &&
      { wait $lpid; rc=$?; } ;
      cat err6; [ "$rc" -eq 1 ] &&
      grep -q "worker [0-9] (pid $w) was killed" err6 &&
      all_gone kids5; }
    finish $lpid $? kids5
'

# A stand-in for ssh: logs its arguments and runs the remote command here
# (or, as hang-ssh, never starts it).
mkdir -p fakebin hangbin
cat >fakebin/ssh <<'SH'
#!/bin/sh
echo "$*" >>ssh.log
[ "$1" = -tt ] && [ "$2" = -o ] && [ "$3" = BatchMode=yes ] || exit 99
exec sh -c "exec $5"
SH
printf '#!/bin/sh\nexec sleep 300\n' >hangbin/ssh
chmod +x fakebin/ssh hangbin/ssh
printf '# two hosts\nhost-a 3\n\nhost-b   # default slots\n' >hosts

test_expect_success '--hosts: workers through ssh, round-robin, with the hosts slots' '
    PATH="$PWD/fakebin:$PATH" expect_code 0 $banyan launch --engines 3 \
        --hosts hosts -- $banyan status --json >st 2>err8 &&
    cat ssh.log &&
    [ "$(wc -l <ssh.log)" -eq 3 ] &&
    [ "$(grep -c " host-a " ssh.log)" -eq 2 ] &&
    grep " host-a " ssh.log | grep -q -- "--slots.*3" &&
    ! grep " host-b " ssh.log | grep -q -- "--slots" &&
    grep -q "\"engines\": *3" st
'

# A stand-in for srun: logs its arguments and runs the step's command once
# per task, as srun --ntasks=N does on the nodes of an allocation (each
# task sees its rank in SLURM_PROCID); like srun, it passes SIGTERM and
# SIGINT on to the tasks and ends when every task has ended.
cat >fakebin/srun <<'SH'
#!/bin/sh
echo "$*" >>srun.log
case "$1" in --ntasks=*) n=${1#--ntasks=} ;; *) exit 99 ;; esac
shift
pids=""
trap 'kill -TERM $pids 2>/dev/null' TERM INT
i=0
while [ $i -lt "$n" ]; do
    SLURM_PROCID=$i "$@" &
    pids="$pids $!"
    echo $! >>srun.pids
    i=$((i + 1))
done
while ! wait; do :; done # a trapped signal ends wait early
SH
chmod +x fakebin/srun

test_expect_success '--slurm: one srun step of N workers' '
    PATH="$PWD/fakebin:$PATH" expect_code 0 $banyan launch --engines 3 \
        --slurm -- $banyan status --json >st 2>err10 &&
    cat srun.log &&
    [ "$(wc -l <srun.log)" -eq 1 ] &&
    grep -q -- "^--ntasks=3 .*worker" srun.log &&
    grep -q "\"engines\": *3" st &&
    [ "$(wc -l <srun.pids)" -eq 3 ] && all_gone srun.pids 5
'

test_expect_success 'engines that never join: exit 1 naming how many did' '
    PATH="$PWD/hangbin:$PATH" $banyan launch --engines 2 --hosts hosts \
        --ready-timeout 1 --grace 1 -- true 2>err9 &
    lpid=$!
    { sleep 0.5 &&
      children $lpid >kids9 &&
      { wait $lpid; rc=$?; } ;
      cat err9; [ "$rc" -eq 1 ] &&
      grep -q "only 0 of 2 engines joined within 1s" err9 &&
      all_gone kids9; }
    finish $lpid $? kids9
'

test_done
