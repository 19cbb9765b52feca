#!/bin/sh
# install-deps.sh - install the Debian 12 packages banyan needs to build and test.
#
# openmpi-bin gives mpirun, for the test of `banyan launch --mpi`.
# Installs only what is missing.  Runs apt-get directly as root and through
# sudo otherwise.  Pass --bench to add the benchmark peers (GNU Parallel,
# Optuna, Dask, ipyparallel) and iproute2 for the network-namespace bench.
set -eu

pkgs="build-essential cmake pkg-config clang libuv1-dev libsqlite3-dev \
libjansson-dev libyaml-dev libzmq3-dev libsodium-dev libmsgpack-dev sqlite3 procps \
openmpi-bin"
if [ "${1:-}" = "--bench" ]; then
    pkgs="$pkgs parallel python3-optuna python3-distributed python3-ipyparallel iproute2"
fi

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: need root or sudo to install:$missing" >&2
    exit 3
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
