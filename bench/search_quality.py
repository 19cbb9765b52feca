#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# search_quality.py - the Optuna peer of bench/search_quality.c.
#
# Runs Optuna's TPESampler with its defaults (seeded, sequential, 60 trials,
# seeds 1..20) on Branin (2-D), Hartmann-6 (6-D) and Rosenbrock (4-D on
# [-2, 2]^4) and prints, per function, the median and quartiles of the best
# value found over the seeds in the same format as search_quality.c:
#
#   search_quality func=branin method=optuna median=0.41 q1=0.40 q3=0.45
#
# Quartiles interpolate linearly, as in the C program.  Optuna is only a
# benchmark peer (Debian: apt-get install python3-optuna); banyan does not
# depend on Python.  Usage: /usr/bin/python3 bench/search_quality.py
# [EVALS [SEEDS]]
import math
import sys
import warnings

try:
    import optuna
except ImportError:
    sys.exit("search_quality.py: needs python3-optuna "
             "(apt-get install -y python3-optuna)")


def branin(x):
    b = 5.1 / (4 * math.pi ** 2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    u = x[1] - b * x[0] ** 2 + c * x[0] - 6
    return u * u + 10 * (1 - t) * math.cos(x[0]) + 10


H_ALPHA = [1.0, 1.2, 3.0, 3.2]
H_A = [[10, 3, 17, 3.5, 1.7, 8],
       [0.05, 10, 17, 0.1, 8, 14],
       [3, 3.5, 1.7, 10, 17, 8],
       [17, 8, 0.05, 10, 0.1, 14]]
H_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
       [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
       [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
       [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(x):
    total = 0.0
    for i in range(4):
        e = sum(H_A[i][j] * (x[j] - H_P[i][j]) ** 2 for j in range(6))
        total += H_ALPHA[i] * math.exp(-e)
    return -total


def rosenbrock4(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
               for i in range(3))


PROBLEMS = [
    ("branin", [(-5, 10), (0, 15)], branin),
    ("hartmann6", [(0, 1)] * 6, hartmann6),
    ("rosenbrock4", [(-2, 2)] * 4, rosenbrock4),
]


def quantile(v, q):
    pos = q * (len(v) - 1)
    i = math.floor(pos)
    if i + 1 >= len(v):
        return v[-1]
    return v[i] + (pos - i) * (v[i + 1] - v[i])


def search(bounds, f, seed, evals, parallel):
    """Optuna's TPE with `parallel` trials in flight: ask/tell, the oldest
    trial finishing first, with Optuna's own constant liar for the running
    ones (parallel == 1 is plain sequential optimisation)."""
    sampler = optuna.samplers.TPESampler(seed=seed,
                                         constant_liar=parallel > 1)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    inflight = []
    asked = 0
    while asked < evals or inflight:
        while asked < evals and len(inflight) < parallel:
            trial = study.ask()
            x = [trial.suggest_float("x%d" % i, lo, hi)
                 for i, (lo, hi) in enumerate(bounds)]
            inflight.append((trial, x))
            asked += 1
        trial, x = inflight.pop(0)
        study.tell(trial, f(x))
    return study.best_value


def main():
    evals = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    parallel = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")  # constant_liar is "experimental"
    for name, bounds, f in PROBLEMS:
        best = sorted(search(bounds, f, s, evals, parallel)
                      for s in range(1, seeds + 1))
        print("search_quality func=%s method=optuna median=%.6g q1=%.6g "
              "q3=%.6g%s" % (name, quantile(best, 0.5), quantile(best, 0.25),
                             quantile(best, 0.75),
                             " parallel=%d" % parallel if parallel > 1
                             else ""), flush=True)


if __name__ == "__main__":
    main()
