#!/bin/sh
# check_header.sh — build tests/header/use_header.c with one compiler and
# set of flags, link it against objmem and run it (label build; see
# tests/CMakeLists.txt for the combinations).
#
#   check_header.sh OUT_DIR NAME LIBRARY COMPILER [FLAGS...]
#
# Exits 77 (skipped) when the compiler is not installed.  LIBRARY "-" only
# compiles (for a compiler that cannot link gcc's objects).
set -eu
out=$1 name=$2 lib=$3 cc=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "check_header: $cc is not installed: skipped"
    exit 77
fi
mkdir -p "$out"
set -x
if [ "$lib" = - ]; then
    "$cc" "$@" -I"$here/../../include" -c "$here/use_header.c" -o "$out/$name.o"
else
    # shellcheck disable=SC2086 # OM_LINK_LIBS: the archive's own libraries, word-split
    "$cc" "$@" -I"$here/../../include" "$here/use_header.c" -x none "$lib" ${OM_LINK_LIBS:-} -lpthread -o "$out/$name"
    "$out/$name"
fi
