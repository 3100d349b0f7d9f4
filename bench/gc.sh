#!/usr/bin/env bash
# gc.sh — build and run bench_gc: objmem's cycle collector against
# CPython's gc.collect() and Boehm GC's GC_gcollect() on the same graphs.
#
#   bench/gc.sh [--install] [--rounds N] [--quick] [--only G[,G...]]
#               [--sides S[,S...]] [--hold root,list] [--clock cpu|wall]
#               [--build DIR] [-- BENCH_GC_OPTIONS...]
#   bench/gc.sh --profile [--only G[,G...]] [--hold H] [--build DIR]
#               [-- BENCH_GC_OPTIONS...]
#
# Steps: (a) install with apt-get what tools/deps.sh's build and bench
# groups miss (among them pkg-config, libpython3.11-dev and libgc-dev) when
# --install is given or something is missing; (b) configure and build
# bench_gc in build-bench/ (or --build DIR) from the repository root; (c)
# run it: --rounds N interleaved rounds (default 5, or 2 with --quick),
# each collection in a fresh child process; (d) print the tables and write
# bench/results/gc.json, gc.md, gc.txt (the tables as printed),
# gc-raw.txt (one line per collection) and the chart gc-time.svg
# (bench/plot.py, when matplotlib is installed).
#
# Graphs (--only): ring random tree young.  Sides (--sides): objmem
# cpython boehm.  --quick is a smoke test of a few seconds (100 k nodes).
# Options after -- go to bench_gc as they are (--nodes, --old, ...).
#
# --profile: no comparison; builds in DIR-prof (-g -fno-omit-frame-pointer)
# and profiles one objmem full collection with perf (bench_gc --no-fork;
# samples only inside the timed om_gc_collect, through perf's control
# FIFOs) for each graph of --only (default ring,random) and each state,
# held as --hold says (default root).  Writes
# bench/results/gc-profile-GRAPH-HOLD-STATE.txt: the time per phase of
# collect() and per function (bench/gc_profile.py), perf's own table.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
source "$here/lib.sh"
root=$(dirname "$here")
cd "$root"

ROUNDS=""
QUICK=0
ONLY=""
SIDES=""
HOLD=""
CLOCK=cpu
INSTALL=0
PROFILE=0
BUILD=build-bench
RESULTS=bench/results
PASS=()

usage() { bench_usage "$here/gc.sh"; }
die() { echo "gc.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --install) INSTALL=1 ;;
        --rounds) [[ $# -ge 2 ]] || die "--rounds needs a number"; ROUNDS=$2; shift ;;
        --quick) QUICK=1 ;;
        --only) [[ $# -ge 2 ]] || die "--only needs a graph"; ONLY=$2; shift ;;
        --sides) [[ $# -ge 2 ]] || die "--sides needs a list"; SIDES=$2; shift ;;
        --hold) [[ $# -ge 2 ]] || die "--hold needs root or list"; HOLD=$2; shift ;;
        --clock) [[ $# -ge 2 ]] || die "--clock needs cpu or wall"; CLOCK=$2; shift ;;
        --build) [[ $# -ge 2 ]] || die "--build needs a directory"; BUILD=$2; shift ;;
        --profile) PROFILE=1 ;;
        --) shift; PASS=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done
[[ -z $ROUNDS ]] && { if [[ $QUICK == 1 ]]; then ROUNDS=2; else ROUNDS=5; fi; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: bad number '$ROUNDS'"
[[ $CLOCK == cpu || $CLOCK == wall ]] || die "--clock: cpu or wall, not '$CLOCK'"

# ------------------------------------------------------------ (a) install
have_everything() {
    command -v cmake >/dev/null && command -v cc >/dev/null && command -v make >/dev/null &&
        command -v pkg-config >/dev/null &&
        compgen -G '/usr/include/python3*/Python.h' >/dev/null &&
        pkg-config --exists bdw-gc
}
if [[ $INSTALL == 1 ]] || ! have_everything; then
    bench_install gc.sh
    have_everything || die "packages still missing after apt-get install"
fi
if [[ $PROFILE == 1 ]] && ! command -v perf >/dev/null; then
    die "--profile needs perf (Debian: apt-get install linux-perf)"
fi

# ------------------------------------------------------------ (b) build
jobs=$(nproc 2>/dev/null || echo 2)
if [[ $PROFILE == 1 ]]; then
    # Same optimisation, plus debug info and frame pointers for perf.
    BUILD=$BUILD-prof
    cmake -S . -B "$BUILD" -DOBJMEM_BUILD_BENCH=ON -DOBJMEM_BUILD_TESTS=OFF \
        -DOBJMEM_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release \
        "-DCMAKE_C_FLAGS=-g -fno-omit-frame-pointer" >/dev/null
else
    cmake -S . -B "$BUILD" -DOBJMEM_BUILD_BENCH=ON -DOBJMEM_BUILD_TESTS=OFF \
        -DOBJMEM_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j"$jobs" --target bench_gc
BIN=$BUILD/bench/bench_gc
[[ -x $BIN ]] || die "build did not produce $BIN"
mkdir -p "$RESULTS"

# ------------------------------------------------------------ profile
if [[ $PROFILE == 1 ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkfifo "$tmp/ctl" "$tmp/ack"
    # Hardware cycles where the machine has them, else the CPU clock.
    event=cycles
    if ! perf stat -x, -e cycles true >"$tmp/stat" 2>&1 || grep -q 'not supported' "$tmp/stat"; then
        event=cpu-clock
    fi
    hold=${HOLD:-root}
    abs_bin=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
    set +o pipefail # head closes the pipes of perf report early
    IFS=, read -r -a graphs <<<"${ONLY:-ring,random}"
    for g in "${graphs[@]}"; do
        for st in live garbage; do
            out=$RESULTS/gc-profile-$g-$hold-$st.txt
            BENCH_PERF_CTL=$tmp/ctl BENCH_PERF_ACK=$tmp/ack \
                perf record -q -g -e "$event" -F 10000 -D -1 --control "fifo:$tmp/ctl,$tmp/ack" \
                -o "$tmp/perf.data" -- "$abs_bin" --no-fork --sides objmem --only "$g" --hold "$hold" \
                --state "$st" --rounds "$ROUNDS" "${PASS[@]+"${PASS[@]}"}" >"$tmp/run.txt" 2>&1 ||
                { cat "$tmp/run.txt" >&2; die "perf record failed for $g/$st"; }
            {
                echo "# objmem om_gc_collect(2) x $ROUNDS, graph=$g hold=$hold state=$st, perf event $event"
                grep -E '^(ring|random|tree) ' "$tmp/run.txt" | head -1
                echo
                echo "## by phase of collect() (gc_profile.py)"
                perf script -i "$tmp/perf.data" -F ip,sym,symoff,dso 2>/dev/null |
                    python3 "$here/gc_profile.py" "$abs_bin"
                echo
                echo "## self time by function (perf report)"
                perf report -i "$tmp/perf.data" --stdio --no-children --sort symbol -g none 2>/dev/null |
                    grep -v '^#' | sed '/^$/d' | head -25
            } >"$out"
            echo "== $g $hold $st ($out)"
            sed -n '/## by phase/,/^([0-9]* samples)/p' "$out" | sed 1d
        done
    done
    exit 0
fi

# ------------------------------------------------------------ (c, d) run
ARGS=(--rounds "$ROUNDS" --clock "$CLOCK" --out "$RESULTS")
[[ $QUICK == 1 ]] && ARGS+=(--quick)
[[ -n $ONLY ]] && ARGS+=(--only "$ONLY")
[[ -n $SIDES ]] && ARGS+=(--sides "$SIDES")
[[ -n $HOLD ]] && ARGS+=(--hold "$HOLD")
rc=0
"$BIN" "${ARGS[@]}" "${PASS[@]+"${PASS[@]}"}" | tee "$RESULTS/gc.txt" || rc=${PIPESTATUS[0]}
bench_plot gc.sh gc "$RESULTS/gc.json"
exit "$rc"
