#!/bin/sh
# t0030-gpus.t - GPU placement on fake GPUs, proved from the recorded
# allocations: no two concurrent tasks share a GPU, shares pack, and
# multi-GPU tasks get distinct GPUs.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3

# Pairs of tasks whose [start, end) overlap and that hold a GPU in common.
overlaps() { # db
    sql "$1" "select a.seq, b.seq, a.gpus, b.gpus
              from tasks a, tasks b,
                   json_each('[' || a.gpus || ']') ga,
                   json_each('[' || b.gpus || ']') gb
              where a.seq < b.seq and a.gpus != '' and b.gpus != ''
                and a.start_time < b.end_time - 0.005 and b.start_time < a.end_time - 0.005
                and ga.value = gb.value"
}

test_expect_success 'fake:4 with --gpus 1 prints only devices 0-3' '
    BANYAN_GPUS=fake:4 $banyan run -j8 --gpus 1 --db g1.db -q -- sh -c "echo \$CUDA_VISIBLE_DEVICES; sleep 0.2" ::: $(seq 16) >out &&
    test $(wc -l <out) -eq 16 &&
    ! grep -qv "^[0-3]$" out
'

test_expect_success 'no two concurrent tasks shared a GPU (from the records)' '
    test -z "$(overlaps g1.db)" &&
    test "$(sql g1.db "select count(distinct gpus) from tasks")" = 4 &&
    test "$(sql g1.db "select count(*) from tasks where state=\"ok\"")" = 16
'

test_expect_success 'a task sees only its GPU in every variable' '
    BANYAN_GPUS=fake:2 $banyan run -j2 --gpus 1 --db g2.db -q -- sh -c "echo \$CUDA_VISIBLE_DEVICES \$HIP_VISIBLE_DEVICES \$ROCR_VISIBLE_DEVICES \$BANYAN_GPUS_ASSIGNED \$CUDA_DEVICE_ORDER" ::: 1 >out &&
    awk "{ exit !(\$1 == \$2 && \$2 == \$3 && \$3 == \$4 && \$5 == \"PCI_BUS_ID\") }" out
'

test_expect_success '--gpus 0.5 packs two tasks per GPU' '
    BANYAN_GPUS=fake:2 $banyan run -j8 --gpus 0.5 --db g3.db -q -- sh -c "sleep 0.3" ::: $(seq 8) &&
    sql g3.db "select a.seq, a.gpus from tasks a" >alloc &&
    # Tasks running at the instant task a started (a included): the
    # highest such count is the most that ever ran at once.
    max=$(sql g3.db "select max(c) from (select a.seq, count(*) c from tasks a, tasks b
              where b.start_time <= a.start_time and a.start_time < b.end_time - 0.005
                and a.gpus = b.gpus group by a.seq)") &&
    test "$max" -eq 2 &&
    conc=$(sql g3.db "select max(c) from (select a.seq, count(*) c from tasks a, tasks b
              where b.start_time <= a.start_time and a.start_time < b.end_time - 0.005 group by a.seq)") &&
    test "$conc" -ge 3
'

test_expect_success '--gpus 2 always gets two distinct GPUs' '
    BANYAN_GPUS=fake:4 $banyan run -j4 --gpus 2 --db g4.db -q -- sh -c "echo \$CUDA_VISIBLE_DEVICES; sleep 0.2" ::: $(seq 6) >out &&
    test $(wc -l <out) -eq 6 &&
    awk -F, "{ if (NF != 2 || \$1 == \$2) exit 1 }" out &&
    test -z "$(overlaps g4.db)"
'

test_expect_success 'tasks without --gpus see no GPU on a GPU host' '
    BANYAN_GPUS=fake:2 $banyan run --db g5.db -q -- sh -c "echo \"[\$CUDA_VISIBLE_DEVICES]\"" ::: 1 >out &&
    test "$(cat out)" = "[]"
'

test_done
