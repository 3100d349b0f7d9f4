#!/bin/sh
# check_layers.sh — the layering rules of src/, checked.
#
#   check_layers.sh SRC_DIR [ARCHIVE.a [SHARED.so]]
#   check_layers.sh --self-test SRC_DIR
#
# 1. Includes run down the layers.  Every file under src/<layer>/ may
#    include its own layer's headers and those of the layers below:
#        os < alloc < trace < debug < object < gc < diag
#        override: os, alloc, trace and debug only (the drop-in wraps the
#        allocator, debug mode and tracing included, and nothing above it)
#    An include of a higher layer, of a layer beside it, or of a project
#    header not named "layer/file" is an error, reported as FILE:LINE.
# 2. Names: every global symbol an archive defines is objmem's (om_ for the
#    public API, each declared in include/objmem.h; omi_ for the internal,
#    hidden ones), so a program's own symbols never collide with them.
# 3. The shared library exports the public API only (no omi_ name).
# Exit 0 when every rule holds, 1 otherwise.  --self-test builds a tree with
# one violation of rule 1 and checks that it is caught.
set -eu

rank() {
    case "$1" in
    os) echo 0 ;; alloc) echo 1 ;; trace) echo 2 ;; debug) echo 3 ;; object) echo 4 ;; gc) echo 5 ;; diag) echo 6 ;;
    override) echo 6 ;; *) echo "" ;;
    esac
}

# Rule 1 over SRC_DIR; prints violations, returns 1 if any.
check_includes() {
    src=$1 bad=0
    for f in $(cd "$src" && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
        layer=${f%%/*}
        own=$(rank "$layer")
        if [ -z "$own" ] || [ "$layer" = "$f" ]; then
            echo "$f: not in a layer's folder (os, alloc, trace, debug, object, gc, diag, override)"
            bad=1
            continue
        fi
        # "file:line:name" for every quoted include.
        out=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$src/$f" |
              sed 's/^\([0-9]*\):.*"\(.*\)".*/\1 \2/' || true)
        [ -n "$out" ] || continue
        echo "$out" | while read -r line inc; do
            [ "$inc" = "objmem.h" ] && continue
            dep=${inc%%/*}
            r=$(rank "$dep")
            if [ "$dep" = "$inc" ] || [ -z "$r" ]; then
                echo "$f:$line: includes \"$inc\": name a project header as \"layer/file\""
                echo x
            elif [ "$dep" != "$layer" ]; then
                if [ "$layer" = override ] && [ "$dep" != os ] && [ "$dep" != alloc ] && [ "$dep" != trace ] && [ "$dep" != debug ]; then
                    echo "$f:$line: includes \"$inc\": override builds on os, alloc, trace and debug only"
                    echo x
                elif [ "$r" -ge "$own" ]; then
                    echo "$f:$line: includes \"$inc\": layer $layer may not include $dep (above or beside it)"
                    echo x
                fi
            fi
        done
    done | { found=0; while read -r l; do if [ "$l" = x ]; then found=1; else echo "$l"; fi; done; exit $found; } || bad=1
    return $bad
}

check_archive() {
    ar=$1 header=$2 bad=0
    syms=$(nm -g --defined-only "$ar" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u)
    for s in $syms; do
        case "$s" in
        omi_*) ;;
        om_*)
            if ! grep -q "\\b$s\\b" "$header"; then
                echo "$ar: defines $s, an om_ name that include/objmem.h does not declare"
                bad=1
            fi ;;
        *)
            echo "$ar: defines $s, outside objmem's prefixes (om_ public, omi_ internal)"
            bad=1 ;;
        esac
    done
    return $bad
}

check_shared() {
    so=$1 bad=0
    for s in $(nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }'); do
        case "$s" in
        om_*) ;;
        *) echo "$so: exports $s, not a public om_ name"; bad=1 ;;
        esac
    done
    return $bad
}

if [ "${1:-}" = --self-test ]; then
    src=$2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp -r "$src" "$tmp/src"
    # A lower layer reaching up: the allocator including the collector.
    f=$(ls "$tmp/src/alloc/"*.c | head -n 1)
    printf '#include "gc/gc.h"\n' >>"$f"
    if out=$(check_includes "$tmp/src"); then
        echo "self-test: an alloc file including gc/gc.h was not caught"
        exit 1
    fi
    echo "$out" | grep -q "layer alloc may not include gc" || { echo "self-test: wrong message: $out"; exit 1; }
    echo "self-test: caught: $out"
    exit 0
fi

src=${1:?usage: check_layers.sh SRC_DIR [ARCHIVE.a [SHARED.so]]}
status=0
check_includes "$src" || status=1
header=$(dirname "$src")/include/objmem.h
[ $# -ge 2 ] && { check_archive "$2" "$header" || status=1; }
[ $# -ge 3 ] && { check_shared "$3" || status=1; }
[ $status -eq 0 ] && echo "layers: every include runs down the layers; every symbol is objmem's"
exit $status
