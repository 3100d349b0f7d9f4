#!/bin/sh
# misuse.sh — the heap-misuse programs (misuse.c, misuse_cxx.cpp) under each
# mode of the drop-in malloc, against the expectation table.
#
#   misuse.sh check MODE LIB EXPECTED PROGRAM...
#       run every case of every PROGRAM (PROGRAM --list) under MODE and
#       compare with EXPECTED's line for (case, size, MODE; hardened
#       mode's are secure's: the same checks); exit 0 when all agree, 1
#       otherwise (one line per difference), 77 when MODE is secure and LIB
#       does not know OBJMEM_SECURE
#   misuse.sh observe MODE LIB PROGRAM...
#       print "case size MODE outcome detail" for every case, as observed
#       (the starting point of a new EXPECTED column)
#   misuse.sh summary LIB PROGRAM...
#       detection counts per mode: objmem's modes (hardened when
#       libobjmem-malloc-secure.so is beside LIB), glibc (no preload), and
#       mimalloc, jemalloc, tcmalloc when their Debian libraries are
#       installed (libmimalloc2.0, libjemalloc2, libtcmalloc-minimal4)
#
# MODE: default | checked (OBJMEM_CHECKED=1) | debug (OBJMEM_DEBUG=1) |
# secure (OBJMEM_SECURE=1), each with LIB preloaded; hardened: LIB is the
# hardened build, libobjmem-malloc-secure.so; glibc | mimalloc |
# jemalloc | tcmalloc for the comparison.  Each case runs in a clean
# environment (env -i), with a 60 s limit and no core file.
#
# Outcome of a run, read from its exit status and stderr after the
# "misuse-start" marker:
#   detected       objmem's report ("objmem: OP: KIND ..."; detail: KIND),
#                  else an abort (detail: abort), else, for the other
#                  allocators, any message on stderr (detail: message)
#   crash          SIGSEGV or SIGBUS (detail: the signal)
#   not-detected   the program ran to its end marker and exited 0
#   hang           killed at the time limit
#   before-misuse  no start marker: the program failed before its misuse
#   setup-failed   exit 3: the case could not be set up (misuse.c)
#   error          anything else (detail: the exit status)
#
# EXPECTED: one line per case, size ("-": none) and mode, then the outcome
# and the rest of the line:
#   detected [KIND]          KIND, when given, must be the one reported
#   crash-ok REASON          a crash (SIGSEGV, SIGBUS) is what happens, and why
#   maybe-crash REASON       a crash or not-detected: what lies past the block
#                            depends on the address-space layout (ASLR)
#   crash-or-detected REASON a crash, or the report of a check that sees the
#                            write when what lies past the block is mapped
#   maybe-detected REASON    a report or nothing, by the layout (hardened
#                            mode's shuffled blocks)
#   any-layout REASON        a report, a crash or nothing, by the layout; the
#                            run must still reach one of them (no hang,
#                            no other error)
#   not-detected REASON      why this mode cannot see it
# Blank lines and lines starting with # are ignored.
set -u

TIME_LIMIT=60

die() {
    echo "misuse.sh: $*" >&2
    exit 2
}

# The library LD_PRELOAD gets for a mode ("" for glibc), or "missing".
peer_lib() {
    for f in /usr/lib/*/"$1" /usr/lib64/"$1" /usr/lib/"$1" /usr/local/lib/"$1"; do
        if [ -f "$f" ]; then
            echo "$f"
            return
        fi
    done
    echo missing
}

mode_lib() {
    case $1 in
    default | checked | debug | secure) echo "$LIB" ;;
    hardened) echo "${HARDENED_LIB:-$LIB}" ;;
    glibc) echo "" ;;
    mimalloc) peer_lib libmimalloc.so.2 ;;
    jemalloc) peer_lib libjemalloc.so.2 ;;
    tcmalloc) peer_lib libtcmalloc_minimal.so.4 ;;
    *) die "unknown mode '$1'" ;;
    esac
}

mode_env() {
    case $1 in
    checked) echo OBJMEM_CHECKED=1 ;;
    debug) echo OBJMEM_DEBUG=1 ;;
    secure) echo OBJMEM_SECURE=1 ;;
    *) echo "" ;;
    esac
}

is_objmem_mode() {
    case $1 in default | checked | debug | secure | hardened) return 0 ;; esac
    return 1
}

# secure_known LIB: the drop-in takes OBJMEM_SECURE (no "not an objmem
# option" warning for it).
secure_known() {
    w=$(env -i LD_PRELOAD="$1" OBJMEM_SECURE=1 /bin/true 2>&1)
    case $w in *"OBJMEM_SECURE"*"not an objmem option"*) return 1 ;; esac
    return 0
}

# run_case MODE PROGRAM CASE SIZE: sets outcome and detail.
run_case() {
    lib=$(mode_lib "$1")
    envs=$(mode_env "$1")
    err=$WORK/err
    # shellcheck disable=SC2086 # envs is one word or none
    timeout -s KILL $TIME_LIMIT env -i LD_PRELOAD="$lib" LIBC_FATAL_STDERR_=1 $envs "$2" "$3" "$4" \
        >/dev/null 2>"$err"
    rc=$?
    after=$(sed -n '/^misuse-start$/,$p' "$err" | sed '1d; /^misuse-end$/d')
    detail=""
    if ! grep -q '^misuse-start$' "$err"; then
        if [ $rc -eq 3 ]; then
            outcome=setup-failed
            detail=$(head -1 "$err")
        else
            outcome=before-misuse
            detail="status $rc: $(head -1 "$err")"
        fi
        return
    fi
    kind=$(printf '%s\n' "$after" | grep -v '^objmem: warning:' |
        sed -n 's/^objmem: [^:]*: \([a-z ]*[a-z]\).*/\1/p' | head -1)
    if is_objmem_mode "$1" && [ -n "$kind" ]; then
        outcome=detected
        detail=$kind
    elif [ $rc -eq 134 ]; then
        outcome=detected
        detail=abort
    elif [ $rc -eq 139 ] || [ $rc -eq 135 ]; then
        outcome=crash
        detail=SIGSEGV
        [ $rc -eq 135 ] && detail=SIGBUS
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        outcome=hang
    elif [ $rc -eq 0 ] && grep -q '^misuse-end$' "$err"; then
        outcome=not-detected
        if ! is_objmem_mode "$1" && [ -n "$after" ]; then
            outcome=detected
            detail=message
        fi
    else
        outcome=error
        detail="status $rc"
    fi
}

# for_each_case PROGRAM... : "program case size" lines.
for_each_case() {
    for prog in "$@"; do
        [ -x "$prog" ] || die "$prog is not a program"
        "$prog" --list | while read -r c s; do
            echo "$prog $c $s"
        done
    done
}

# table_mode MODE: the mode whose lines of the table MODE follows.
table_mode() {
    if [ "$1" = hardened ]; then echo secure; else echo "$1"; fi
}

# expected_line CASE SIZE MODE: the table's "outcome detail", or "".
expected_line() {
    awk -v c="$1" -v s="$2" -v m="$3" '
        /^[ \t]*(#|$)/ { next }
        $1 == c && $2 == s && $3 == m { $1 = $2 = $3 = ""; sub(/^ +/, ""); print; exit }' "$EXPECTED"
}

cmd_check() {
    mode=$1
    shift
    if [ "$mode" = secure ] && ! secure_known "$LIB"; then
        echo "SKIPPED: OBJMEM_SECURE not in this build"
        exit 77
    fi
    probe=$(env -i LD_PRELOAD="$LIB" OBJMEM_VERBOSE=1 /bin/true 2>&1)
    case $probe in *OBJMEM_CHECKED*) ;; *) die "$LIB does not load (OBJMEM_VERBOSE=1 printed nothing)" ;; esac
    total=0 bad=0 found=0
    cases=$(for_each_case "$@") || exit 2
    while read -r prog c s; do
        total=$((total + 1))
        want=$(expected_line "$c" "$s" "$(table_mode "$mode")")
        run_case "$mode" "$prog" "$c" "$s" 2>/dev/null
        # Hardened mode's pad bytes hold one byte of a per-process random
        # key: a one-byte write that equals it (1 run in 256) passes
        # unseen.  A detection the table expects gets two more runs, each
        # with a new key, before it counts as missed.
        tries=1
        while { [ "$mode" = secure ] || [ "$mode" = hardened ]; } && [ "${want%% *}" = detected ] && [ "$outcome" = not-detected ] &&
            [ $tries -lt 3 ]; do
            tries=$((tries + 1))
            run_case "$mode" "$prog" "$c" "$s" 2>/dev/null
        done
        [ $tries -gt 1 ] && echo "note  $c $s $mode: not seen in a run whose key byte matched the write; seen in run $tries"
        [ "$outcome" = detected ] && found=$((found + 1))
        w_outcome=${want%% *}
        w_detail=""
        [ "$w_outcome" != "$want" ] && w_detail=${want#* }
        ok=0
        case $w_outcome in
        detected) [ "$outcome" = detected ] && { [ -z "$w_detail" ] || [ "$w_detail" = "$detail" ]; } && ok=1 ;;
        crash-ok) [ "$outcome" = crash ] && ok=1 ;;
        maybe-crash) { [ "$outcome" = crash ] || [ "$outcome" = not-detected ]; } && ok=1 ;;
        crash-or-detected) { [ "$outcome" = crash ] || [ "$outcome" = detected ]; } && ok=1 ;;
        maybe-detected) { [ "$outcome" = detected ] || [ "$outcome" = not-detected ]; } && ok=1 ;;
        any-layout) case $outcome in detected | crash | not-detected) ok=1 ;; esac ;;
        not-detected) [ "$outcome" = not-detected ] && ok=1 ;;
        "") want="(no line in $(basename "$EXPECTED"))" ;;
        *) want="$want (unknown outcome '$w_outcome')" ;;
        esac
        case $w_outcome in
        crash-ok | maybe-crash | crash-or-detected | maybe-detected | any-layout | not-detected)
            if [ -z "$w_detail" ]; then
                ok=0
                want="$want (a reason is required)"
            fi
            ;;
        esac
        if [ $ok -eq 1 ]; then
            echo "ok    $c $s $mode: $outcome${detail:+ ($detail)}"
        else
            bad=$((bad + 1))
            echo "FAIL  $c $s $mode: expected $want, got $outcome${detail:+ ($detail)}"
            sed 's/^/      | /' "$WORK/err" | head -8
        fi
    done <<EOF
$cases
EOF
    listed=$(awk -v m="$(table_mode "$mode")" '!/^[ \t]*(#|$)/ && $3 == m' "$EXPECTED" | wc -l)
    if [ "$listed" -gt $total ]; then
        echo "note: $((listed - total)) lines of the table for $mode name cases these programs do not have"
    fi
    echo "$mode: $found of $total detected; $((total - bad)) as expected, $bad not"
    [ $bad -eq 0 ]
}

cmd_observe() {
    mode=$1
    shift
    for_each_case "$@" | while read -r prog c s; do
        run_case "$mode" "$prog" "$c" "$s" 2>/dev/null
        echo "$c $s $mode $outcome${detail:+ $detail}"
    done
}

cmd_summary() {
    modes="default checked debug"
    secure_known "$LIB" && modes="$modes secure"
    HARDENED_LIB=$(dirname "$LIB")/libobjmem-malloc-secure.so
    [ -f "$HARDENED_LIB" ] && modes="$modes hardened"
    modes="$modes glibc"
    for m in mimalloc jemalloc tcmalloc; do
        if [ "$(mode_lib $m)" = missing ]; then
            echo "($m: not installed, left out)"
        else
            modes="$modes $m"
        fi
    done
    printf '%-10s %9s %6s %16s %13s %6s\n' mode detected crash detected+crash not-detected other
    for mode in $modes; do
        d=0 c=0 n=0 o=0 t=0
        cases=$(for_each_case "$@") || exit 2
        while read -r prog cs s; do
            run_case "$mode" "$prog" "$cs" "$s" 2>/dev/null
            t=$((t + 1))
            case $outcome in
            detected) d=$((d + 1)) ;;
            crash) c=$((c + 1)) ;;
            not-detected) n=$((n + 1)) ;;
            *) o=$((o + 1)) ;;
            esac
        done <<EOF
$cases
EOF
        printf '%-10s %5d/%-3d %6d %12d/%-3d %13d %6d\n' "$mode" $d $t $c $((d + c)) $t $n $o
    done
}

[ $# -ge 1 ] || die "usage: misuse.sh check|observe|summary ..."
command=$1
shift
# No core files from the aborts and crashes (dash and bash have ulimit -c).
# shellcheck disable=SC3045
ulimit -c 0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/misuse.XXXXXX") || die "no temporary directory"
trap 'rm -rf "$WORK"' EXIT
case $command in
check)
    [ $# -ge 4 ] || die "usage: misuse.sh check MODE LIB EXPECTED PROGRAM..."
    MODE=$1 LIB=$2 EXPECTED=$3
    shift 3
    [ -f "$EXPECTED" ] || die "no table $EXPECTED"
    cmd_check "$MODE" "$@"
    ;;
observe)
    [ $# -ge 3 ] || die "usage: misuse.sh observe MODE LIB PROGRAM..."
    MODE=$1 LIB=$2
    shift 2
    cmd_observe "$MODE" "$@"
    ;;
summary)
    [ $# -ge 2 ] || die "usage: misuse.sh summary LIB PROGRAM..."
    LIB=$1
    shift
    cmd_summary "$@"
    ;;
*) die "unknown command '$command'" ;;
esac
