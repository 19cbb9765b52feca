#!/bin/sh
# install-deps.sh - install the Debian 12 packages banyan needs to build and test.
#
# Enough on a bare Debian 12 (debootstrap, plus git and make) for `make
# check`.  Beyond the compilers and libraries, the tests run programs that
# such a system lacks (the rest is in Essential packages: coreutils,
# util-linux for flock and setsid, mawk, findutils, grep, sed, diffutils):
#
#   sqlite3       sqlite3 (the tests read the result databases)
#   jq            jq (the tree tests read `banyan status --tree --json`)
#   procps        ps, pgrep (the tests find and end what they started)
#   openmpi-bin   mpirun (the test of `banyan launch --mpi`)
#   clang         make fuzz (libFuzzer)
#   mount         mount, umount (the full-disk test mounts a small tmpfs)
#   python3       /usr/bin/python3, standard library only: the chaos suite
#                 (tests/chaos/run; its --quick version is in make check)
#   iproute2      ip (network namespaces, veth, links cut) and tc (netem):
#                 the chaos suite's network scenarios, which run as root
#   parallel      /usr/bin/parallel and /usr/bin/sem (GNU Parallel): the
#                 differential test tests/parity/run (CTest parity_gnu)
#                 compares `banyan run` with them
#   libtext-csv-perl  Text::CSV, which GNU Parallel's --csv needs (the
#                 parity test's --csv cases)
#
#   openssh-server, openssh-client  sshd, ssh, ssh-keygen: the test of
#                 `banyan run -S` (tests/cli/t0650-gnu-remote.t) starts its
#                 own sshd on a loopback port, with keys it makes
#   rsync         GNU Parallel's --transferfile/--return, which t0650 runs
#                 beside banyan's to compare them
#
# Not installed on purpose: srun.  tests/cli/t0400-launch.t writes
# stand-ins for srun and ssh into its fakebin/ and puts it first on PATH
# (launch --hosts is tested without an sshd; t0650 uses the real one).
#
# Installs only what is missing.  Runs apt-get directly as root and through
# sudo otherwise.  Pass --bench to add what the benchmarks run: the peers
# (GNU Parallel, Optuna, Dask, ipyparallel and its ipcontroller/ipengine),
# python3 (the tree and network-namespace benches read JSON with it) and
# iproute2 (ip, tc: the network-namespace bench).
set -eu

pkgs="build-essential cmake pkg-config clang libuv1-dev libsqlite3-dev \
libjansson-dev libyaml-dev libzmq3-dev libsodium-dev libmsgpack-dev \
sqlite3 jq procps openmpi-bin mount python3 iproute2 parallel \
libtext-csv-perl"
# t0650-gnu-remote.t: a real sshd, and rsync for GNU Parallel's transfers
pkgs="$pkgs openssh-server openssh-client rsync"
if [ "${1:-}" = "--bench" ]; then
    pkgs="$pkgs parallel python3 python3-optuna python3-distributed \
python3-ipyparallel iproute2"
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
