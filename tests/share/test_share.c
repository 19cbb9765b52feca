/* SPDX-License-Identifier: MIT */
/* test_share.c - the arbitration file with real processes: instances
 * converge to fair shares, a kill -9'd instance's share is reclaimed, a
 * closed one leaves, corrupt or hostile files are repaired, the file is
 * shared across users, and a held lock costs a bounded wait.
 *
 * Child instances are forked; each loops on share_update every 10 ms and
 * writes its fair milli-cpus down a pipe, so the parent sees what the
 * children themselves computed.  Waits poll until a deadline of several
 * seconds: the assertions are about the values reached, not about speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "share/share.h"
#include "tap.h"
#include "util/util.h"

#define GIB (UINT64_C(1) << 30)

static const share_amount_t cap6 = {6000, 6 * GIB};
static const share_amount_t none = {0, 0};

static char *tmp_path(const char *name)
{
    static char buf[8][PATH_MAX];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", tap_tmpdir(), name);
    return p;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------- child helper */

typedef struct kid {
    pid_t pid;
    int fd;          /* read end of its pipe, non-blocking */
    uint64_t fair;   /* last fair milli-cpus it reported, UINT64_MAX none */
} kid_t;

static volatile sig_atomic_t kid_stop;

static void on_term(int sig)
{
    (void)sig;
    kid_stop = 1;
}

/* Fork an instance wanting `want` cpus (all the memory), as uid if
 * uid != (uid_t)-1.  Exit codes: 0 fine, 77 cannot take that uid or open
 * the file there, 1 failure. */
static kid_t kid_start(const char *path, uint64_t want_cpus, uid_t uid)
{
    int p[2];
    if (pipe(p) < 0)
        bail_out("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        bail_out("fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        signal(SIGTERM, on_term);
        if (uid != (uid_t)-1 && (setgid(uid) < 0 || setuid(uid) < 0))
            _exit(77);
        share_t *sh = share_open(path, NULL);
        if (!sh)
            _exit(uid != (uid_t)-1 ? 77 : 1);
        share_set_capacity(sh, &cap6);
        share_amount_t want = {want_cpus, 6 * GIB};
        int64_t end = util_mono_ms() + 30000;
        while (!kid_stop && util_mono_ms() < end && getppid() != 1) {
            share_grant_t g;
            if (share_update(sh, &want, &none, &g, NULL) == 0) {
                uint64_t v = g.fair.cpus_milli;
                if (write(p[1], &v, sizeof(v)) < 0)
                    break;
            }
            nap_ms(10);
        }
        share_close(sh);
        _exit(0);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    return (kid_t){pid, p[0], UINT64_MAX};
}

static void kid_poll(kid_t *k)
{
    uint64_t v;
    while (read(k->fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        k->fair = v;
}

static int kid_end(kid_t *k, int sig)
{
    if (sig)
        kill(k->pid, sig);
    int status = 0;
    waitpid(k->pid, &status, 0);
    close(k->fd);
    return status;
}

/* Update h every 10 ms until its fair cpus equal mine and every kid's last
 * report equals theirs, or 10 s pass.  Returns whether it converged. */
static bool converge(share_t *h, const share_amount_t *want, uint64_t mine,
                     kid_t *kids, int nkids, uint64_t theirs,
                     share_grant_t *last)
{
    int64_t end = util_mono_ms() + 10000;
    int stable = 0;
    while (util_mono_ms() < end) {
        share_grant_t g;
        if (share_update(h, want, &none, &g, NULL) == 0)
            *last = g;
        bool all = last->fair.cpus_milli == mine;
        for (int i = 0; i < nkids; i++) {
            kid_poll(&kids[i]);
            all = all && kids[i].fair == theirs;
        }
        /* Several rounds in a row: every kid updated after the change. */
        stable = all ? stable + 1 : 0;
        if (stable >= 5)
            return true;
        nap_ms(10);
    }
    diag("not converged: mine %llu (want %llu)",
         (unsigned long long)last->fair.cpus_milli, (unsigned long long)mine);
    for (int i = 0; i < nkids; i++)
        diag("kid %d reports %llu (want %llu)", i,
             (unsigned long long)kids[i].fair, (unsigned long long)theirs);
    return false;
}

/* ------------------------------------------------------------------ tests */

static void test_open(void)
{
    char *path = tmp_path("open");
    mode_t old = umask(077);
    banyan_error_t e = {{0}};
    share_t *sh = share_open(path, &e);
    umask(old);
    ok(sh != NULL, "share_open creates the file (%s)", e.text);
    if (!sh)
        return;
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0666,
       "the file is mode 0666 despite a umask of 077 (got %o)",
       (unsigned)(st.st_mode & 0777));
    is_str(share_path(sh), path, "share_path names the file");
    share_set_capacity(sh, &cap6);
    share_amount_t want = {3000, GIB};
    share_amount_t hold = {1000, GIB / 2};
    share_grant_t g;
    ok(share_update(sh, &want, &hold, &g, NULL) == 0,
       "the first update registers the instance");
    ok(g.fair.cpus_milli == 3000 && g.fair.mem_bytes == GIB,
       "alone, an instance gets what it wants");
    ok(g.limit.cpus_milli == 3000 && g.ninstances == 1 && g.nusers == 1,
       "its limit is its fair share; one instance of one user");
    want.cpus_milli = 60000;
    share_update(sh, &want, &hold, &g, NULL);
    is_int(g.fair.cpus_milli, 6000, "wanting more than the host gives all");
    const share_record_t *r;
    ok(share_records(sh, &r) == 1 && r[0].pid == getpid() &&
           r[0].uid == getuid() && r[0].hold.mem_bytes == GIB / 2 &&
           r[0].start > 0,
       "its record carries pid, uid, start time and holdings");
    char *text = NULL;
    size_t len;
    util_read_file(path, &text, &len);
    char line[128];
    snprintf(line, sizeof(line), "banyan-share 1\n%ld ", (long)getpid());
    ok(text && strncmp(text, line, strlen(line)) == 0,
       "the file is readable text with the header and our record");
    free(text);
    share_close(sh);
    text = NULL;
    util_read_file(path, &text, &len);
    ok(text && strcmp(text, "banyan-share 1\n") == 0,
       "share_close removes the record");
    free(text);
    share_close(NULL);

    char dp[PATH_MAX];
    ok(share_default_path(dp, sizeof(dp)) == 0 &&
           strlen(dp) > strlen(SHARE_FILE_NAME) &&
           strcmp(dp + strlen(dp) - strlen(SHARE_FILE_NAME) - 1,
                  "/" SHARE_FILE_NAME) == 0,
       "the default path ends in /banyan-share (%s)", dp);
    errno = 0;
    ok(share_default_path(dp, 8) < 0 && errno == ENAMETOOLONG,
       "a short buffer is ENAMETOOLONG");
}

static void test_hostile_paths(void)
{
    char *target = tmp_path("target");
    char *slink = tmp_path("link");
    FILE *f = fopen(target, "w");
    fputs("precious\n", f);
    fclose(f);
    unlink(slink);
    ok(symlink(target, slink) == 0, "made a symlink");
    banyan_error_t e = {{0}};
    errno = 0;
    share_t *sh = share_open(slink, &e);
    ok(!sh && errno == ELOOP, "a symlink is refused (%s)", e.text);
    share_close(sh);

    char *fifo = tmp_path("fifo");
    unlink(fifo);
    ok(mkfifo(fifo, 0666) == 0, "made a FIFO");
    int64_t t0 = util_mono_ms();
    errno = 0;
    sh = share_open(fifo, &e);
    ok(!sh && errno == EINVAL && util_mono_ms() - t0 < 5000,
       "a FIFO is refused without blocking (%s)", e.text);
    share_close(sh);

    errno = 0;
    sh = share_open(tap_tmpdir(), &e);
    ok(!sh, "a directory is refused (%s)", e.text);
    share_close(sh);

    char *hard = tmp_path("hardlink");
    unlink(hard);
    ok(link(target, hard) == 0, "made a hard link");
    errno = 0;
    sh = share_open(hard, &e);
    ok(!sh && errno == EINVAL, "a file with two links is refused (%s)",
       e.text);
    share_close(sh);
    char *text = NULL;
    size_t len;
    util_read_file(target, &text, &len);
    is_str(text, "precious\n", "the link targets were never written");
    free(text);

    errno = 0;
    sh = share_open(tmp_path("no/such/dir/file"), &e);
    ok(!sh && errno == ENOENT, "a missing directory is ENOENT (%s)", e.text);
}

static void test_close_in_process(void)
{
    char *path = tmp_path("two-handles");
    share_t *a = share_open(path, NULL), *b = share_open(path, NULL);
    share_set_capacity(a, &cap6);
    share_set_capacity(b, &cap6);
    share_amount_t all = {6000, 6 * GIB};
    share_grant_t ga, gb;
    share_update(a, &all, &none, &ga, NULL);
    share_update(b, &all, &none, &gb, NULL);
    share_update(a, &all, &none, &ga, NULL);
    ok(ga.ninstances == 2 && ga.fair.cpus_milli + gb.fair.cpus_milli == 6000
           && ga.fair.cpus_milli == 3000,
       "two handles in one process are two instances sharing equally");
    share_amount_t little = {1000, GIB};
    share_update(a, &little, &none, &ga, NULL);
    share_update(b, &all, &none, &gb, NULL);
    ok(ga.fair.cpus_milli == 1000 && gb.fair.cpus_milli == 5000 &&
           gb.fair.mem_bytes == 5 * GIB,
       "an instance wanting little leaves the rest to the other");
    share_update(a, &all, &none, &ga, NULL);
    share_update(b, &all, &none, &gb, NULL);
    is_int(gb.fair.cpus_milli, 3000, "and grows back when it wants more");
    share_close(b);
    share_update(a, &all, &none, &ga, NULL);
    ok(ga.ninstances == 1 && ga.fair.cpus_milli == 6000,
       "after share_close the remaining instance gets everything");
    share_close(a);
}

/* Regression: closing a handle that never updated, on an empty file,
 * sorted a NULL array (UBSan: null pointer passed to qsort). */
static void test_close_unused(void)
{
    char *path = tmp_path("unused");
    share_t *sh = share_open(path, NULL);
    ok(sh != NULL, "a fresh file opens");
    share_close(sh);
    FILE *f = fopen(path, "r");
    char line[64] = "";
    ok(f && fgets(line, sizeof line, f) && !strncmp(line, "banyan-share", 12),
       "closing a handle that never updated leaves a valid, empty table");
    if (f)
        fclose(f);
}

static void test_processes(void)
{
    char *path = tmp_path("procs");
    share_t *h = share_open(path, NULL);
    share_set_capacity(h, &cap6);
    share_amount_t all = {6000, 6 * GIB};
    share_grant_t g;
    memset(&g, 0, sizeof(g));
    kid_t kids[2];
    kids[0] = kid_start(path, 6000, (uid_t)-1);
    kids[1] = kid_start(path, 6000, (uid_t)-1);
    ok(converge(h, &all, 2000, kids, 2, 2000, &g),
       "three instances wanting everything converge to a third each");
    is_int(g.ninstances, 3, "three instances are registered");

    share_amount_t little = {1000, GIB};
    ok(converge(h, &little, 1000, kids, 2, 2500, &g),
       "when one wants only 1 core the two others grow to 2.5 each");

    /* kill -9 without reaping: the zombie's share must come back. */
    kill(kids[1].pid, SIGKILL);
    ok(converge(h, &little, 1000, kids, 1, 5000, &g),
       "a kill -9'd instance's share goes to the survivor (5 cores)");
    is_int(g.ninstances, 2, "the killed instance's record is gone");
    int st = kid_end(&kids[1], 0);
    ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the instance died of "
                                                   "SIGKILL");

    ok(converge(h, &all, 3000, kids, 1, 3000, &g),
       "wanting everything again, the first grows back to half");
    st = kid_end(&kids[0], SIGTERM);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the other exits cleanly");
    ok(converge(h, &all, 6000, kids, 0, 0, &g) && g.ninstances == 1,
       "alone again, the first gets the whole host");
    share_close(h);
}

static void test_other_user(void)
{
    if (geteuid() != 0) {
        ok(1, "# SKIP not root: cannot run an instance as another user");
        return;
    }
    /* A directory every user can enter and write, like /dev/shm. */
    char *dir = tmp_path("shm");
    mkdir(dir, 0777);
    chmod(dir, 01777);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/banyan-share", dir);
    share_t *a = share_open(path, NULL), *b = share_open(path, NULL);
    share_set_capacity(a, &cap6);
    share_set_capacity(b, &cap6);
    share_amount_t all = {6000, 6 * GIB};
    share_grant_t g;
    share_update(a, &all, &none, &g, NULL);
    share_update(b, &all, &none, &g, NULL);
    kid_t k = kid_start(path, 6000, 65534);
    memset(&g, 0, sizeof(g));
    bool conv = converge(a, &all, 1500, &k, 1, 3000, &g);
    int st = kid_end(&k, SIGTERM);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        ok(1, "# SKIP the other user cannot reach %s", path);
    } else {
        ok(conv, "another user's lone instance gets half the host, and "
                 "this user's two instances a quarter each");
        is_int(g.nusers, 2, "two users are counted");
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "the other user opened and updated the root-created file");
    }
    share_close(a);
    share_close(b);
}

static void write_text(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len)
        bail_out("cannot write %s", path);
    close(fd);
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static void test_corrupt(void)
{
    char *path = tmp_path("corrupt");
    share_t *h = share_open(path, NULL);
    share_set_capacity(h, &cap6);
    share_amount_t all = {6000, 6 * GIB};
    share_grant_t g;
    share_update(h, &all, &none, &g, NULL);
    const share_record_t *r;
    share_records(h, &r);
    uint64_t start = r[0].start;
    long pid = (long)getpid();
    unsigned long uid = (unsigned long)getuid();

    /* Random bytes, NULs included. */
    char junk[4096];
    uint64_t s = 3;
    for (size_t i = 0; i < sizeof(junk); i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        junk[i] = (char)(s >> 56);
    }
    write_text(path, junk, sizeof(junk));
    ok(share_update(h, &all, &none, &g, NULL) == 0 && g.ninstances == 1 &&
           g.fair.cpus_milli == 6000,
       "a file of random bytes is reset and the update goes on");
    char *text = NULL;
    size_t len;
    util_read_file(path, &text, &len);
    ok(text && strncmp(text, "banyan-share 1\n", 15) == 0,
       "the reset file has a proper header again");
    free(text);

    /* A dead pid: a child that has exited and been reaped. */
    fflush(stdout);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    util_buf_t b = UTIL_BUF_INIT;
    util_buf_puts(&b, "banyan-share 1\n");
    util_buf_printf(&b, "%ld 7 %llu %lu 6000 6442450944 0 0 1\n", pid,
                    (unsigned long long)start, uid); /* live: kept */
    util_buf_printf(&b, "%ld 0 1 %lu 6000 6442450944 6000 0 1\n",
                    (long)dead, uid); /* dead pid */
    util_buf_printf(&b, "%ld 8 %llu %lu 6000 0 0 0 1\n", pid,
                    (unsigned long long)start + 1, uid); /* reused pid */
    util_buf_printf(&b, "%ld 9 %llu %lu 6000 0 0 0 1\n", pid,
                    (unsigned long long)start, uid + 1); /* posing */
    util_buf_printf(&b, "%ld 7 %llu %lu 1 1 0 0 1\n", pid,
                    (unsigned long long)start, uid); /* duplicate */
    util_buf_puts(&b, "abc\n1 2 3\n-5 1 1 1 1 1 1 1 1\n");
    util_buf_puts(&b, "1 1 1 1 99999999999999999999999 1 1 1 1\n");
    util_buf_puts(&b, "1 1 1 1 1 1 1 1 1 1\n0 1 1 1 1 1 1 1 1\n");
    util_buf_puts(&b, "1  1 1 1 1 1 1 1 1\n");
    util_buf_printf(&b, "%ld 10 %llu %lu 6000 0 0 0 1", pid,
                    (unsigned long long)start, uid); /* torn last line */
    write_text(path, b.data, b.len);
    ok(share_update(h, &all, &none, &g, NULL) == 0,
       "a file with malformed and stale lines is accepted");
    is_int(g.ninstances, 2,
           "only the live, well-formed record survives besides our own");
    is_int(g.fair.cpus_milli, 3000, "and the two share the cores");
    share_records(h, &r);
    ok(r[0].serial == 7 || r[1].serial == 7,
       "the surviving record is the live one (serial 7)");
    ok(file_size(path) < 200, "the bad lines are gone from the file");

    share_set_stale_ms(h, 60000);
    share_update(h, &all, &none, &g, NULL);
    is_int(g.ninstances, 1,
           "with a stale limit, a record not updated since 1970 is dropped");
    share_set_stale_ms(h, 0);

    /* Too large a file. */
    util_buf_reset(&b);
    util_buf_puts(&b, "banyan-share 1\n");
    while (b.len <= SHARE_MAX_FILE_BYTES)
        util_buf_printf(&b, "%ld 7 %llu %lu 6000 0 0 0 1\n", pid,
                        (unsigned long long)start, uid);
    write_text(path, b.data, b.len);
    ok(share_update(h, &all, &none, &g, NULL) == 0 && g.ninstances == 1 &&
           file_size(path) < 200,
       "a file above SHARE_MAX_FILE_BYTES is reset");

    /* Too many records, all live-looking. */
    util_buf_reset(&b);
    util_buf_puts(&b, "banyan-share 1\n");
    for (int i = 0; i <= SHARE_MAX_RECORDS; i++)
        util_buf_printf(&b, "%ld %d %llu %lu 6000 0 0 0 1\n", pid, 100 + i,
                        (unsigned long long)start, uid);
    write_text(path, b.data, b.len);
    ok(share_update(h, &all, &none, &g, NULL) == 0 && g.ninstances == 1,
       "more than SHARE_MAX_RECORDS records reset the table");

    write_text(path, "", 0);
    ok(share_update(h, &all, &none, &g, NULL) == 0 && g.ninstances == 1,
       "an emptied file is simply filled again");
    util_buf_fini(&b);
    share_close(h);
}

static void test_lock_timeout(void)
{
    char *path = tmp_path("locked");
    share_t *h = share_open(path, NULL);
    share_set_lock_timeout_ms(h, 50);
    int fd = open(path, O_RDWR);
    flock(fd, LOCK_EX);
    share_amount_t all = {6000, 6 * GIB};
    share_grant_t g = {.ninstances = 42};
    banyan_error_t e = {{0}};
    int64_t t0 = util_mono_ms();
    errno = 0;
    int rc = share_update(h, &all, &none, &g, &e);
    int64_t took = util_mono_ms() - t0;
    ok(rc < 0 && errno == ETIMEDOUT, "a held lock makes the update fail "
                                     "with ETIMEDOUT (%s)", e.text);
    ok(took < 2000, "after a bounded wait (%lld ms)", (long long)took);
    is_int(g.ninstances, 42, "the grant is left untouched");
    flock(fd, LOCK_UN);
    close(fd);
    ok(share_update(h, &all, &none, &g, NULL) == 0 && g.ninstances == 1,
       "once the lock is free the update works");
    share_close(h);
}

int main(void)
{
    plan(NO_PLAN);
    test_open();
    test_hostile_paths();
    test_close_in_process();
    test_processes();
    test_other_user();
    test_corrupt();
    test_lock_timeout();
    test_close_unused(); /* last: the serials above are counted on */
    return done_testing();
}
