#!/bin/sh
# run-test.sh TMPDIR CMD... - give a test a fresh directory of its own, run it
# there, and remove the directory when it passes.
tmp=$1; shift
rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
cd "$tmp" || exit 1
# Each test has its own arbitration file for host sharing, so that tests
# running side by side do not divide the cores between themselves.
# ... and its own token (docs/security.md), not the user's.
TMPDIR=$tmp BANYAN_SHARE_FILE=$tmp/banyan-share BANYAN_TOKEN_FILE=$tmp/token "$@"
rc=$?
[ $rc -eq 0 ] && rm -rf "$tmp"
exit $rc
