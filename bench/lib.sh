# shellcheck shell=bash
# bench/lib.sh — shell helpers the bench scripts share (sourced, not run).

# The Debian packages the benchmarks need are the build and bench groups
# of tools/deps.sh, the project's one list: build tools, CPython's
# development files (bench_alloc, bench_objects, bench_gc), the peer
# allocators, Boehm GC (bench_gc) and the real programs bench/suite.sh
# runs under each allocator.
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../tools/deps.sh
source "$BENCH_DIR/../tools/deps.sh"

# bench_install TAG: install with apt-get (through sudo unless root) what
# the build and bench groups miss, saying so on stderr as TAG.
bench_install() {
    deps_install "$1" build bench
}

# bench_plot TAG KIND RESULTS [OPTION...]: the charts of RESULTS, drawn by
# bench/plot.py KIND into RESULTS's directory (OPTIONs go to plot.py).
# A missing matplotlib or a failed chart is said on stderr as TAG and
# never fails the run: the tables are written before this is called.
bench_plot() {
    local tag=$1 kind=$2 file=$3 st=0
    shift 3
    if [[ ! -f $file ]]; then
        echo "$tag: no $file: no charts" >&2
        return 0
    fi
    python3 "$BENCH_DIR/plot.py" "$kind" "$file" "$(dirname "$file")" "$@" || st=$?
    case $st in
        0) ;;
        4) echo "$tag: tables written, charts skipped (no matplotlib; tools/deps.sh install bench)" >&2 ;;
        *) echo "$tag: bench/plot.py $kind $file failed (status $st): no charts" >&2 ;;
    esac
    return 0
}

# bench_usage FILE: the script's help, its opening comment (from the line
# after #! to the last comment line before the code) without the "# ".
bench_usage() {
    awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$1"
}
