#!/usr/bin/env bash
# check_abi.sh — compare the ABI of a fresh build of libobjmem.so and
# libobjmem-malloc.so with the ABI recorded for the current release in
# abi/ (objmem.h, section 1, says what the ABI promises).
#
#   tools/check_abi.sh            build, compare, fail with abidiff's report
#   tools/check_abi.sh --update   build, and record the ABI as it is now
#
# The build is its own (build-abi/, RelWithDebInfo with gcc: abidw reads
# the DWARF of -g, with source paths relative to the checkout), library
# only.  What is compared is what objmem.h declares: exported functions,
# variables and the types they reach (--headers-dir drops the library's
# private types, --exported-interfaces-only its hidden functions), without
# source locations or paths (--no-show-locs, --no-comp-dir-path,
# --no-corpus-path), so moving code
# between files, renaming internal types or building in another directory
# changes nothing.  A function or variable added since the record is
# reported and passes (programs built against the release still run).
# Any other difference fails: a function removed or its parameters
# changed, a struct's layout changed, a field added to a struct, the
# SONAME.
#
# When the change is intended: an addition that keeps every old program
# working (a new function, a field at the end of a struct whose size
# travels with it, as section 1 allows) needs only the record updated; an
# incompatible change also needs the SONAME bumped (SOVERSION in the top
# CMakeLists.txt) and a line in CHANGELOG.md.  Then run --update and commit
# abi/ with the change, so the record always matches the release being
# built.
#
# abidiff sees an alias as the function it names, so a removed alias (one
# exported name of two for one function) passes it: the list of exported
# names is kept beside each record (abi/<lib>.symbols, from nm) and a name
# missing from a build fails too.
#
# Needs abidw and abidiff (Debian: abigail-tools; .ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
case "${1:-}" in
    --update) update=1 ;;
    "") ;;
    *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

for tool in abidw abidiff; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check_abi: $tool not found (apt-get install abigail-tools)" >&2
        exit 2
    fi
done

build=${OBJMEM_ABI_BUILD_DIR:-build-abi}
cmake -S . -B "$build" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_FLAGS="-ffile-prefix-map=$PWD/=" \
      -DOBJMEM_BUILD_TESTS=OFF -DOBJMEM_BUILD_TOOLS=OFF -DOBJMEM_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target objmem objmem_malloc >/dev/null

# The names a library exports (defined dynamic symbols), sorted.
exported_names() { nm -D --defined-only "$1" | awk '{print $NF}' | LC_ALL=C sort -u; }

dump_opts=(--headers-dir include --drop-private-types --exported-interfaces-only --no-show-locs
           --no-comp-dir-path --no-corpus-path --type-id-style hash)
status=0
for lib in libobjmem libobjmem-malloc; do
    so=$(readlink -f "$build/$lib.so")
    record=abi/$lib.abi
    symbols=abi/$lib.symbols
    if [ "$update" = 1 ]; then
        mkdir -p abi
        abidw "${dump_opts[@]}" --out-file "$record" "$so"
        exported_names "$so" >"$symbols"
        echo "check_abi: recorded $record and $symbols from $(basename "$so")"
        continue
    fi
    if [ -f "$symbols" ]; then
        missing=$(exported_names "$so" | comm -13 - "$symbols")
        if [ -n "$missing" ]; then
            echo "check_abi: $lib.so no longer exports what $symbols lists:"
            echo "$missing" | sed 's/^/  /'
            status=1
        fi
    else
        echo "check_abi: $symbols is missing: run $0 --update" >&2
        status=1
    fi
    if [ ! -f "$record" ]; then
        echo "check_abi: $record is missing: run $0 --update" >&2
        status=1
        continue
    fi
    # Compare the record with a dump made the same way, so that both sides
    # went through the same filters.
    now=$(mktemp)
    abidw "${dump_opts[@]}" --out-file "$now" "$so"
    rc=0 added=0
    report=$(abidiff --no-show-locs --no-added-syms "$record" "$now") || rc=$?
    additions=$(abidiff --no-show-locs "$record" "$now") || added=$?
    rm -f "$now"
    if [ "$rc" -ne 0 ]; then
        echo "check_abi: $lib.so differs from $record (abidiff status $rc):"
        echo "$report"
        status=1
    elif [ "$added" -ne 0 ]; then
        echo "check_abi: $lib.so has the ABI of $record, and adds to it (compatible; --update records it):"
        echo "$additions"
    else
        echo "check_abi: $lib.so matches $record"
    fi
done
if [ "$status" -ne 0 ]; then
    cat >&2 <<'EOF'
check_abi: the ABI changed.  If that is intended, read the top of
tools/check_abi.sh (an incompatible change needs a new SONAME), then run
tools/check_abi.sh --update and commit abi/.
EOF
fi
exit "$status"
