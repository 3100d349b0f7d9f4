#!/usr/bin/env bash
# bench/python/diagnostics.sh: the cost of objmem's debug mode and tracing
# next to CPython's own (PYTHONMALLOC=debug, tracemalloc), on the same
# CPython workloads, in the same run.
#
#   bench/python/diagnostics.sh [--rounds N] [--scale F] [--only W[,W...]]
#                               [--configs C[,C...]]
#
# Workloads: json, objects, containers, text (bench/python/*.py).
# Configurations, each a command line:
#   default        python3                     (pymalloc, nothing on)
#   py-debug       PYTHONMALLOC=debug python3
#   tracemalloc1   python3 -X tracemalloc=1
#   tracemalloc16  python3 -X tracemalloc=16
#   objmem         PYTHONMALLOC=malloc, LD_PRELOAD=libobjmem-malloc.so
#   om-debug       objmem + OBJMEM_DEBUG=1
#   om-trace1      objmem + OBJMEM_TRACE=1
#   om-trace16     objmem + OBJMEM_TRACE=16
#   om-sampled     objmem + OBJMEM_TRACE=16 OBJMEM_TRACE_SAMPLE=512K
# objmem's traced runs write their report at exit (as JSON to a scratch
# file, OBJMEM_TRACE_FILE): its cost is in their times; tracemalloc's runs
# take no snapshot.  Every (workload, configuration) pair runs once per
# round, interleaved, the order rotated each round; a run's output must
# equal default's.  Prints per workload the median wall time of each
# configuration and its ratio to its baseline (CPython's tools to
# default, objmem's to objmem), the overhead in seconds over the baseline,
# and the geometric means of the ratios, of wall time and of CPU time
# (user + system, which a busy machine disturbs less); --configs runs
# only those configurations (and their baselines); writes
# bench/results/diagnostics.csv (work,config,round,wall_s,cpu_s,maxrss_kb),
# diagnostics.txt and diagnostics-raw.txt.  Builds build-bench/ (as
# bench/python/run.sh does) when the library is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
source "$here/../lib.sh"
root=$(cd "$here/../.." && pwd)
cd "$root"

PY=/usr/bin/python3
ROUNDS=5
SCALE=1
ONLY=""
WORKS=(json objects containers text)
declare -A SCRIPT=([json]=json_doc.py [objects]=objects.py [containers]=containers.py [text]=text.py)
CONFIGS=(default py-debug tracemalloc1 tracemalloc16 objmem om-debug om-trace1 om-trace16 om-sampled)
RESULTS=bench/results
BUILD=build-bench
LIB=$root/$BUILD/libobjmem-malloc.so

die() { echo "diagnostics.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) [[ $# -ge 2 ]] || die "--rounds needs a number"; ROUNDS=$2; shift ;;
        --scale) [[ $# -ge 2 ]] || die "--scale needs a number"; SCALE=$2; shift ;;
        --only) [[ $# -ge 2 ]] || die "--only needs a workload"; ONLY=$2; shift ;;
        --configs) [[ $# -ge 2 ]] || die "--configs needs a list"; IFS=, read -r -a PICK <<<"$2"; shift ;;
        -h|--help) bench_usage "$here/diagnostics.sh"; exit 0 ;;
        *) bench_usage "$here/diagnostics.sh" >&2; die "unknown option $1" ;;
    esac
    shift
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: bad number '$ROUNDS'"
[[ $SCALE =~ ^[0-9]*\.?[0-9]+$ ]] || die "--scale: bad number '$SCALE'"
if [[ -n $ONLY ]]; then IFS=, read -r -a WORKS <<<"$ONLY"; fi
if [[ -n ${PICK[*]:-} ]]; then
    for c in "${PICK[@]}"; do [[ " ${CONFIGS[*]} " == *" $c "* ]] || die "unknown configuration '$c'"; done
    # a configuration's baseline always runs with it
    for c in "${PICK[@]}"; do
        case $c in om-*) [[ " ${PICK[*]} " == *" objmem "* ]] || PICK+=(objmem) ;;
                   py-*|tracemalloc*) [[ " ${PICK[*]} " == *" default "* ]] || PICK+=(default) ;; esac
    done
    CONFIGS=("${PICK[@]}")
fi
for w in "${WORKS[@]}"; do [[ -n ${SCRIPT[$w]:-} ]] || die "unknown workload '$w'"; done

[[ -x $PY ]] || bench_install diagnostics.sh
if [[ ! -f $LIB ]]; then
    cmake -S . -B "$BUILD" -DOBJMEM_BUILD_BENCH=ON -DOBJMEM_BUILD_TESTS=OFF \
        -DOBJMEM_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target objmem_malloc >/dev/null
fi
[[ -f $LIB ]] || die "no $LIB"

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

# The command of configuration $1 for script $2, one word per line.
config_cmd() {
    local c=$1 script=$2
    printf '%s\n' env -u PYTHONMALLOC -u LD_PRELOAD -u PYTHONTRACEMALLOC
    printf '%s\n' -u OBJMEM_DEBUG -u OBJMEM_TRACE -u OBJMEM_TRACE_SAMPLE -u OBJMEM_TRACE_FILE
    case $c in
        om-*|objmem) printf '%s\n' PYTHONMALLOC=malloc "LD_PRELOAD=$LIB" "OBJMEM_TRACE_FILE=$SCRATCH/report-%p.json" ;;
    esac
    case $c in
        py-debug) printf '%s\n' PYTHONMALLOC=debug ;;
        om-debug) printf '%s\n' OBJMEM_DEBUG=1 ;;
        om-trace1) printf '%s\n' OBJMEM_TRACE=1 ;;
        om-trace16) printf '%s\n' OBJMEM_TRACE=16 ;;
        om-sampled) printf '%s\n' OBJMEM_TRACE=16 OBJMEM_TRACE_SAMPLE=512K ;;
    esac
    printf '%s\n' "$PY"
    case $c in
        tracemalloc1) printf '%s\n' -X tracemalloc=1 ;;
        tracemalloc16) printf '%s\n' -X tracemalloc=16 ;;
    esac
    printf '%s\n' "bench/python/$script" "$SCALE"
}

mkdir -p "$RESULTS"
RAW=$RESULTS/diagnostics-raw.txt
: >"$RAW"
n=${#CONFIGS[@]}
total=$((ROUNDS * ${#WORKS[@]} * n))
count=0
start=$SECONDS
bad=0
declare -A REF=()
echo "diagnostics.sh: $total runs: rounds=$ROUNDS scale=$SCALE workloads=${WORKS[*]}" >&2
for ((round = 1; round <= ROUNDS; round++)); do
    for wi in "${!WORKS[@]}"; do
        w=${WORKS[$wi]}
        for ((k = 0; k < n; k++)); do
            c=${CONFIGS[$(((k + round + wi) % n))]}
            count=$((count + 1))
            mapfile -t CMD < <(config_cmd "$c" "${SCRIPT[$w]}")
            line=$("$PY" bench/python/measure.py "${CMD[@]}")
            rm -f "$SCRATCH"/report-*.json
            echo "round=$round work=$w config=$c $line" >>"$RAW"
            rc=$(sed -n 's/.* rc=\([0-9]*\) ||.*/\1/p' <<<"$line")
            wall=$(sed -n 's/^wall_s=\([^ ]*\) .*/\1/p' <<<"$line")
            out=${line#* || }
            note=""
            if [[ $rc != 0 ]]; then
                note="  <-- FAILED (status $rc)"; bad=1
            elif [[ -z ${REF[$w]:-} ]]; then
                REF[$w]=$out
            elif [[ $out != "${REF[$w]}" ]]; then
                note="  <-- OUTPUT DIFFERS"; bad=1
            fi
            printf '[%3d/%d %4ds] round %d %-10s %-13s %8ss%s\n' \
                "$count" "$total" $((SECONDS - start)) "$round" "$w" "$c" "$wall" "$note" >&2
        done
    done
done

"$PY" - "$RAW" "$RESULTS/diagnostics.csv" <<'EOF' | tee "$RESULTS/diagnostics.txt"
import math, statistics, sys
raw, csv_path = sys.argv[1], sys.argv[2]
runs = []
for line in open(raw):
    head, _, _ = line.partition(" || ")
    r = dict(kv.split("=", 1) for kv in head.split())
    runs.append(r)
order = ["default", "py-debug", "tracemalloc1", "tracemalloc16",
         "objmem", "om-debug", "om-trace1", "om-trace16", "om-sampled"]
base = {c: ("objmem" if c.startswith("om-") or c == "objmem" else "default") for c in order}
works = []
for r in runs:
    if r["work"] not in works:
        works.append(r["work"])
with open(csv_path, "w") as f:
    f.write("work,config,round,wall_s,cpu_s,maxrss_kb\n")
    for r in runs:
        f.write("%s,%s,%s,%s,%s,%s\n" % (r["work"], r["config"], r["round"], r["wall_s"], r["cpu_s"], r["maxrss_kb"]))
med = {}
rss = {}
for w in works:
    for c in order:
        xs = [float(r["wall_s"]) for r in runs if r["work"] == w and r["config"] == c and r["rc"] == "0"]
        ms = [float(r["maxrss_kb"]) for r in runs if r["work"] == w and r["config"] == c and r["rc"] == "0"]
        if xs:
            med[w, c] = statistics.median(xs)
            rss[w, c] = statistics.median(ms) / 1024
n = max(len([r for r in runs if r["work"] == w and r["config"] == "default"]) for w in works)
print("Median wall time (s) of %d runs; in brackets the ratio to the baseline" % n)
print("(CPython's tools: to default; objmem's: to objmem), then the overhead")
print("in seconds over it.  Max RSS (MiB) last.\n")
print("| workload | config | time (s) | ratio | overhead (s) | max RSS (MiB) |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
ratios = {c: [] for c in order}
for w in works:
    for c in order:
        if (w, c) not in med or (w, base[c]) not in med:
            continue
        b = med[w, base[c]]
        ratios[c].append(med[w, c] / b)
        print("| %s | %s | %.3f | %.2f | %+.3f | %.1f |" % (w, c, med[w, c], med[w, c] / b, med[w, c] - b, rss[w, c]))
cpu = {}
for w in works:
    for c in order:
        xs = [float(r["cpu_s"]) for r in runs if r["work"] == w and r["config"] == c and r["rc"] == "0"]
        if xs:
            cpu[w, c] = statistics.median(xs)
cratios = {c: [cpu[w, c] / cpu[w, base[c]] for w in works if (w, c) in cpu and (w, base[c]) in cpu] for c in order}
print("\nGeometric mean of the ratios to the baseline (wall time; CPU time, user + system):\n")
print("| config | wall | cpu |")
print("| --- | ---: | ---: |")
for c in order:
    if ratios[c]:
        g = lambda v: math.exp(sum(map(math.log, v)) / len(v))
        print("| %s | %.3f | %.3f |" % (c, g(ratios[c]), g(cratios[c])))
EOF
echo "results: $RESULTS/diagnostics.csv, $RESULTS/diagnostics.txt, $RAW ($((SECONDS - start)) s of runs)"
((bad == 0)) || { echo "diagnostics.sh: some runs FAILED or differed (see above)" >&2; exit 3; }
