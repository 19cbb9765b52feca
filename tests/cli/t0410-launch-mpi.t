#!/bin/sh
# t0410-launch-mpi.t - banyan launch --mpi: the workers as the ranks of one
# mpirun on this host; all of them gone afterwards.  Skipped without mpirun
# (Debian: openmpi-bin, in scripts/install-deps.sh).
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
. "$BANYAN_SRCDIR/tests/cli/launch_lib.sh"

if ! command -v mpirun >/dev/null 2>&1; then
    echo "1..0 # SKIP mpirun not found (install openmpi-bin)"
    exit 0
fi

# ranks EP : the pids of the workers of the server at EP (the ranks are
# mpirun's grandchildren, so they are found by their unique endpoint).
ranks() {
    pgrep -f -- "^$banyan worker --server $1\$"
}

cat >job.sh <<'SH'
#!/bin/sh
pgrep -f -- "^$BANYAN_BIN worker --server $BANYAN_SERVER\$" >ranks
ps -o pid= --ppid $PPID | grep -v "^ *$$\$" >>ranks
exec $BANYAN_BIN status
SH
chmod +x job.sh

test_expect_success 'launch --engines 3 --mpi -- banyan status' '
    BANYAN_BIN=$banyan $banyan launch --engines 3 --mpi -- ./job.sh \
        >out 2>err &&
    cat out &&
    grep -q "^server: 3 engines" out &&
    grep -q "banyan launch: 3 engines ready at" err &&
    [ "$(wc -l <ranks)" -eq 5 ] &&
    all_gone ranks 10
'

test_expect_success 'SIGINT stops the ranks, mpirun and the server' '
    $banyan launch --engines 2 --mpi --endpoint-file ep 2>err2 &
    lpid=$!
    { wait_file ep &&
      { ranks "$(cat ep)"; ps -o pid= --ppid $lpid; } >pids2 &&
      [ "$(wc -l <pids2)" -eq 4 ] &&
      kill -INT $lpid &&
      wait $lpid &&
      all_gone pids2 10; }
    finish $lpid $? pids2
'

test_expect_success 'SIGKILL of launch: mpirun stops its ranks' '
    $banyan launch --engines 2 --mpi --endpoint-file ep3 --db own.db 2>err3 &
    lpid=$!
    { wait_file ep3 &&
      { ranks "$(cat ep3)"; ps -o pid= --ppid $lpid; } >pids3 &&
      [ "$(wc -l <pids3)" -eq 4 ] &&
      kill -KILL $lpid &&
      { wait $lpid; true; } &&
      all_gone pids3 30; }
    finish $lpid $? pids3
'

test_done
