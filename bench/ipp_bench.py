#!/usr/bin/python3
"""ipp_bench.py - the ipyparallel peer of bench/tree_bench.sh (issue 6).

    /usr/bin/python3 bench/ipp_bench.py ENGINES [REPS]

Starts one ipcontroller and ENGINES ipengine processes on 127.0.0.1 in a
private profile directory (Debian python3-ipyparallel 7.1), waits for the
engines, then times, after a warm-up, REPS calls (default 20) of

  - rc.broadcast_view(is_coalescing=True).apply_sync(noop)  (BroadcastView,
    coalescing: the controller's broadcast scheduler tree gathers the
    replies and the client gets one message), and
  - rc[:].apply_sync(noop)                                   (DirectView),

where noop is an empty function, and reads one engine's RSS (VmRSS of
/proc/PID/status) once the runs are done: the engine process itself, and
apart the nanny process it forks.  Output, one line each:

  ipp engines=N view=broadcast-coalescing median_ms=M min_ms=A max_ms=B
  ipp engines=N view=direct median_ms=M min_ms=A max_ms=B
  ipp engines=N engine_rss_kb=K nanny_rss_kb=L engine_pss_kb=P nanny_pss_kb=Q

Every process it starts runs in its own session and is killed (SIGTERM,
then SIGKILL) on exit, on an exception and on SIGINT / SIGTERM; each also
gets SIGKILL from the kernel should this script die (PR_SET_PDEATHSIG).
"""

import ctypes
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

STARTUP_TIMEOUT_S = 300  # 64 engines import IPython on 2 shared cores

children = []  # Popen objects, each the leader of its own session


def die_with_parent():
    """preexec_fn: the kernel kills the child if this script dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv, log):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True,
                         preexec_fn=die_with_parent)
    children.append(p)
    return p


def kill_all():
    """TERM every child's process group, then KILL what is left."""
    for p in children:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 3
    for p in children:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # stragglers in the group too
        except ProcessLookupError:
            pass
        p.wait()
    children.clear()


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def proc_kb(path, key):
    """The kB figure of a "Key:  N kB" line of a /proc file (0 if none)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid):
    """VmRSS of pid in kB (0 when it is gone)."""
    return proc_kb("/proc/%d/status" % pid, "VmRSS")


def pss_kb(pid):
    """Pss of pid in kB: shared pages divided among the processes that map
    them (what one more engine costs on a host of many)."""
    return proc_kb("/proc/%d/smaps_rollup" % pid, "Pss")


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def noop():
    pass


def time_calls(fn, reps):
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000.0)
    return ms


def report(n, view, ms):
    print("ipp engines=%d view=%s median_ms=%.2f min_ms=%.2f max_ms=%.2f"
          % (n, view, statistics.median(ms), min(ms), max(ms)), flush=True)


def run(n, reps, work):
    import ipyparallel as ipp

    profile = os.path.join(work, "profile_bench")
    os.makedirs(profile)
    env_log = open(os.path.join(work, "ipp.log"), "ab")
    spawn(["ipcontroller", "--profile-dir=" + profile, "--ip=127.0.0.1",
           "--log-level=WARN"], env_log)
    client_json = os.path.join(profile, "security", "ipcontroller-client.json")
    engine_json = os.path.join(profile, "security", "ipcontroller-engine.json")
    deadline = time.monotonic() + 60
    while not (os.path.exists(client_json) and os.path.exists(engine_json)):
        if time.monotonic() > deadline or children[0].poll() is not None:
            sys.exit("ipp_bench: the controller did not start (see %s)"
                     % env_log.name)
        time.sleep(0.1)
    time.sleep(0.5)  # the files are written before the sockets are bound
    engines = [spawn(["ipengine", "--profile-dir=" + profile,
                      "--log-level=WARN"], env_log) for _ in range(n)]
    rc = ipp.Client(client_json, timeout=60)
    try:
        rc.wait_for_engines(n, timeout=STARTUP_TIMEOUT_S, interactive=False)
    except TimeoutError:
        sys.exit("ipp_bench: %d of %d engines joined in %d s"
                 % (len(rc.ids), n, STARTUP_TIMEOUT_S))
    bview = rc.broadcast_view(is_coalescing=True)
    dview = rc[:]
    for _ in range(3):  # warm-up: first calls pay for imports and caches
        bview.apply_sync(noop)
        dview.apply_sync(noop)
    # Alternate the two views in blocks so that load from elsewhere hurts
    # both alike.
    bms, dms = [], []
    for _ in range(2):
        bms += time_calls(lambda: bview.apply_sync(noop), reps // 2)
        dms += time_calls(lambda: dview.apply_sync(noop), reps - reps // 2)
    report(n, "broadcast-coalescing", bms)
    report(n, "direct", dms)
    # ipengine 7 forks a nanny (python -m ipyparallel.engine.nanny) that
    # watches the kernel: an engine costs both.
    epid = engines[0].pid
    nannies = children_of(epid)
    print("ipp engines=%d engine_rss_kb=%d nanny_rss_kb=%d engine_pss_kb=%d "
          "nanny_pss_kb=%d"
          % (n, rss_kb(epid), sum(rss_kb(c) for c in nannies), pss_kb(epid),
             sum(pss_kb(c) for c in nannies)), flush=True)
    rc.close()


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: ipp_bench.py ENGINES [REPS]")
    n = int(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with tempfile.TemporaryDirectory(prefix="ipp_bench.") as work:
        # A private IPYTHONDIR: nothing read from or written to ~/.ipython.
        os.environ["IPYTHONDIR"] = os.path.join(work, "ipython")
        try:
            run(n, reps, work)
        finally:
            kill_all()


if __name__ == "__main__":
    main()
