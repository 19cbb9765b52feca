#!/bin/sh
# t0515-kill-spares-the-rest.t - killing a task's tree kills nothing else.
# In a PID namespace of its own (so that a failure cannot reach the host),
# where init is a shell whose process group reads 0 in /proc, `banyan run`
# runs one short task and one long one, and is killed with kill -9 once
# the short one ended (its slot in the guardian's table free again, 0).
# The guardian kills the long task and its processes, and nothing else:
# init and a bystander live.  (Regression test: a free slot, 0, matched
# init's group, 0, and the guardian SIGKILLed every descendant of init,
# the whole host; found by make chaos.)
. "$BANYAN_SRCDIR/tests/cli/tap.sh"

if [ "$(id -u)" != 0 ] || ! unshare --pid --fork --mount-proc true 2>/dev/null
then
    echo "ok 1 - kill -9 of banyan run spares init and bystanders # SKIP needs root and unshare --pid"
    echo "1..1"
    exit 0
fi

cat >inside.sh <<EOF
sleep 1000 &
bystander=\$!
"$banyan" run --db "$PWD/r.db" -j2 -q -- sh -c 'sleep \$0' ::: 0 600 &
run=\$!
i=0
while [ \$i -lt 200 ] && [ "\$(sqlite3 "$PWD/r.db" \\
        "select count(*) from tasks where state = 'ok'" 2>/dev/null)" != 1 ]
do
    sleep 0.1; i=\$((i + 1))
done
kill -9 \$run
sleep 3
kill -0 \$bystander && echo "bystander lives"
pgrep -f "sleep 600" >/dev/null || echo "the task is gone"
echo "init lives"
kill \$bystander
EOF

test_expect_success 'kill -9 of banyan run spares init and bystanders' '
    timeout 60 unshare --pid --fork --mount-proc sh inside.sh >out 2>&1
    cat out &&
    grep -q "bystander lives" out && grep -q "the task is gone" out &&
    grep -q "init lives" out
'

test_done
