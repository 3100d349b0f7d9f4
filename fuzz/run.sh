#!/bin/sh
# fuzz/run.sh — build the libFuzzer harnesses with clang (ASan + UBSan) and
# run each for a while.
#
#   fuzz/run.sh [--time SECONDS] [--jobs N] [--keep] [NAME...]
#
#   --time SECONDS  how long each harness runs (default 60); the long run
#                   is --time 3600
#   --jobs N        processes per harness (libFuzzer's -fork=N; default 1)
#   --keep          merge the new inputs that add coverage into the kept
#                   corpus, fuzz/corpus/NAME/ (minimised: -merge=1)
#   NAME...         harnesses to run (default: all): alloc alloc_hardened
#                   objects options report heapmap (alloc_hardened: alloc's
#                   harness and corpus on the hardened build's core)
#
# The build goes to build-fuzz/ (FUZZ_BUILD_DIR to change it), the inputs
# each run finds to FUZZ_BUILD_DIR/work/NAME/corpus/ (not the repository,
# unless --keep), crashes to FUZZ_BUILD_DIR/work/NAME/crashes/.  Each run
# starts from the kept corpus and the work corpus of earlier runs.
# Exit status: 0 if no harness crashed; 1 otherwise, after naming each
# crash and the command that replays it.  A crash becomes a regression
# test by copying it into fuzz/corpus/NAME/ under a name that says what it
# found (fuzz/README.md).  Needs clang and its libFuzzer runtime (Debian:
# clang, in tools/deps.sh's ci group).
set -eu
cd "$(dirname "$0")/.."
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
ALL="alloc alloc_hardened objects options report heapmap"
time=60 jobs=1 keep=0 names=
while [ $# -gt 0 ]; do
    case $1 in
    --time) time=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
    *) case " $ALL " in
       *" $1 "*) names="$names $1"; shift ;;
       *) echo "fuzz/run.sh: no harness '$1' ($ALL)" >&2; exit 2 ;;
       esac ;;
    esac
done
names=${names:-$ALL}
# shellcheck disable=SC2086 # names: one word each
set -- $names

cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DOBJMEM_BUILD_FUZZ=ON -DOBJMEM_BUILD_TESTS=OFF -DOBJMEM_BUILD_MAN=OFF >/dev/null
targets=
for n in "$@"; do targets="$targets fuzz_$n"; done
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target $targets

# Sanitizer reports stop the run at the first error.  LeakSanitizer sees
# the command-line tool's readers (malloc); objmem's own memory is mapped
# by objmem, out of its sight: the models check that.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for n in "$@"; do
    corpus=fuzz/corpus/$n
    [ "$n" = alloc_hardened ] && corpus=fuzz/corpus/alloc
    work=$BUILD/work/$n
    mkdir -p "$work/corpus" "$work/crashes"
    fork=
    [ "$jobs" -gt 1 ] && fork=-fork=$jobs
    echo "=== fuzz_$n: $time s, $jobs job(s)" >&2
    # shellcheck disable=SC2086 # fork: empty or one word
    if ! "$BUILD/fuzz/fuzz_$n" $fork -max_total_time="$time" -timeout=60 -rss_limit_mb=4096 \
        -len_control=10 -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$work/crashes/" \
        "$work/corpus" "$corpus" 2>"$work/log"; then
        failed=1
        # the run's own output has the harness's messages closed: replay
        for c in $(ls -t "$work/crashes/" | head -n 1); do
            "$BUILD/fuzz/fuzz_$n" "$work/crashes/$c" 2>&1 | grep -v '^INFO:' | tail -n 40 >&2 || true
            echo "fuzz_$n: crashed on $work/crashes/$c (replay: $BUILD/fuzz/fuzz_$n FILE; log: $work/log)" >&2
        done
        continue
    fi
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$work/log" | sed "s/^/  /" >&2 || true
    if [ "$keep" = 1 ]; then
        "$BUILD/fuzz/fuzz_$n" -merge=1 -close_fd_mask=3 "$corpus" "$work/corpus" 2>>"$work/log"
        echo "  $corpus: $(ls "$corpus" | wc -l) inputs" >&2
    fi
done
exit $failed
