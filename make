#!/bin/sh
# ./make TARGET...  —  `make TARGET...` on a machine that may not have make yet.
#
# A fresh Debian 12 (even a debootstrap minbase root) has no make, cmake or compiler, so the
# first command a newcomer types cannot be `make`. This POSIX-sh entry point installs what is
# missing from Debian's packages (scripts/install-deps: make, the toolchain, the libraries) and
# hands over to make:   ./make demo    ./make test    ./make bench    ./make install
set -eu
cd "$(dirname "$0")"
if ! command -v make >/dev/null 2>&1 || ! command -v cmake >/dev/null 2>&1 ||
    ! command -v g++ >/dev/null 2>&1; then
    ./scripts/install-deps
fi
exec make "$@"
