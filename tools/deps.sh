#!/bin/sh
# tools/deps.sh — the one list of the Debian 12 packages objmem needs, in
# groups, and the one way the project's scripts install them.
#
#   tools/deps.sh groups              the groups and what each is for
#   tools/deps.sh list GROUP...       the groups' packages, one a line
#   tools/deps.sh missing GROUP...    those of them not installed
#   tools/deps.sh install GROUP...    apt-get update and install the missing
#                                     ones (through sudo unless root)
#
# Sourced (`. tools/deps.sh`), it defines deps_list, deps_missing,
# deps_install and deps_apt_install for the scripts that use it: run.sh,
# .ci/run and, through bench/lib.sh, every bench script.  A script never
# names a package that is not in a group here.
#
# Groups (a package may sit in more than one):
#   build   compile the library, the objmem command and the examples;
#           libunwind-dev and libdw-dev give allocation tracing its stacks
#           and their file:line (optional: without them tracing is
#           unavailable and om_trace_start returns ENOSYS)
#   test    what `ctest` runs besides the compiler: python3 and sqlite3
#           (tests/override runs them on the drop-in malloc), pkg-config
#           (the installed-package test), scdoc, man-db and groff-base
#           (the man pages: built, then checked with man and groff),
#           abigail-tools (the ABI check), chromium (the heap map page's
#           browser tests, tests/browser/)
#   docs    build and read the man pages
#   ci      what .ci/run adds: clang for its clang and sanitizer builds and
#           the header tests, with libclang-rt-14-dev, its sanitizer and
#           libFuzzer runtimes (clang only recommends it; fuzz/run.sh),
#           tcc for the header test with a compiler other than GNU C's
#   bench   the benchmarks: CPython's development files, the peer
#           allocators (glibc's is there already), Boehm GC, the real
#           programs bench/suite.sh runs under each allocator, and
#           matplotlib for the charts (bench/plot.py; without it the
#           scripts write their tables and skip the charts)

DEPS_BUILD="build-essential cmake libunwind-dev libdw-dev"
DEPS_TEST="python3 sqlite3 pkg-config scdoc man-db groff-base abigail-tools chromium"
DEPS_DOCS="scdoc man-db groff-base"
DEPS_CI="clang libclang-rt-14-dev tcc"
DEPS_BENCH="pkg-config python3 libpython3.11-dev
    libmimalloc2.0 libmimalloc-dev libjemalloc2 libjemalloc-dev libtcmalloc-minimal4
    libgc-dev python3-matplotlib
    sqlite3 xz-utils pigz zstd redis-server redis-tools"

# deps_list GROUP...: the packages, one a line, each once.
# (POSIX sh has no local variables: every variable here starts with deps_,
# so a script that sources this file keeps its own.)
deps_list() {
    deps_all=
    for deps_g in "$@"; do
        case $deps_g in
        build) deps_all="$deps_all $DEPS_BUILD" ;;
        test) deps_all="$deps_all $DEPS_TEST" ;;
        docs) deps_all="$deps_all $DEPS_DOCS" ;;
        ci) deps_all="$deps_all $DEPS_CI" ;;
        bench) deps_all="$deps_all $DEPS_BENCH" ;;
        *) echo "deps.sh: unknown group '$deps_g' (build, test, docs, ci, bench)" >&2; return 2 ;;
        esac
    done
    # shellcheck disable=SC2086 # one word per package
    printf '%s\n' $deps_all | awk '!seen[$0]++'
}

# deps_installed PKG: true when dpkg has PKG installed.
deps_installed() {
    case $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) in
    ii*) return 0 ;;
    *) return 1 ;;
    esac
}

# deps_missing GROUP...: the groups' packages that are not installed.
deps_missing() {
    deps_pkgs=$(deps_list "$@") || return
    for deps_p in $deps_pkgs; do
        deps_installed "$deps_p" || echo "$deps_p"
    done
}

# deps_apt_install TAG PKG...: apt-get update, then install PKG..., saying
# so on stderr as TAG.  Every PKG must be in a group.
deps_apt_install() {
    deps_tag=$1 deps_sudo=
    shift
    [ $# -gt 0 ] || return 0
    deps_all=$(deps_list build test docs ci bench)
    for deps_p in "$@"; do
        if ! printf '%s\n' "$deps_all" | grep -qx -- "$deps_p"; then
            echo "$deps_tag: package $deps_p is in no group of tools/deps.sh: add it there" >&2
            return 1
        fi
    done
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$deps_tag: no apt-get (not Debian?): install these yourself: $*" >&2
        return 1
    fi
    [ "$(id -u)" -eq 0 ] || deps_sudo=sudo
    echo "$deps_tag: installing with apt-get: $*" >&2
    $deps_sudo apt-get update
    $deps_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# deps_install TAG GROUP...: install whatever the groups miss.  Without
# dpkg (not Debian) it only says what the groups hold.
deps_install() {
    deps_tag=$1
    shift
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "$deps_tag: not a Debian system; objmem expects: $(deps_list "$@" | tr '\n' ' ')" >&2
        return 0
    fi
    deps_miss=$(deps_missing "$@") || return
    [ -n "$deps_miss" ] || return 0
    # shellcheck disable=SC2086 # one word per package
    deps_apt_install "$deps_tag" $deps_miss
}

deps_main() {
    deps_cmd=${1:-}
    [ $# -gt 0 ] && shift
    case $deps_cmd in
    groups) sed -n '/^# Groups/,/^$/p' "$0" | sed 's/^# \{0,1\}//' ;;
    list) deps_list "$@" ;;
    missing) deps_missing "$@" ;;
    install) deps_install deps.sh "$@" ;;
    *) echo "usage: tools/deps.sh groups | list|missing|install GROUP..." >&2; return 2 ;;
    esac
}

case ${0##*/} in
deps.sh) deps_main "$@" ;;
esac
