# bench/lib.sh — shell helpers the bench scripts share (sourced, not run).

# apt_install TAG PKG...: install Debian packages with apt-get (through
# sudo unless root), saying so on stderr as TAG.
apt_install() {
    local tag=$1 sudo=""
    shift
    echo "$tag: installing packages with apt-get" >&2
    [[ $(id -u) == 0 ]] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update
    $sudo apt-get install -y "$@"
}
