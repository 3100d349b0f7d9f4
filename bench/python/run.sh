#!/usr/bin/env bash
# bench/python/run.sh: run CPython workloads under each malloc.
#
#   bench/python/run.sh --install      # first time: apt packages, build, run all
#   bench/python/run.sh [--rounds N] [--quick] [--only W[,W...]]
#                       [--configs C[,C...]] [--scale F] [--mem-mib N]
#
# Workloads (bench/python/*.py): json, objects, containers, text, and the
# memory-return scenario memreturn.  Configurations: default (CPython's
# pymalloc), glibc (PYTHONMALLOC=malloc), objmem, mimalloc, jemalloc,
# tcmalloc (PYTHONMALLOC=malloc plus LD_PRELOAD of that library);
# objmem-secure (the hardened build, libobjmem-malloc-secure.so) and
# objmem-secure-env (libobjmem-malloc.so with OBJMEM_SECURE=1), when asked
# for with --configs.
# Steps: (a) install with apt-get what tools/deps.sh's build and bench
# groups miss (the interpreter, the peer allocators) when --install is
# given or something is missing; (b) build build-bench/libobjmem-malloc.so;
# (c) check each configuration really uses its allocator; (d) run every
# (workload, configuration) pair once per round, interleaved, order
# rotated; (e) check checksums against default, print the tables and write
# bench/results/python.csv, python.txt and python-raw.txt; memreturn's RSS
# samples (every 10 ms from the mass free to the end of the idle) go to
# python-rss.csv (config,round,t_ms,rss_kb,phase); (f) draw the charts
# with bench/plot.py when matplotlib is installed: python-time.svg, and
# python-rss.svg (RSS over time per configuration).
#
# --quick: workloads at scale 0.25, memreturn at 128 MiB, 2 rounds.
# --scale F: workload size factor (default 1).  --mem-mib N: memreturn
# size (default 1024).  --only memreturn runs only the memory scenario.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
source "$here/../lib.sh"
root=$(cd "$here/../.." && pwd)
cd "$root"

PY=/usr/bin/python3
ROUNDS=""
QUICK=0
ONLY=""
CONFIGS_OPT=""
INSTALL=0
SCALE=""
MEM_MIB=""
ALL_WORKS=(json objects containers text memreturn)
DEFAULT_CONFIGS=(default glibc objmem mimalloc jemalloc tcmalloc)
ALL_CONFIGS=("${DEFAULT_CONFIGS[@]}" objmem-secure objmem-secure-env)
declare -A SCRIPT=([json]=json_doc.py [objects]=objects.py [containers]=containers.py
                   [text]=text.py [memreturn]=memreturn.py)
RESULTS=bench/results
BUILD=build-bench
OBJMEM_LIB=$root/$BUILD/libobjmem-malloc.so
OBJMEM_SECURE_LIB=$root/$BUILD/libobjmem-malloc-secure.so

usage() { bench_usage "$here/run.sh"; }
die() { echo "run.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --install) INSTALL=1 ;;
        --rounds) [[ $# -ge 2 ]] || die "--rounds needs a number"; ROUNDS=$2; shift ;;
        --quick) QUICK=1 ;;
        --only) [[ $# -ge 2 ]] || die "--only needs a workload"; ONLY=$2; shift ;;
        --configs) [[ $# -ge 2 ]] || die "--configs needs a list"; CONFIGS_OPT=$2; shift ;;
        --scale) [[ $# -ge 2 ]] || die "--scale needs a number"; SCALE=$2; shift ;;
        --mem-mib) [[ $# -ge 2 ]] || die "--mem-mib needs a number"; MEM_MIB=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done
if [[ $QUICK == 1 ]]; then
    : "${ROUNDS:=2}" "${SCALE:=0.25}" "${MEM_MIB:=128}"
else
    : "${ROUNDS:=5}" "${SCALE:=1}" "${MEM_MIB:=1024}"
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: bad number '$ROUNDS'"
[[ $SCALE =~ ^[0-9]*\.?[0-9]+$ ]] || die "--scale: bad number '$SCALE'"
[[ $MEM_MIB =~ ^[0-9]*\.?[0-9]+$ ]] || die "--mem-mib: bad number '$MEM_MIB'"

if [[ -n $ONLY ]]; then IFS=, read -r -a WORKS <<<"$ONLY"; else WORKS=("${ALL_WORKS[@]}"); fi
for w in "${WORKS[@]}"; do
    [[ -n ${SCRIPT[$w]:-} ]] || die "unknown workload '$w' (one of: ${ALL_WORKS[*]})"
done
if [[ -n $CONFIGS_OPT ]]; then IFS=, read -r -a CONFIGS <<<"$CONFIGS_OPT"; else CONFIGS=("${DEFAULT_CONFIGS[@]}"); fi
for c in "${CONFIGS[@]}"; do
    [[ " ${ALL_CONFIGS[*]} " == *" $c "* ]] || die "unknown configuration '$c' (one of: ${ALL_CONFIGS[*]})"
done
# every ratio is taken against default, so it always runs
[[ " ${CONFIGS[*]} " == *" default "* ]] || CONFIGS=(default "${CONFIGS[@]}")

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
    [[ -x $PY ]] && find_lib libmimalloc.so.2 >/dev/null && find_lib libjemalloc.so.2 >/dev/null &&
        find_lib libtcmalloc_minimal.so.4 >/dev/null &&
        { [[ -f $OBJMEM_LIB ]] || { command -v cmake >/dev/null && command -v cc >/dev/null; }; }
}
if [[ $INSTALL == 1 ]] || ! have_everything; then
    bench_install run.sh
    have_everything || die "packages still missing after apt-get install"
fi
declare -A PRELOAD=(
    [default]="" [glibc]="" [objmem]=$OBJMEM_LIB
    [objmem-secure]=$OBJMEM_SECURE_LIB [objmem-secure-env]=$OBJMEM_LIB
    [mimalloc]=$(find_lib libmimalloc.so.2)
    [jemalloc]=$(find_lib libjemalloc.so.2)
    [tcmalloc]=$(find_lib libtcmalloc_minimal.so.4)
)

# ------------------------------------------------------------ (b) build
if [[ " ${CONFIGS[*]} " == *" objmem"* ]]; then
    if command -v cmake >/dev/null; then
        # same configure line as bench/run.sh, so the two share build-bench/
        cmake -S . -B "$BUILD" -DOBJMEM_BUILD_BENCH=ON -DOBJMEM_BUILD_TESTS=OFF \
            -DOBJMEM_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target objmem_malloc objmem_malloc_secure >/dev/null
    fi
    [[ -f $OBJMEM_LIB && -f $OBJMEM_SECURE_LIB ]] || die "no $OBJMEM_LIB or $OBJMEM_SECURE_LIB (build failed?)"
fi

# The child's environment: PYTHONMALLOC and LD_PRELOAD from the caller are
# always dropped, then set per configuration.
config_env() {   # config -> words for env(1)
    local c=$1
    printf '%s\n' -u PYTHONMALLOC -u LD_PRELOAD -u PYTHONMALLOCSTATS
    [[ $c == default ]] && return 0
    printf '%s\n' PYTHONMALLOC=malloc
    [[ -n ${PRELOAD[$c]} ]] && printf '%s\n' "LD_PRELOAD=${PRELOAD[$c]}"
    [[ $c == objmem-secure-env ]] && printf '%s\n' OBJMEM_SECURE=1
    return 0
}

# ------------------------------------------------------------ (c) preflight
# default must be running pymalloc; the others must not, and a preloaded
# library must be mapped and must define malloc itself.
CHECK='
import ctypes, os, sys
want = sys.argv[1]
r, w = os.pipe()
saved = os.dup(2); os.dup2(w, 2); os.close(w)
sys._debugmallocstats()
os.dup2(saved, 2); os.close(saved)
text = os.read(r, 1 << 20).decode(errors="replace"); os.close(r)
pymalloc = "Small block threshold" in text
if pymalloc != (want == "pymalloc"):
    sys.exit("pymalloc %s, expected %s" % ("active" if pymalloc else "inactive", want))
if want not in ("pymalloc", "libc"):
    # preloaded: the library must be mapped before anything here loads it,
    # and must itself define malloc (the dynamic linker then binds every
    # malloc call to it, since LD_PRELOAD comes first in the search order)
    real = os.path.realpath(want)
    maps = {l.split()[-1] for l in open("/proc/self/maps") if "/" in l}
    if real not in maps:
        sys.exit("%s is not mapped (LD_PRELOAD ignored?)" % real)
    class Dl(ctypes.Structure):
        _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                    ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]
    info = Dl()
    addr = ctypes.cast(ctypes.CDLL(want).malloc, ctypes.c_void_p)
    ctypes.CDLL(None).dladdr(addr, ctypes.byref(info))
    got = os.path.realpath(info.fname.decode())
    if got != real:
        sys.exit("malloc in %s comes from %s" % (want, got))
'
for c in "${CONFIGS[@]}"; do
    case $c in default) want=pymalloc ;; glibc) want=libc ;; *) want=${PRELOAD[$c]} ;; esac
    [[ $want == pymalloc || $want == libc || -f $want ]] || die "$c: no library ($want)"
    mapfile -t E < <(config_env "$c")
    msg=$(env "${E[@]}" "$PY" -c "$CHECK" "$want" 2>&1) ||
        die "configuration $c is not what it should be: $msg"
done

# ------------------------------------------------------------ (d) runs
mkdir -p "$RESULTS"
RAW=$RESULTS/python-raw.txt
: >"$RAW"
RSS_CSV=$RESULTS/python-rss.csv
RSS_TMP=$(mktemp)
trap 'rm -f "$RSS_TMP"' EXIT
if [[ " ${WORKS[*]} " == *" memreturn "* ]]; then echo "config,round,t_ms,rss_kb,phase" >"$RSS_CSV"; fi
n=${#CONFIGS[@]}
total=$(( ROUNDS * ${#WORKS[@]} * n ))
count=0
start=$SECONDS
declare -A REF=()
bad=0
echo "run.sh: $total runs: rounds=$ROUNDS scale=$SCALE mem_mib=$MEM_MIB workloads=${WORKS[*]} configs=${CONFIGS[*]}" >&2
for (( round = 1; round <= ROUNDS; round++ )); do
    for wi in "${!WORKS[@]}"; do
        w=${WORKS[$wi]}
        args=("$SCALE")
        [[ $w == memreturn ]] && args=("$MEM_MIB" --rss-trace "$RSS_TMP")
        for (( k = 0; k < n; k++ )); do
            c=${CONFIGS[$(( (k + round + wi) % n ))]}   # rotated order
            count=$((count + 1))
            mapfile -t E < <(config_env "$c")
            : >"$RSS_TMP"
            line=$("$PY" bench/python/measure.py env "${E[@]}" "$PY" \
                "bench/python/${SCRIPT[$w]}" "${args[@]}")
            echo "round=$round work=$w config=$c $line" >>"$RAW"
            if [[ $w == memreturn ]]; then sed "1d; s/^/$c,$round,/" "$RSS_TMP" >>"$RSS_CSV"; fi
            rc=$(sed -n 's/.* rc=\([0-9]*\) ||.*/\1/p' <<<"$line")
            wall=$(sed -n 's/^wall_s=\([^ ]*\) .*/\1/p' <<<"$line")
            out=${line#* || }
            [[ $w == memreturn ]] && out=$(grep -o 'records=[0-9]* kept=[0-9]*\|chk=[0-9]*' <<<"$out" | tr '\n' ' ')
            note=""
            if [[ $rc != 0 ]]; then
                note="  <-- FAILED (status $rc)"; bad=1
            elif [[ $c == default && -z ${REF[$w]:-} ]]; then
                REF[$w]=$out
            elif [[ -n ${REF[$w]:-} && $out != "${REF[$w]}" ]]; then
                note="  <-- CHECKSUM DIFFERS FROM default"; bad=1
            fi
            printf '[%3d/%d %4ds] round %d %-10s %-9s %8ss%s\n' \
                "$count" "$total" $((SECONDS - start)) "$round" "$w" "$c" "$wall" "$note" >&2
            [[ -z $note ]] || echo "run.sh: $w/$c round $round: ${line}" >&2
        done
    done
done

# ------------------------------------------------------------ (e) report
echo >&2
rc=0
"$PY" bench/python/report.py "$RAW" --csv "$RESULTS/python.csv" | tee "$RESULTS/python.txt" || rc=$?
# ------------------------------------------------------------ (f) charts
for w in "${WORKS[@]}"; do
    if [[ $w != memreturn ]]; then bench_plot run.sh python "$RESULTS/python.csv"; break; fi
done
if [[ " ${WORKS[*]} " == *" memreturn "* ]]; then bench_plot run.sh rss "$RSS_CSV"; fi
echo "results: $RESULTS/python.csv, $RESULTS/python.txt, $RAW, $RESULTS/python-*.svg ($((SECONDS - start)) s of runs)"
(( bad == 0 && rc == 0 )) || { echo "run.sh: some runs FAILED or gave a different checksum (see above)" >&2; exit 3; }
exit 0
