# bench/lib.sh — shell helpers the bench scripts share (sourced, not run).

# BENCH_PACKAGES: the one list of the Debian packages the benchmarks need.
# Build tools and CPython's development files (bench_alloc, bench_objects,
# bench_gc), the peer allocators (their -dev packages for bench_alloc's
# link checks), Boehm GC (bench_gc), and the real programs that
# bench/suite.sh runs under each allocator.  apt_install refuses a package
# that is not here, so a script cannot grow a list of its own.
BENCH_PACKAGES=(
    build-essential cmake pkg-config python3 libpython3.11-dev
    libmimalloc2.0 libmimalloc-dev libjemalloc2 libjemalloc-dev libtcmalloc-minimal4
    libgc-dev
    sqlite3 xz-utils pigz zstd redis-server redis-tools
)

# apt_install TAG PKG...: install Debian packages with apt-get (through
# sudo unless root), saying so on stderr as TAG.  Every PKG must be in
# BENCH_PACKAGES.
apt_install() {
    local tag=$1 sudo="" p
    shift
    for p in "$@"; do
        if [[ " ${BENCH_PACKAGES[*]} " != *" $p "* ]]; then
            echo "$tag: package $p is not in BENCH_PACKAGES (bench/lib.sh): add it there" >&2
            return 1
        fi
    done
    echo "$tag: installing packages with apt-get" >&2
    [[ $(id -u) == 0 ]] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update
    $sudo apt-get install -y "$@"
}
