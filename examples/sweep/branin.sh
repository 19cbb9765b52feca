#!/bin/sh
# branin.sh X Y - an "experiment": the Branin function at (X, Y), after a
# short pause.  Its global minimum is 0.397887.  The result goes to the
# metrics file banyan names in $BANYAN_METRICS.
sleep "${BRANIN_SLEEP:-0.2}"
awk -v x="$1" -v y="$2" 'BEGIN {
    pi = atan2(0, -1)
    b = 5.1 / (4 * pi * pi); c = 5 / pi; t = 1 / (8 * pi)
    f = (y - b * x * x + c * x - 6) ^ 2 + 10 * (1 - t) * cos(x) + 10
    printf "{\"value\": %.6f, \"x\": %s, \"y\": %s}\n", f, x, y
}' >"$BANYAN_METRICS"
