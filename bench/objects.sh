#!/usr/bin/env bash
# objects.sh — build and run bench_objects: objmem's object layer against
# the same operations through CPython's C API, in one process.
#
#   bench/objects.sh [--install] [--rounds N] [--quick] [--only W[,W...]]
#                    [--clock cpu|wall] [--build DIR]
#   bench/run.sh --objects [same options]      # the same thing
#
# Steps: (a) install with apt-get what tools/deps.sh's build and bench
# groups miss (among them libpython3.11-dev) when --install is given or
# something is missing; (b) configure and build bench_objects in
# build-bench/ (or --build DIR) from the repository root; (c) run it once:
# --rounds N interleaved rounds (default 7, or 3 with --quick) after one
# warm-up round; (d) print the table and write bench/results/objects.json,
# objects.md, objects.txt (the table as printed), objects-raw.txt (one
# line per measurement) and the chart objects-time.svg (bench/plot.py,
# when matplotlib is installed).
#
# Workloads (--only): float float_batch float_batch_nofl int int_batch
# incref list list_nogc dict.  --quick is a smoke test of a few seconds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
source "$here/lib.sh"
root=$(dirname "$here")
cd "$root"

ROUNDS=""
QUICK=0
ONLY=""
CLOCK=cpu
INSTALL=0
BUILD=build-bench
RESULTS=bench/results

usage() { bench_usage "$here/objects.sh"; }
die() { echo "objects.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --install) INSTALL=1 ;;
        --rounds) [[ $# -ge 2 ]] || die "--rounds needs a number"; ROUNDS=$2; shift ;;
        --quick) QUICK=1 ;;
        --only) [[ $# -ge 2 ]] || die "--only needs a workload"; ONLY=$2; shift ;;
        --clock) [[ $# -ge 2 ]] || die "--clock needs cpu or wall"; CLOCK=$2; shift ;;
        --build) [[ $# -ge 2 ]] || die "--build needs a directory"; BUILD=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done
[[ -z $ROUNDS ]] && { if [[ $QUICK == 1 ]]; then ROUNDS=3; else ROUNDS=7; fi; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: bad number '$ROUNDS'"
[[ $CLOCK == cpu || $CLOCK == wall ]] || die "--clock: cpu or wall, not '$CLOCK'"

# ------------------------------------------------------------ (a) install
have_everything() {
    command -v cmake >/dev/null && command -v cc >/dev/null && command -v make >/dev/null &&
        compgen -G '/usr/include/python3*/Python.h' >/dev/null
}
if [[ $INSTALL == 1 ]] || ! have_everything; then
    bench_install objects.sh
    have_everything || die "packages still missing after apt-get install"
fi

# ------------------------------------------------------------ (b) build
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$BUILD" -DOBJMEM_BUILD_BENCH=ON -DOBJMEM_BUILD_TESTS=OFF \
    -DOBJMEM_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$jobs" --target bench_objects
BIN=$BUILD/bench/bench_objects
[[ -x $BIN ]] || die "build did not produce $BIN"

# ------------------------------------------------------------ (c, d) run
mkdir -p "$RESULTS"
ARGS=(--rounds "$ROUNDS" --clock "$CLOCK" --out "$RESULTS")
[[ $QUICK == 1 ]] && ARGS+=(--quick)
[[ -n $ONLY ]] && ARGS+=(--only "$ONLY")
# PYTHONMALLOC cannot swap pymalloc out (bench_objects forces it), but
# other PYTHON* variables could change the interpreter's start-up.
rc=0
env -u PYTHONHOME -u PYTHONPATH -u PYTHONSTARTUP "$BIN" "${ARGS[@]}" |
    tee "$RESULTS/objects.txt" || rc=$?
bench_plot objects.sh objects "$RESULTS/objects.json"
exit $rc
