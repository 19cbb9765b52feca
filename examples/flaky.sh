#!/bin/sh
# flaky.sh NAME - a task that succeeds, fails or hangs depending on NAME.
case "$1" in
bad) echo "bad input: $1" >&2; exit 3 ;;
slow) sleep 5 ;;
*) echo "ok $1" ;;
esac
