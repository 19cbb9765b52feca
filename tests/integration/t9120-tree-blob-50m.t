#!/bin/sh
# t9120-tree-blob-50m.t - t0120-tree-blob.t at scale (label slow): a 50 MiB
# random file as the stdin of 1,000 tasks and as BANYAN_BLOB_0 of 1,000
# more, on sixteen workers below a --fanout 2 server (and a flat worker).
# The same checks: every task succeeds, and the blob crossed each link of
# the tree once (every node received at most its size + 256 KiB, the server
# sent at most that per direct child).
BLOB_MB=50
NTASKS=1000
NBLOB_TASKS=1000
NWORKERS=16
FANOUT=2
WAIT_S=600
. "$BANYAN_SRCDIR/tests/integration/t0120-tree-blob.t"
