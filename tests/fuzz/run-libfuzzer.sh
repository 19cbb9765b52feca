#!/bin/sh
# run-libfuzzer.sh TARGET CORPUS SEEDS REGRESSIONS - run one libFuzzer
# target (a -DBANYAN_FUZZ=ON build) for $FUZZ_SECONDS (default 60).
#
# New inputs go to CORPUS (in the build folder, kept between runs); SEEDS
# and REGRESSIONS (committed) are read, never written.  A crash, leak,
# timeout or out-of-memory input is written to CORPUS/../crash-NAME-* and
# fails the test: copy it into REGRESSIONS with the fix.  A file "dict"
# beside SEEDS is the target's libFuzzer dictionary.
target=$1 corpus=$2 seeds=$3 regress=$4
secs=${FUZZ_SECONDS:-60}
mkdir -p "$corpus" || exit 1
set -- "$seeds"
[ -d "$regress" ] && set -- "$@" "$regress"
name=$(basename "$corpus")
dict=$(dirname "$seeds")/dict
[ -f "$dict" ] && set -- -dict="$dict" "$@"
exec "$target" -max_total_time="$secs" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$(dirname "$corpus")/crash-$name-" "$corpus" "$@"
