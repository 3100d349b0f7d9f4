#!/usr/bin/env bash
# run.sh — the big-block workloads (bigbuf.c, regrow.c, CPython string and
# bytearray growth) under each malloc, via LD_PRELOAD, with /usr/bin/time:
# wall time, max RSS, minor page faults.  Medians of ROUNDS runs.
#
#   bench/large/run.sh [--rounds N] [--lib objmem=PATH]... [--only W[,W]]
#
# Allocators: glibc (no preload), objmem (build/libobjmem-malloc.so, or
# each --lib NAME=PATH given), tcmalloc, jemalloc, mimalloc when installed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ROUNDS=3
ONLY=""
declare -a LIBS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --lib) LIBS+=("$2"); shift ;;
        --only) ONLY=$2; shift ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ ${#LIBS[@]} -gt 0 ]] || LIBS=("objmem=$root/build/libobjmem-malloc.so")
ma=/usr/lib/x86_64-linux-gnu
LIBS=("glibc=" "${LIBS[@]}")
for p in tcmalloc=$ma/libtcmalloc_minimal.so.4 jemalloc=$ma/libjemalloc.so.2 mimalloc=$ma/libmimalloc.so.2; do
    [[ -e ${p#*=} ]] && LIBS+=("$p")
done
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cc -O2 -o "$bin/bigbuf" "$here/bigbuf.c"
cc -O2 -o "$bin/regrow" "$here/regrow.c"
PY=${PY:-/usr/bin/python3}
declare -A WORK=(
    [bigbuf]="$bin/bigbuf 2000 page"
    [bigbuf_full]="$bin/bigbuf 500 full"
    [regrow_1m]="$bin/regrow 1024 1024 1"
    [regrow_x1.125]="$bin/regrow 1024 x1.125 4"
    [pystr]="env PYTHONMALLOC=malloc $PY $here/pygrow.py str"
    [pybytearray]="env PYTHONMALLOC=malloc $PY $here/pygrow.py bytearray"
    [pyjoin]="env PYTHONMALLOC=malloc $PY $here/pygrow.py join"
)
ORDER=(bigbuf bigbuf_full regrow_1m regrow_x1.125 pystr pybytearray pyjoin)
[[ -n $ONLY ]] && IFS=, read -r -a ORDER <<<"$ONLY"
printf '%-14s %-10s %9s %9s %11s\n' workload alloc wall_s maxrss_mb minflt
for w in "${ORDER[@]}"; do
    for entry in "${LIBS[@]}"; do
        name=${entry%%=*}
        lib=${entry#*=}
        walls=() rss=() flt=()
        for ((r = 0; r < ROUNDS; r++)); do
            out=$(LD_PRELOAD=$lib /usr/bin/time -f 'TIME %e %M %R' bash -c "${WORK[$w]} >/dev/null" 2>&1 | grep '^TIME')
            read -r _ e m f <<<"$out"
            walls+=("$e") rss+=("$m") flt+=("$f")
        done
        med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
        printf '%-14s %-10s %9s %9.1f %11s\n' "$w" "$name" "$(med "${walls[@]}")" \
            "$(echo "$(med "${rss[@]}") / 1024" | bc -l)" "$(med "${flt[@]}")"
    done
done
