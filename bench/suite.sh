#!/usr/bin/env bash
# suite.sh — the standard-workload suite: synthetic allocator workloads and
# real programs, each run as a whole process under every allocator by
# LD_PRELOAD (glibc = nothing preloaded, mimalloc, jemalloc, tcmalloc,
# objmem = build-bench/libobjmem-malloc.so), interleaved, median of the
# rounds; wall time, CPU time (user + system) and max RSS of the process.
#
#   bench/suite.sh --install           # first time: apt packages, build, run all
#   bench/suite.sh [--quick] [--rounds N] [--real-rounds N] [--only W[,W...]]
#                  [--allocs A[,A...]] [--threads N[,N...]] [--timeout S] [--name NAME]
#
#   --install        install with apt-get what tools/deps.sh's build and
#                    bench groups miss, even if the script finds everything
#                    it looks for (else only when something is missing)
#   --quick          small inputs and 2 rounds: a smoke test of a few minutes
#   --rounds N       rounds (default 5, or 2 with --quick)
#   --real-rounds N  rounds for the real programs (default: --rounds)
#   --only LIST      workloads or groups (synthetic, real, mt, all); see
#                    --list.  Default: all but the extra ones
#   --allocs LIST    allocators (default glibc,mimalloc,jemalloc,tcmalloc,objmem)
#   --threads LIST   thread counts for the multi-thread workloads, e.g.
#                    1,2,4,8 (default 2; xmalloc 1,2, counted in pairs)
#   --timeout S      seconds before one run is killed (default 600)
#   --name NAME      base name of the result files (default suite)
#   --extra NAME=LIB one more allocator to preload, e.g. another objmem
#                    build (objmem-old=/path/libobjmem-malloc.so); repeatable
#   --list           print the workloads and exit
#
# Output (bench/results/, git-ignored): NAME.md (the tables in Markdown),
# NAME.csv (one row per workload and allocator, plus geometric means),
# NAME-raw.txt (one line per run), and the charts (bench/plot.py, when
# matplotlib is installed): NAME-time.svg, NAME-rss.svg and, with several
# --threads, NAME-threads.svg.  Exit status 3 when a run failed or an
# output differed between allocators.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
source "$here/lib.sh"
root=$(dirname "$here")
cd "$root"

usage() { bench_usage "$here/suite.sh"; }
die() { echo "suite.sh: $*" >&2; exit 1; }
say() { echo "suite.sh: $*" >&2; }

ALL_ALLOCS=(glibc mimalloc jemalloc tcmalloc objmem)
EXTRA_ALLOCS=()
SYN_WORKS=(bigbuf-calloc bigbuf-new bigbuf-realloc larson xmalloc mstress rptest
           randfree-random randfree-address cache-thrash cache-scratch)
REAL_WORKS=(py-json py-objects py-containers py-text sqlite gcc xz pigz zstd redis)
EXTRA_WORKS=(bigbuf-memset randfree-alloc)
MT_WORKS=(larson xmalloc mstress rptest cache-thrash cache-scratch)
declare -A DESCR=(
    [bigbuf-calloc]="5-25 MiB calloc'd buffers, <= 20 live, replaced at random"
    [bigbuf-new]="the same with C++ new char[n]()"
    [bigbuf-memset]="the same with malloc + memset (extra)"
    [bigbuf-realloc]="one buffer grown by realloc, 1/8 a step, 1 MiB -> 1 GiB"
    [larson]="server simulation: replace random 8-1000 B blocks, hand sets to new threads"
    [xmalloc]="producer/consumer: P threads allocate 16-1024 B, P others free"
    [mstress]="random lifetimes and sizes up to 256 KiB, transfers between threads"
    [rptest]="batches of 16 B-256 KiB blocks, a quarter freed by another thread"
    [randfree-random]="1 M Python-mix objects, freed in shuffled order"
    [randfree-address]="1 M Python-mix objects, freed in address order"
    [randfree-alloc]="1 M Python-mix objects, freed in allocation order (extra)"
    [cache-thrash]="threads write to their own small objects (active false sharing)"
    [cache-scratch]="threads write to small objects the main thread gave them (passive)"
    [py-json]="CPython: bench/python/json_doc.py"
    [py-objects]="CPython: bench/python/objects.py"
    [py-containers]="CPython: bench/python/containers.py"
    [py-text]="CPython: bench/python/text.py"
    [sqlite]="sqlite3 CLI, in-memory database, generated SQL"
    [gcc]="gcc -O2 -c of a generated C file"
    [xz]="xz -9 -T1 of generated text"
    [pigz]="pigz -p 2 of generated text"
    [zstd]="zstd -T2 -9 of generated text"
    [redis]="redis-server driven by redis-cli --pipe and redis-benchmark over loopback"
)

ROUNDS=""
REAL_ROUNDS=""
QUICK=0
ONLY=""
ALLOCS_OPT=""
THREADS_OPT=""
INSTALL=0
TIMEOUT=600
NAME=suite
while [[ $# -gt 0 ]]; do
    case "$1" in
        --install) INSTALL=1 ;;
        --quick) QUICK=1 ;;
        --rounds) [[ $# -ge 2 ]] || die "--rounds needs a number"; ROUNDS=$2; shift ;;
        --real-rounds) [[ $# -ge 2 ]] || die "--real-rounds needs a number"; REAL_ROUNDS=$2; shift ;;
        --only) [[ $# -ge 2 ]] || die "--only needs a list"; ONLY=$2; shift ;;
        --allocs) [[ $# -ge 2 ]] || die "--allocs needs a list"; ALLOCS_OPT=$2; shift ;;
        --threads) [[ $# -ge 2 ]] || die "--threads needs a list"; THREADS_OPT=$2; shift ;;
        --timeout) [[ $# -ge 2 ]] || die "--timeout needs a number"; TIMEOUT=$2; shift ;;
        --name) [[ $# -ge 2 ]] || die "--name needs a name"; NAME=$2; shift ;;
        --list)
            for w in "${SYN_WORKS[@]}" "${REAL_WORKS[@]}" "${EXTRA_WORKS[@]}"; do
                printf '%-17s %s\n' "$w" "${DESCR[$w]}"
            done
            exit 0 ;;
        --extra) [[ $# -ge 2 && $2 == ?*=?* ]] || die "--extra needs NAME=LIB"
            EXTRA_ALLOCS+=("$2"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done
[[ -n $ROUNDS ]] || { if [[ $QUICK == 1 ]]; then ROUNDS=2; else ROUNDS=5; fi; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: bad number '$ROUNDS'"
[[ -n $REAL_ROUNDS ]] || REAL_ROUNDS=$ROUNDS
[[ $REAL_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--real-rounds: bad number '$REAL_ROUNDS'"
(( REAL_ROUNDS <= ROUNDS )) || ROUNDS=$REAL_ROUNDS
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout: bad number '$TIMEOUT'"
[[ $NAME =~ ^[A-Za-z0-9._-]+$ ]] || die "--name: use letters, digits, '.', '_' and '-'"

# ------------------------------------------------------------ selection
in_list() { local x=$1; shift; [[ " $* " == *" $x "* ]]; }
WORKS=()
add_work() { in_list "$1" "${WORKS[@]+"${WORKS[@]}"}" || WORKS+=("$1"); }
if [[ -z $ONLY ]]; then
    for w in "${SYN_WORKS[@]}" "${REAL_WORKS[@]}"; do add_work "$w"; done
else
    IFS=, read -r -a sel <<<"$ONLY"
    for s in "${sel[@]}"; do
        case "$s" in
            all) for w in "${SYN_WORKS[@]}" "${REAL_WORKS[@]}"; do add_work "$w"; done ;;
            synthetic) for w in "${SYN_WORKS[@]}"; do add_work "$w"; done ;;
            real) for w in "${REAL_WORKS[@]}"; do add_work "$w"; done ;;
            mt) for w in "${MT_WORKS[@]}"; do add_work "$w"; done ;;
            *) [[ -n ${DESCR[$s]:-} ]] || die "unknown workload '$s' (see --list)"; add_work "$s" ;;
        esac
    done
fi
for e in "${EXTRA_ALLOCS[@]+"${EXTRA_ALLOCS[@]}"}"; do
    [[ -f ${e#*=} ]] || die "--extra: no such library ${e#*=}"
    ALL_ALLOCS+=("${e%%=*}")
done
if [[ -n $ALLOCS_OPT ]]; then IFS=, read -r -a ALLOCS <<<"$ALLOCS_OPT"; else ALLOCS=("${ALL_ALLOCS[@]}"); fi
for a in "${ALLOCS[@]}"; do in_list "$a" "${ALL_ALLOCS[@]}" || die "unknown allocator '$a' (one of: ${ALL_ALLOCS[*]})"; done
THREADS=()
if [[ -n $THREADS_OPT ]]; then
    IFS=, read -r -a THREADS <<<"$THREADS_OPT"
    for t in "${THREADS[@]}"; do [[ $t =~ ^[1-9][0-9]*$ ]] || die "--threads: bad count '$t'"; done
fi
# instances: "work:threads" ("-" for a single-thread workload)
INSTANCES=()
for w in "${WORKS[@]}"; do
    if in_list "$w" "${MT_WORKS[@]}"; then
        if [[ ${#THREADS[@]} -gt 0 ]]; then tl=("${THREADS[@]}")
        elif [[ $w == xmalloc ]]; then tl=(1 2)
        else tl=(2); fi
        for t in "${tl[@]}"; do INSTANCES+=("$w:$t"); done
    else
        INSTANCES+=("$w:-")
    fi
done
need_real=0
for w in "${WORKS[@]}"; do in_list "$w" "${REAL_WORKS[@]}" && need_real=1; done

# ------------------------------------------------------------ (a) install
multiarch=$(gcc -print-multiarch 2>/dev/null || true)
[[ -n $multiarch ]] || multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
find_lib() {
    local d
    for d in "/usr/lib/$multiarch" "/lib/$multiarch" /usr/lib /usr/local/lib; do
        if [[ -e $d/$1 ]]; then echo "$d/$1"; return 0; fi
    done
    return 1
}
PROGRAMS=(cmake cc c++ make gcc sqlite3 xz pigz zstd redis-server redis-cli redis-benchmark)
have_everything() {
    local p
    for p in "${PROGRAMS[@]}"; do command -v "$p" >/dev/null || return 1; done
    [[ -x /usr/bin/python3 ]] && compgen -G '/usr/include/python3*/Python.h' >/dev/null &&
        find_lib libmimalloc.so.2 >/dev/null && find_lib libjemalloc.so.2 >/dev/null &&
        find_lib libtcmalloc_minimal.so.4 >/dev/null
}
if [[ $INSTALL == 1 ]] || ! have_everything; then
    bench_install suite.sh
    have_everything || die "packages still missing after apt-get install"
fi
BUILD=build-bench
BIN=$root/$BUILD/bench
declare -A PRELOAD=(
    [glibc]=""
    [mimalloc]=$(find_lib libmimalloc.so.2)
    [jemalloc]=$(find_lib libjemalloc.so.2)
    [tcmalloc]=$(find_lib libtcmalloc_minimal.so.4)
    [objmem]=$root/$BUILD/libobjmem-malloc.so
)
for e in "${EXTRA_ALLOCS[@]+"${EXTRA_ALLOCS[@]}"}"; do PRELOAD[${e%%=*}]=${e#*=}; done
LIBC=$(find_lib libc.so.6) || die "no libc.so.6 found"

# ------------------------------------------------------------ (b) build
# the configure line of bench/run.sh, so the two share build-bench/
targets=(bench_suite)
in_list objmem "${ALLOCS[@]}" && targets+=(objmem_malloc)
cmake -S . -B "$BUILD" -DOBJMEM_BUILD_BENCH=ON -DOBJMEM_BUILD_TESTS=OFF \
    -DOBJMEM_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >/dev/null ||
    die "build failed: cmake --build $BUILD --target ${targets[*]}"
for t in runone w_probe w_bigbuf w_larson w_xmalloc w_mstress w_rptest w_randfree w_falseshare; do
    [[ -x $BIN/$t ]] || die "build did not produce $BIN/$t"
done
if in_list bigbuf-new "${WORKS[@]}" && "$BIN/w_bigbuf" --mode new --iters 1 --min-mib 1 --max-mib 1 \
        2>&1 | grep -q 'no C++ part'; then
    say "w_bigbuf was built without C++: dropping bigbuf-new"
    NEW=(); for i in "${INSTANCES[@]}"; do [[ $i == bigbuf-new:* ]] || NEW+=("$i"); done
    INSTANCES=("${NEW[@]}")
fi

# ------------------------------------------------------------ (c) preflight
# Each allocator must really serve malloc in a process started like the
# measured ones: w_probe names the library that defines the malloc it calls.
for a in "${ALLOCS[@]}"; do
    pre=${PRELOAD[$a]}
    [[ -z $pre || -f $pre ]] || die "$a: no $pre"
    out=$(env -u LD_PRELOAD ${pre:+LD_PRELOAD=$pre} "$BIN/w_probe") || die "$a: the probe failed"
    got=$(sed -n 's/^malloc=//p' <<<"$out")
    want=${pre:-$LIBC}
    [[ $(realpath "$got") == "$(realpath "$want")" ]] ||
        die "$a: malloc comes from $got, not $want"
done

# ------------------------------------------------------------ (d) inputs
q=(); [[ $QUICK == 1 ]] && q=(--quick)
if [[ $QUICK == 1 ]]; then SCALE=quick; else SCALE=full; fi
INPUTS=$root/$BUILD/suite-inputs/$SCALE
if [[ $need_real == 1 ]]; then
    say "generating the real programs' inputs in $INPUTS (once)"
    /usr/bin/python3 bench/suite/gen_inputs.py "$INPUTS" "${q[@]+"${q[@]}"}" ||
        die "gen_inputs.py failed"
fi
TMPD=$root/$BUILD/suite-tmp
rm -rf "$TMPD"
mkdir -p "$TMPD"

# ------------------------------------------------------------ (e) runs
if [[ $QUICK == 1 ]]; then PYSCALE=0.1; REDIS_N=4000; else PYSCALE=0.5; REDIS_N=40000; fi

# work_cmd WORK THREADS: sets CMD (the command), IN (its stdin), HASHF (the
# file whose contents must match across allocators: its stdout unless
# said otherwise), EXTRA_ENV (runone -s/-u words) and COUNT_KEY (the
# stdout key that holds the operation count, for throughput).
work_cmd() {
    local w=$1 t=$2
    IN=/dev/null; HASHF=$TMPD/out; EXTRA_ENV=(); COUNT_KEY=""
    case "$w" in
        bigbuf-calloc) CMD=("$BIN/w_bigbuf" --mode calloc) ;;
        bigbuf-new) CMD=("$BIN/w_bigbuf" --mode new) ;;
        bigbuf-memset) CMD=("$BIN/w_bigbuf" --mode memset) ;;
        bigbuf-realloc) CMD=("$BIN/w_bigbuf" --mode realloc) ;;
        larson) CMD=("$BIN/w_larson" --threads "$t"); COUNT_KEY=ops ;;
        xmalloc) CMD=("$BIN/w_xmalloc" --threads "$t"); COUNT_KEY=blocks ;;
        mstress) CMD=("$BIN/w_mstress" --threads "$t"); COUNT_KEY=ops ;;
        rptest) CMD=("$BIN/w_rptest" --threads "$t"); COUNT_KEY=blocks ;;
        randfree-random) CMD=("$BIN/w_randfree" --order random) ;;
        randfree-address) CMD=("$BIN/w_randfree" --order address) ;;
        randfree-alloc) CMD=("$BIN/w_randfree" --order alloc) ;;
        cache-thrash) CMD=("$BIN/w_falseshare" --mode thrash --threads "$t"); COUNT_KEY=iters ;;
        cache-scratch) CMD=("$BIN/w_falseshare" --mode scratch --threads "$t"); COUNT_KEY=iters ;;
        py-*)
            local s
            case "$w" in
                py-json) s=json_doc.py ;; py-objects) s=objects.py ;;
                py-containers) s=containers.py ;; py-text) s=text.py ;;
            esac
            # PYTHONMALLOC=malloc: every object allocation reaches malloc
            # (else pymalloc serves the small ones and hides the allocator)
            CMD=(/usr/bin/python3 "bench/python/$s" "$PYSCALE")
            EXTRA_ENV=(-s PYTHONMALLOC=malloc -s PYTHONHASHSEED=0 -u PYTHONMALLOCSTATS)
            return 0 ;;
        sqlite) CMD=(sqlite3 -batch); IN=$INPUTS/work.sql; return 0 ;;
        gcc) CMD=(gcc -O2 -c -o "$TMPD/big.o" "$INPUTS/big.c"); HASHF=$TMPD/big.o; return 0 ;;
        xz) CMD=(xz -9 -T1 -c "$INPUTS/text.txt"); return 0 ;;
        pigz) CMD=(pigz -p 2 -n -c "$INPUTS/bulk.txt"); return 0 ;;
        zstd) CMD=(zstd -T2 -9 -q -c "$INPUTS/bulk.txt"); return 0 ;;
        *) die "no command for $w" ;;
    esac
    [[ $QUICK == 1 ]] && CMD+=(--quick)
    return 0
}

# The preload for allocator A and program P.  A program linked with an
# allocator of its own (Debian's redis-server links libjemalloc) would
# keep it under "glibc"; there glibc's libc.so.6 is preloaded, which puts
# its malloc first in the lookup order.
declare -A LINKS_MALLOC=()
preload_for() {
    local a=$1 prog=$2
    if [[ $a == glibc ]]; then
        if [[ -z ${LINKS_MALLOC[$prog]:-} ]]; then
            if ldd "$(command -v "$prog")" 2>/dev/null | grep -qE 'lib(jemalloc|tcmalloc|mimalloc)'; then
                LINKS_MALLOC[$prog]=1
            else
                LINKS_MALLOC[$prog]=0
            fi
        fi
        [[ ${LINKS_MALLOC[$prog]} == 1 ]] && echo "$LIBC"
        return 0
    fi
    echo "${PRELOAD[$a]}"
}

hash_of() { if [[ -f $1 ]]; then sha256sum "$1" | cut -c1-16; else echo none; fi; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -n 1; }

# run_redis ALLOC: one redis run; prints the runone-style line (wall = the
# client's, CPU and max RSS = the server's) plus hash.
run_redis() {
    local a=$1 pre port tries=0 spid="" rp i line cline rc crc
    pre=$(preload_for "$a" redis-server)
    local d=$TMPD/redis
    rm -rf "$d"; mkdir -p "$d"
    while :; do
        tries=$((tries + 1))
        port=$((20000 + RANDOM % 30000))
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi  # taken
        "$BIN/runone" -u LD_PRELOAD ${pre:+-s LD_PRELOAD=$pre} -o "$d/server.log" -p "$d/pid" \
            -t "$TIMEOUT" -- redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --dir "$d" --enable-debug-command local --daemonize no \
            >"$d/server.res" &
        rp=$!
        for (( i = 0; i < 200; i++ )); do
            [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]] && break
            kill -0 "$rp" 2>/dev/null || break
            sleep 0.05
        done
        if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then break; fi
        kill -- "$rp" 2>/dev/null || true
        wait "$rp" 2>/dev/null || true
        (( tries < 3 )) || { echo "wall_s=0 cpu_s=0 user_s=0 sys_s=0 maxrss_kb=0 rc=97 hash=none"; return 0; }
    done
    spid=$(cat "$d/pid" 2>/dev/null || true)
    if [[ -n $pre && -n $spid ]] && ! grep -qF "$pre" "/proc/$spid/maps" 2>/dev/null; then
        say "redis/$a: $pre is not mapped in the server"
    fi
    cline=$("$BIN/runone" -u LD_PRELOAD -o "$d/client.out" -e "$d/client.err" -t "$TIMEOUT" -- \
        "$here/suite/redis_client.sh" "$port" "$INPUTS/redis.resp" "$REDIS_N" "$d/bench.csv")
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$rp" || true
    line=$(cat "$d/server.res")
    crc=$(field rc "$cline")
    rc=$(field rc "$line")
    [[ $crc == 0 ]] || { rc=$crc; cat "$d/client.err" >&2; }
    printf 'wall_s=%s cpu_s=%s user_s=%s sys_s=%s maxrss_kb=%s rc=%s hash=%s\n' \
        "$(field wall_s "$cline")" "$(field cpu_s "$line")" "$(field user_s "$line")" \
        "$(field sys_s "$line")" "$(field maxrss_kb "$line")" "$rc" "$(hash_of "$d/client.out")"
}

# run_one ALLOC WORK THREADS: prints "<runone line> hash=H [count=N]".
run_one() {
    local a=$1 w=$2 t=$3 pre line
    if [[ $w == redis ]]; then run_redis "$a"; return 0; fi
    work_cmd "$w" "$t"
    pre=$(preload_for "$a" "${CMD[0]}")
    rm -f "$TMPD/out" "$TMPD/big.o"
    line=$("$BIN/runone" -u LD_PRELOAD ${pre:+-s LD_PRELOAD=$pre} "${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"}" \
        -i "$IN" -o "$TMPD/out" -e "$TMPD/err" -t "$TIMEOUT" -- "${CMD[@]}")
    line+=" hash=$(hash_of "$HASHF")"
    if [[ -n $COUNT_KEY ]]; then line+=" count=$(field "$COUNT_KEY" "$(head -n 1 "$TMPD/out" 2>/dev/null)")"; fi
    echo "$line"
}

RESULTS=bench/results
mkdir -p "$RESULTS"
RAW=$RESULTS/$NAME-raw.txt
: >"$RAW"
n=${#ALLOCS[@]}
total=0
for (( round = 1; round <= ROUNDS; round++ )); do
    for inst in "${INSTANCES[@]}"; do
        w=${inst%%:*}
        if in_list "$w" "${REAL_WORKS[@]}" && (( round > REAL_ROUNDS )); then continue; fi
        total=$((total + n))
    done
done
say "$total runs: rounds=$ROUNDS (real programs: $REAL_ROUNDS) allocators=${ALLOCS[*]}"
say "workloads: ${INSTANCES[*]}"
count=0
start=$SECONDS
failed=0
for (( round = 1; round <= ROUNDS; round++ )); do
    for wi in "${!INSTANCES[@]}"; do
        inst=${INSTANCES[$wi]}
        w=${inst%%:*}
        t=${inst##*:}
        if in_list "$w" "${REAL_WORKS[@]}" && (( round > REAL_ROUNDS )); then continue; fi
        for (( k = 0; k < n; k++ )); do
            a=${ALLOCS[$(( (k + round + wi) % n ))]}   # rotated order
            count=$((count + 1))
            : >"$TMPD/err"
            line=$(run_one "$a" "$w" "$t")
            echo "round=$round work=$w threads=$t alloc=$a $line" >>"$RAW"
            rc=$(field rc "$line")
            rc=${rc:-99}
            printf '[%4d/%d %5ds] round %d %-16s %-3s %-9s wall %7ss cpu %7ss rss %8s KiB%s\n' \
                "$count" "$total" $((SECONDS - start)) "$round" "$w" "$t" "$a" \
                "$(field wall_s "$line")" "$(field cpu_s "$line")" "$(field maxrss_kb "$line")" \
                "$([[ $rc == 0 ]] || echo "  FAILED rc=$rc")" >&2
            if [[ $rc != 0 ]]; then
                failed=$((failed + 1))
                tail -n 5 "$TMPD/err" >&2 || true
            fi
        done
    done
done

# ------------------------------------------------------------ (f) report
say "$count runs in $((SECONDS - start)) s"
meta="rounds=$ROUNDS real_rounds=$REAL_ROUNDS quick=$QUICK nproc=$(nproc) kernel=$(uname -r)"
libs=""
for a in "${ALLOCS[@]}"; do
    p=${PRELOAD[$a]}
    libs+="$a=${p:-none(libc)};"
done
rc=0
/usr/bin/python3 "$here/suite/report.py" "$RAW" --allocs "$(IFS=,; echo "${ALLOCS[*]}")" \
    --instances "$(IFS=,; echo "${INSTANCES[*]}")" --real "$(IFS=,; echo "${REAL_WORKS[*]}")" --meta "$meta" --libs "$libs" \
    --md "$RESULTS/$NAME.md" --csv "$RESULTS/$NAME.csv" || rc=$?
echo
bench_plot suite.sh suite "$RESULTS/$NAME.csv"
echo "results: $RESULTS/$NAME.md, $RESULTS/$NAME.csv, $RAW, $RESULTS/$NAME-*.svg"
exit $rc
