#!/bin/sh
# t0520-full-disk.t - a full file system is an error that stops cleanly
# (issue 17, defect 5; docs/full-disk.md).
#
# Before: with the database on a full file system a local run started all
# its tasks, recorded a few, printed the same commit error hundreds of times
# and exited 3, and a resume reran the tasks whose effects had happened;
# with TMPDIR full, grouped output was cut with exit 0.  Now a failed write
# of the database stops starting tasks at once, is said once, the run exits
# 255 (banyan run's error status, GNU Parallel's; a sweep exits 3) and a
# resume (once there is room) runs exactly the tasks whose ends
# were not recorded; output that cannot be kept or written (a full TMPDIR,
# a full --results folder) fails its task, with a reason that says so.
#
# The database that cannot grow is first made with a file size limit
# (ulimit -f), which needs nothing; then the full file systems are small
# tmpfs mounts, which need root: without it, or when mount fails, the rest
# is one TAP skip that says so.  Every mount is undone on exit.
. "$BANYAN_SRCDIR/tests/cli/tap.sh"
need sqlite3 mount umount

N=120
J=4
here=$(pwd)
# Each task prints 3000 bytes (kept as its output tail in the database, so
# the database fills after some 100 tasks) and appends its number to a log
# outside the full file system: the tasks that really ran.
task='printf "%03000d\n" 0; echo {} >>'"$here"'/ran.$RUN'

# code_is N OUT ERR cmd... : run cmd with its stdout in OUT and stderr in
# ERR, show its exit status and stderr, and succeed if the status is N.
code_is() {
    ci_want=$1 ci_out=$2 ci_err=$3
    shift 3
    ci_rc=0
    "$@" >"$ci_out" 2>"$ci_err" || ci_rc=$?
    grep -v "^banyan: experiment" "$ci_err"
    echo "exit status $ci_rc (expected $ci_want)"
    [ "$ci_rc" -eq "$ci_want" ]
}

same() { # expected got: equal files, or the difference shown
    cmp -s "$1" "$2" || { echo "expected $1, got $2:"; diff "$1" "$2" | head; false; }
}

ended() { # db: tasks whose end is recorded (what --resume skips)
    sql "$1" "select seq from tasks where state not in
              ('running', 'queued', 'interrupted') order by seq"
}

# Without root: a file size limit (ulimit -f, SIGXFSZ ignored) makes the
# database unable to grow, which SQLite reports as an I/O error.
test_expect_success 'a run whose database cannot grow stops at once, says so once, exits 255' '
    code_is 255 uout1 uerr1 sh -c "trap \"\" XFSZ; ulimit -f 600; exec env RUN=u1 \"\$0\" \"\$@\"" \
        $banyan run --db u.db -j$J -q -- sh -c "$task" ::: $(seq $N) &&
    test "$(grep -c "I/O error\|cannot write the database" uerr1)" -eq 1 &&
    grep -q "cannot write the database: u.db: .*I/O error" uerr1 &&
    ran=$(lines ran.u1) && rec=$(ended u.db | wc -l) &&
    echo "ran $ran, recorded $rec of $N" &&
    test "$ran" -lt $N && test "$rec" -gt 0 &&
    test $((ran - rec)) -le $((4 * J + 4))
'

test_expect_success 'without the limit, --resume runs exactly the tasks not recorded' '
    ended u.db | sort >udone1 &&
    seq $N | sort >all &&
    comm -23 all udone1 | sort -n >uexpect &&
    env RUN=u2 $banyan run --resume --db u.db -j$J -q -- sh -c "$task" \
        ::: $(seq $N) >uout2 2>uerr2 &&
    sort -n ran.u2 >ugot &&
    same uexpect ugot &&
    test "$(sql u.db "select count(*) from tasks where state = '\''ok'\''")" -eq $N
'

# skip_rest WHY: the tests below need what is missing; one skip says so.
skip_rest() {
    test_count=$((test_count + 1))
    echo "ok $test_count # SKIP $1"
    test_done
}
[ "$(id -u)" -eq 0 ] || skip_rest "needs root to mount a small tmpfs"
mounts=
cleanup() {
    for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m"; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE
# mount_small DIR SIZE: a tmpfs of SIZE on DIR, or skip the rest.
mount_small() {
    mkdir -p "$1"
    if ! mount -t tmpfs -o "size=$2" tmpfs "$1" 2>mount.err; then
        skip_rest "cannot mount a tmpfs: $(head -1 mount.err)"
    fi
    mounts="$(pwd)/$1 $mounts"
}
mount_small db 512k
mount_small tmp 64k
mount_small res 64k

test_expect_success 'a run on a full database stops at once, says so once, exits 255' '
    code_is 255 out1 err1 env RUN=1 $banyan run --db db/b.db -j$J -q -- sh -c "$task" \
        ::: $(seq $N) &&
    test "$(grep -c "database or disk is full\|cannot write the database" err1)" -eq 1 &&
    grep -q "cannot write the database: db/b.db: .*full" err1 &&
    ran=$(lines ran.1) && rec=$(ended db/b.db | wc -l) &&
    echo "ran $ran, recorded $rec of $N" &&
    test "$ran" -lt $N && test "$rec" -gt 0 &&
    test $((ran - rec)) -le $((4 * J + 4))
'

test_expect_success 'with room again, --resume runs exactly the tasks not recorded' '
    ended db/b.db >done1 &&
    seq $N | sort >all && sort done1 >done1.s &&
    comm -23 all done1.s | sort -n >expect &&
    mount -o remount,size=16m "$here/db" &&
    env RUN=2 $banyan run --resume --db db/b.db -j$J -q -- sh -c "$task" \
        ::: $(seq $N) >out2 2>err2 &&
    sort -n ran.2 >got &&
    same expect got &&
    test "$(sort ran.2 | uniq -d | wc -l)" -eq 0 &&
    test "$(sql db/b.db "select count(*) from tasks where state = '\''ok'\''")" -eq $N &&
    echo "run twice: $(sort ran.1 ran.2 | uniq -d | wc -l)"
'

# A filled TMPDIR: output past the memory part (1 MiB) cannot be spilled.
head -c 1048576 /dev/zero >tmp/fill 2>/dev/null

test_expect_success 'output that a full TMPDIR cut fails its task, which says why' '
    code_is 2 out3 err3 env TMPDIR=$here/tmp $banyan run --db t.db -j2 -q -- \
        sh -c "head -c 1500000 /dev/zero | tr \"\\0\" x; echo" ::: 1 2 &&
    grep -q "task 1 failed: its stdout was cut: cannot write the spill file in $here/tmp: No space left on device" err3 &&
    test "$(sql t.db "select count(*) from tasks where state = '\''failed'\'' and reason like '\''%spill file%'\''")" -eq 2
'

test_expect_success 'with --keep-order too, and what was kept is still printed' '
    code_is 2 out3k err3k env TMPDIR=$here/tmp $banyan run --db tk.db -k -j2 -q -- \
        sh -c "head -c 1500000 /dev/zero | tr \"\\0\" x; echo" ::: 1 2 &&
    grep -q "task 2 failed: its stdout was cut: cannot write the spill file" err3k &&
    size=$(wc -c <out3k) && echo "printed $size bytes" &&
    test "$size" -ge $((2 * 1048576)) && test "$size" -lt 3000002
'

# Room for the first task's files (a page for seq, five for stdout), not
# for the second's.
head -c 30000 /dev/zero >res/fill 2>/dev/null

test_expect_success 'a --results folder on a full file system fails the task, which says why' '
    code_is 2 out4 err4 $banyan run --db r.db --results res/out -j1 -q -- \
        sh -c "head -c 20000 /dev/zero | tr \"\\0\" y; echo" ::: 1 2 3 &&
    grep -Eq "failed: cannot write --results res/out/1/[0-9]*/(seq|stdout): No space left on device" err4 &&
    test "$(sql r.db "select count(*) from tasks where state = '\''failed'\'' and reason like '\''cannot write --results%'\''")" -ge 1 &&
    test "$(sql r.db "select count(*) from tasks where state = '\''ok'\''")" -ge 1
'

cat >out.yaml <<'EOF'
name: out
command: 'head -c 20000 /dev/zero | tr "\0" y; echo; echo "{\"loss\": {x}}"'
parameters:
  x: [1, 2, 3]
optimization:
  strategy: grid_search
  objective: minimize_loss
  max_parallel_experiments: 1
EOF

test_expect_success 'an experiment whose full folder cannot take its output fails, and says why' '
    code_is 1 oout oerr $banyan sweep --db o.db --results-dir res/sw out.yaml &&
    grep -q "cannot write .*/res/sw/[0-9]/stdout: No space left on device" oerr &&
    test "$(sql o.db "select count(*) from experiments where state = '\''failed'\'' and reason like '\''%/res/sw/%'\''")" -ge 1
'

# A sweep fills 256k after some 15 experiments: 100 are enough.
NS=100
seq $NS | sort >sall
cat >fill.yaml <<EOF
name: fill
command: 'printf "%03000d\n" 0; echo {x} >>$here/sran.\$RUN; echo "{\"loss\": {x}}"'
parameters:
  x: {values: [$(seq -s, 1 $NS)]}
optimization:
  strategy: grid_search
  objective: minimize_loss
  max_parallel_experiments: $J
EOF
umount "$here/db" && mount -t tmpfs -o size=256k tmpfs "$here/db"

sended() { # db: experiments whose end is recorded
    sql "$1" "select iter + 1 from experiments where state in ('ok', 'failed')"
}

test_expect_success 'a sweep on a full database stops at once, says so once, exits 3' '
    code_is 3 sout1 serr1 env RUN=1 $banyan sweep --db db/s.db --results-dir sres \
        fill.yaml &&
    test "$(grep -c "database or disk is full\|cannot write the database" serr1)" -eq 1 &&
    ran=$(lines sran.1) && rec=$(sended db/s.db | wc -l) &&
    echo "ran $ran, recorded $rec of $NS" &&
    test "$ran" -lt $NS && test $((ran - rec)) -le $((4 * J + 4))
'

test_expect_success 'with room again, the sweep runs exactly the experiments not recorded' '
    sended db/s.db | sort >sdone1 &&
    comm -23 sall sdone1 | sort -n >sexpect &&
    mount -o remount,size=16m "$here/db" &&
    env RUN=2 $banyan sweep --db db/s.db --results-dir sres fill.yaml \
        >sout2 2>serr2 &&
    sort -n sran.2 >sgot &&
    same sexpect sgot &&
    test "$(sql db/s.db "select count(*) from experiments where state = '\''ok'\''")" -eq $NS
'

test_done
