# shellcheck shell=bash
# bench/lib.sh — shell helpers the bench scripts share (sourced, not run).

# The Debian packages the benchmarks need are the build and bench groups
# of tools/deps.sh, the project's one list: build tools, CPython's
# development files (bench_alloc, bench_objects, bench_gc), the peer
# allocators, Boehm GC (bench_gc) and the real programs bench/suite.sh
# runs under each allocator.
# shellcheck source=SCRIPTDIR/../tools/deps.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools/deps.sh"

# bench_install TAG: install with apt-get (through sudo unless root) what
# the build and bench groups miss, saying so on stderr as TAG.
bench_install() {
    deps_install "$1" build bench
}

# bench_usage FILE: the script's help, its opening comment (from the line
# after #! to the last comment line before the code) without the "# ".
bench_usage() {
    awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$1"
}
