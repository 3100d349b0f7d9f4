#!/bin/sh
# run.sh — the README's two set-up commands, for a fresh Debian 12 machine.
#
#   ./run.sh tour    install build tools if missing, build, run `objmem tour`
#   ./run.sh test    install build tools if missing, build, run every test
#
# Build output goes to build/ (BUILD_DIR to change it).  Extra arguments
# after `tour` are passed to the tour (e.g. --json).
set -eu
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
JOBS=$(nproc 2>/dev/null || echo 2)

need() { command -v "$1" >/dev/null 2>&1; }

# python3 and sqlite3 are not build tools: the drop-in malloc's tests run
# them on objmem (tests/override), and fail without them.
install_deps() {
    if need cmake && need cc && need make && need ctest && need python3 && need sqlite3; then
        return
    fi
    echo "run.sh: installing build tools (build-essential, cmake, python3, sqlite3) with apt-get" >&2
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake python3 sqlite3
}

build() {
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$BUILD_DIR" -j "$JOBS"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
tour)
    install_deps
    build >/dev/null
    exec "$BUILD_DIR/tools/objmem/objmem" tour "$@"
    ;;
test)
    install_deps
    build
    exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
    ;;
*)
    echo "usage: ./run.sh tour [--json] | ./run.sh test" >&2
    exit 2
    ;;
esac
