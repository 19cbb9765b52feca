#!/bin/sh
# sweep_bench.sh - the two sweep benchmarks (make bench-sweep).
#
# 1. Packing: 48 experiments of `sleep 1` needing 1, 2 or 4 GPUs (mixed,
#    fixed by seed) on BANYAN_GPUS=fake:8 with max_parallel_experiments 8.
#    Prints the wall time, the lower bound max(GPU-seconds / 8, longest
#    experiment) and the ratio (target <= 1.15).
# 2. Search quality: banyan's TPE and random on Branin (2-D), Hartmann-6 and
#    Rosenbrock (4-D), 60 evaluations each, SEEDS seeds (default 20), every
#    evaluation a real experiment (bench/testfunc) run by `banyan sweep` with
#    max_parallel_experiments 4; Optuna's TPESampler (Debian python3-optuna)
#    on the same functions and budget, in the same run.  Prints the median
#    and quartiles of the best value found per method and function.
#
#   bench/sweep_bench.sh [SEEDS]
set -eu
cd "$(dirname "$0")/.."
seeds=${1:-20}
banyan=$PWD/build/banyan
testfunc=$PWD/build/bench/testfunc
[ -x "$banyan" ] && [ -x "$testfunc" ] || { echo "sweep_bench: build first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------------- packing
awk 'BEGIN {
    srand(7)
    print "name: packing"
    print "command: '"'"'sleep 1; echo \"{\\\"t\\\": 1}\"'"'"'"
    print "parameters:"
    print "  g: [1, 2, 4]"
    print "  i: {min: 1, max: 48, type: int}"
    print "resources:"
    print "  gpus: \"{g}\""
    print "optimization:"
    print "  strategy: list"
    print "  objective: minimize_t"
    print "  max_parallel_experiments: 8"
    print "configurations:"
    for (i = 1; i <= 48; i++) {
        r = int(rand() * 3); g = (r == 0) ? 1 : (r == 1) ? 2 : 4
        printf "  - {g: %d, i: %d}\n", g, i
    }
}' >"$work/packing.yaml"
gpu_seconds=$(grep -o "g: [0-9]" "$work/packing.yaml" | awk '{ s += $2 } END { print s }')
t0=$(date +%s.%N)
BANYAN_GPUS=fake:8 "$banyan" sweep --db "$work/p.db" --results-dir "$work/p" \
    "$work/packing.yaml" >/dev/null 2>&1
t1=$(date +%s.%N)
awk -v t0="$t0" -v t1="$t1" -v gs="$gpu_seconds" 'BEGIN {
    wall = t1 - t0; lb = gs / 8; if (lb < 1) lb = 1
    printf "sweep_packing experiments=48 gpu_seconds=%d wall_s=%.2f lower_bound_s=%.2f ratio=%.3f\n", gs, wall, lb, wall / lb
}'

# ------------------------------------------------------- search quality
problem() { # name -> "dim lo hi"
    case $1 in
    branin) echo "x0 -5 10;x1 0 15" ;;
    hartmann6) echo "x0 0 1;x1 0 1;x2 0 1;x3 0 1;x4 0 1;x5 0 1" ;;
    rosenbrock4) echo "x0 -2 2;x1 -2 2;x2 -2 2;x3 -2 2" ;;
    esac
}
for f in branin hartmann6 rosenbrock4; do
    for method in tpe random; do
        s=1
        while [ "$s" -le "$seeds" ]; do
            cfg="$work/$f-$method-$s.yaml"
            {
                echo "name: $f-$method-$s"
                names=$(problem $f | tr ';' '\n' | awk '{ printf " {%s}", $1 }')
                echo "command: $testfunc $f$names"
                echo "parameters:"
                problem $f | tr ';' '\n' | awk '{ printf "  %s: {min: %s, max: %s}\n", $1, $2, $3 }'
                echo "optimization:"
                echo "  strategy: $method"
                echo "  objective: minimize_value"
                echo "  max_iterations: 60"
                echo "  max_parallel_experiments: 4"
                echo "  seed: $s"
            } >"$cfg"
            "$banyan" sweep --db "$work/q.db" --results-dir "$work/q/$f-$method-$s" "$cfg" >/dev/null 2>&1 || true
            best=$(sqlite3 "$work/q.db" "select min(objective) from experiments e join sweeps w on w.id = e.sweep_id where w.name = '$f-$method-$s'")
            echo "$f $method $best" >>"$work/best"
            s=$((s + 1))
        done
    done
done
if /usr/bin/python3 -c "import optuna" 2>/dev/null; then
    # Optuna with the same budget and the same 4 trials in flight (its own
    # constant liar); its sequential figures are printed for reference.
    /usr/bin/python3 bench/search_quality.py 60 "$seeds" 4 |
        awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
               print "optuna_line", v["func"], v["median"], v["q1"], v["q3"] }' >"$work/optuna"
    /usr/bin/python3 bench/search_quality.py 60 "$seeds" 1 |
        sed 's/method=optuna/method=optuna_sequential/'
else
    echo "sweep_bench: python3-optuna missing (apt-get install python3-optuna): no Optuna column" >&2
    : >"$work/optuna"
fi
awk '
FILENAME ~ /best$/ { key = $1 " " $2; n[key]++; v[key, n[key]] = $3; next }
{ opt[$2] = $3 " " $4 " " $5 }
END {
    for (key in n) {
        m = n[key]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
            if (v[key, j] < v[key, i]) { t = v[key, i]; v[key, i] = v[key, j]; v[key, j] = t }
        split(key, k, " ")
        med[key] = q(key, m, 0.5)
        printf "sweep_quality func=%s method=%s median=%.6g q1=%.6g q3=%.6g runs=%d\n", k[1], k[2], med[key], q(key, m, 0.25), q(key, m, 0.75), m
    }
    for (f in opt) {
        split(opt[f], o, " ")
        printf "sweep_quality func=%s method=optuna median=%.6g q1=%.6g q3=%.6g parallel=4\n", f, o[1], o[2], o[3]
        printf "sweep_quality_ratio func=%s tpe_vs_optuna=%s tpe_vs_random=%s\n", f,
            (med[f " tpe"] <= o[1]) ? "better_or_equal" : "worse",
            (med[f " tpe"] < med[f " random"]) ? "better" : "worse"
    }
}
function q(key, m, p,   pos, i) {
    pos = p * (m - 1); i = int(pos) + 1
    if (i >= m) return v[key, m]
    return v[key, i] + (pos - int(pos)) * (v[key, i + 1] - v[key, i])
}' "$work/best" "$work/optuna" | sort
