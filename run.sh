#!/bin/sh
# run.sh — the README's two set-up commands, for a fresh Debian 12 machine.
#
#   ./run.sh tour    install the build tools if missing, build, run `objmem tour`
#   ./run.sh test    install the build and test tools if missing, build, run
#                    every test
#
# Build output goes to build/ (BUILD_DIR to change it).  Extra arguments
# after `tour` are passed to the tour (e.g. --json).
set -eu
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
JOBS=$(nproc 2>/dev/null || echo 2)

# What to install is tools/deps.sh's: its build group for the tour, build
# and test for the tests (python3 and sqlite3 for the drop-in malloc's
# tests, pkg-config for the installed-package test, scdoc, man-db and
# groff-base for the man pages and their check, abigail-tools for the ABI
# check, chromium for the heap map's browser tests).  Only what dpkg does not have is installed (sudo unless root).
. ./tools/deps.sh

build() {
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$BUILD_DIR" -j "$JOBS"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
tour)
    deps_install run.sh build
    build >/dev/null
    exec "$BUILD_DIR/tools/objmem/objmem" tour "$@"
    ;;
test)
    deps_install run.sh build test
    build
    exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
    ;;
*)
    echo "usage: ./run.sh tour [--json] | ./run.sh test" >&2
    exit 2
    ;;
esac
