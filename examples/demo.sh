#!/bin/sh
# demo.sh - what banyan does, on the embedded default (local mode, SQLite).
#
# Runs a dozen short "experiments" in parallel, one GPU each.  On a host
# without GPUs it describes four fake ones (BANYAN_GPUS=fake:4), so the demo
# shows GPU placement anywhere.  Then it prints the results table.
set -eu
cd "$(dirname "$0")/.."
banyan=build/banyan
demo=build/demo
rm -rf "$demo" && mkdir -p "$demo"
db=$demo/banyan.db

if [ -z "${BANYAN_GPUS:-}" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
    export BANYAN_GPUS=fake:4
    echo "No NVIDIA GPU here: describing four fake ones (BANYAN_GPUS=fake:4)."
fi

echo
echo "== 12 experiments, 1 GPU each, at most 6 at a time (--bar shows progress on a terminal)"
echo "   banyan run -j6 --gpus 1 --tag -q -- sh -c 'sleep 0.\$((BANYAN_TASK_ID % 5 + 3)); echo GPU \$CUDA_VISIBLE_DEVICES' ::: 0.1 0.03 ..."
$banyan run --db "$db" -j6 --gpus 1 --bar --tag --joblog "$demo/joblog" -q -- \
    sh -c 'sleep 0.$((BANYAN_TASK_ID % 5 + 3)); echo "ran on GPU $CUDA_VISIBLE_DEVICES, slot $BANYAN_SLOT"' \
    ::: 0.1 0.03 0.01 0.003 0.001 0.0003 0.3 0.05 0.02 0.005 0.002 0.0005

echo
echo "== the run as recorded in $db (banyan results last)"
$banyan results --db "$db" last

echo
echo "== a failing task and a timeout are recorded; the others go on"
echo "   banyan run -k --timeout 1 -- ./examples/flaky.sh {} ::: a bad slow b"
$banyan run --db "$db" -k --timeout 1 -- ./examples/flaky.sh {} ::: a bad slow b ||
    echo "(banyan exited $?: some tasks failed)"
$banyan results --db "$db" last

echo
echo "== a sweep: 30 experiments of examples/sweep/branin.yaml (Bayesian search, 4 at a time), best first"
$banyan sweep --db "$db" --results-dir "$demo/sweep" examples/sweep/branin.yaml >/dev/null 2>&1 || true
$banyan results --db "$db" branin-demo | head -8

echo
echo "== everything in the database (banyan results)"
$banyan results --db "$db"
echo
echo "GNU Parallel's joblog of the first run: $demo/joblog"
