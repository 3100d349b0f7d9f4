#!/usr/bin/env bash
# run.sh — build and run objmem's allocator benchmark against its peers.
#
#   bench/run.sh --install            # first time: apt packages, build, run all
#   bench/run.sh [--rounds N] [--quick] [--only WORK[,WORK...]]
#                [--allocs A[,A...]] [--retrace] [--peers-only]
#
# Steps: (a) install with apt-get what tools/deps.sh's build and bench
# groups miss (the peer allocators, CPython's development files, the build
# tools) when --install is given or something is missing; (b) configure and build
# bench_alloc and the tracer in build-bench/ from the repository root;
# (c) record bench/traces/python.trace if it is absent (or --retrace);
# (d) run every (allocator, workload) pair once per round, interleaved,
# the allocator order rotated every time; (e) print a table per workload
# and geometric means; (f) write bench/results/alloc.csv (summary),
# alloc.txt (the tables), alloc-raw.txt (one line per run) and the chart
# alloc-time.svg (bench/plot.py, when matplotlib is installed).
#
# --peers-only builds bench/ on its own, without objmem (for when the
# library does not build); --quick is a smoke test of under a minute.
#
#   bench/run.sh --objects [options]  # the object benchmark instead:
#                                     # runs bench/objects.sh with the rest
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
source "$here/lib.sh"
for arg in "$@"; do
    if [[ $arg == --objects ]]; then
        rest=()
        for a in "$@"; do [[ $a == --objects ]] || rest+=("$a"); done
        exec "$here/objects.sh" "${rest[@]+"${rest[@]}"}"
    fi
done
root=$(dirname "$here")
cd "$root"

ROUNDS=""
QUICK=0
ONLY=""
ALLOCS_OPT=""
INSTALL=0
RETRACE=0
PEERS_ONLY=0
ALL_WORKS=(churn lifo fifo frag trace)
TRACE=bench/traces/python.trace
TRACE_MAX=${BENCH_TRACE_MAX:-5000000}
RESULTS=bench/results

usage() { bench_usage "$here/run.sh"; }
die() { echo "run.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --install) INSTALL=1 ;;
        --rounds) [[ $# -ge 2 ]] || die "--rounds needs a number"; ROUNDS=$2; shift ;;
        --quick) QUICK=1 ;;
        --only) [[ $# -ge 2 ]] || die "--only needs a workload"; ONLY=$2; shift ;;
        --allocs) [[ $# -ge 2 ]] || die "--allocs needs a list"; ALLOCS_OPT=$2; shift ;;
        --retrace) RETRACE=1 ;;
        --peers-only) PEERS_ONLY=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done
[[ -z $ROUNDS ]] && { if [[ $QUICK == 1 ]]; then ROUNDS=2; else ROUNDS=5; fi; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: bad number '$ROUNDS'"

# ------------------------------------------------------------ (a) install
multiarch=$(gcc -print-multiarch 2>/dev/null || true)
[[ -n $multiarch ]] || multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
find_lib() {
    local d
    for d in "/usr/lib/$multiarch" /usr/lib "/lib/$multiarch" /usr/local/lib; do
        if [[ -e $d/$1 ]]; then echo "$d/$1"; return 0; fi
    done
    return 1
}
have_everything() {
    command -v cmake >/dev/null && command -v cc >/dev/null && command -v make >/dev/null &&
        command -v python3 >/dev/null &&
        compgen -G '/usr/include/python3*/Python.h' >/dev/null &&
        find_lib libmimalloc.so.2 >/dev/null && find_lib libjemalloc.so.2 >/dev/null &&
        find_lib libtcmalloc_minimal.so.4 >/dev/null
}
if [[ $INSTALL == 1 ]] || ! have_everything; then
    bench_install run.sh
    have_everything || die "packages still missing after apt-get install"
fi
declare -A PRELOAD=(
    [mimalloc]=$(find_lib libmimalloc.so.2)
    [jemalloc]=$(find_lib libjemalloc.so.2)
    [tcmalloc]=$(find_lib libtcmalloc_minimal.so.4)
)

# ------------------------------------------------------------ (b) build
jobs=$(nproc 2>/dev/null || echo 2)
if [[ $PEERS_ONLY == 1 ]]; then
    BUILD=build-bench-peers
    cmake -S bench -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$jobs" --target bench_alloc bench_trace
    BIN=$BUILD/bench_alloc
    TRACER=$root/$BUILD/libbench_trace.so
    DEFAULT_ALLOCS=(pymalloc glibc mimalloc jemalloc tcmalloc)
else
    BUILD=build-bench
    cmake -S . -B "$BUILD" -DOBJMEM_BUILD_BENCH=ON -DOBJMEM_BUILD_TESTS=OFF \
        -DOBJMEM_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$jobs" --target bench_alloc bench_trace objmem_malloc_secure
    PRELOAD[objmem-secure]=$root/$BUILD/libobjmem-malloc-secure.so
    BIN=$BUILD/bench/bench_alloc
    TRACER=$root/$BUILD/bench/libbench_trace.so
    DEFAULT_ALLOCS=(objmem pymalloc glibc mimalloc jemalloc tcmalloc)
fi
[[ -x $BIN && -f $TRACER ]] || die "build did not produce $BIN and $TRACER"

if [[ -n $ALLOCS_OPT ]]; then IFS=, read -r -a ALLOCS <<<"$ALLOCS_OPT"; else ALLOCS=("${DEFAULT_ALLOCS[@]}"); fi
if [[ -n $ONLY ]]; then IFS=, read -r -a WORKS <<<"$ONLY"; else WORKS=("${ALL_WORKS[@]}"); fi
for w in "${WORKS[@]}"; do
    [[ " ${ALL_WORKS[*]} " == *" $w "* ]] || die "unknown workload '$w' (one of: ${ALL_WORKS[*]})"
done

# ------------------------------------------------------------ (c) trace
if [[ " ${WORKS[*]} " == *" trace "* ]] && { [[ $RETRACE == 1 ]] || [[ ! -s $TRACE ]]; }; then
    echo "run.sh: recording $TRACE (at most $TRACE_MAX events)" >&2
    mkdir -p "$(dirname "$TRACE")"
    BENCH_TRACE_OUT=$TRACE.tmp BENCH_TRACE_MAX=$TRACE_MAX PYTHONMALLOC=malloc \
        LD_PRELOAD=$TRACER python3 bench/trace_workload.py >/dev/null
    [[ -s $TRACE.tmp ]] || die "trace recording produced nothing"
    mv "$TRACE.tmp" "$TRACE"
    echo "run.sh: trace holds $(( ($(stat -c %s "$TRACE") - 8) / 24 )) events" >&2
fi

# ------------------------------------------------------------ (d) runs
mkdir -p "$RESULTS"
RAW=$RESULTS/alloc-raw.txt
: >"$RAW"
ERR=$(mktemp)
trap 'rm -f "$ERR"' EXIT
EXTRA=()
[[ $QUICK == 1 ]] && EXTRA+=(--quick)
n=${#ALLOCS[@]}
total=$(( ROUNDS * ${#WORKS[@]} * n ))
count=0
start=$SECONDS
echo "run.sh: $total runs: rounds=$ROUNDS workloads=${WORKS[*]} allocators=${ALLOCS[*]}" >&2
for (( round = 1; round <= ROUNDS; round++ )); do
    for wi in "${!WORKS[@]}"; do
        w=${WORKS[$wi]}
        for (( k = 0; k < n; k++ )); do
            a=${ALLOCS[$(( (k + round + wi) % n ))]}   # rotated order
            count=$((count + 1))
            pre=${PRELOAD[$a]:-}
            st=0
            line=$(env ${pre:+LD_PRELOAD=$pre} "$BIN" --alloc "$a" --work "$w" \
                --trace "$TRACE" "${EXTRA[@]}" 2>"$ERR") || st=$?
            if [[ $st == 0 ]]; then
                echo "round=$round $line" >>"$RAW"
                ns=$(sed -n 's/.*ns_per_op=\([^ ]*\).*/\1/p' <<<"$line")
                printf '[%3d/%d %4ds] round %d %-6s %-9s %10s ns/op\n' \
                    "$count" "$total" $((SECONDS - start)) "$round" "$w" "$a" "$ns" >&2
            else
                why="exit status $st"
                (( st > 128 )) && why="killed by SIG$(kill -l $((st - 128)) 2>/dev/null || echo $((st - 128)))"
                echo "round=$round alloc=$a work=$w status=failed reason=${why// /_}" >>"$RAW"
                echo "run.sh: FAILED $w/$a (round $round): $why" >&2
                tail -n 5 "$ERR" >&2
            fi
        done
    done
done

# ------------------------------------------------------------ (e, f) report
echo >&2
rc=0
python3 bench/report.py "$RAW" --csv "$RESULTS/alloc.csv" | tee "$RESULTS/alloc.txt" || rc=$?
echo
bench_plot run.sh alloc "$RESULTS/alloc.csv"
echo "results: $RESULTS/alloc.csv, $RESULTS/alloc.txt, $RAW, $RESULTS/alloc-time.svg ($((SECONDS - start)) s of runs)"
exit $rc
