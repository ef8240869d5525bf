#!/usr/bin/env bash
# Install the Debian packages criu-lite builds and tests with, only those missing.
set -eu
pkgs="make gcc pkg-config protobuf-c-compiler libprotobuf-c-dev
libcap-dev libelf-dev libdw-dev libarchive-dev libnftables-dev libxxhash-dev libcriterion-dev elfutils
gdb lldb valgrind clang bpftool libbpf-dev python3 sqlite3 libsqlite3-dev zstd redis-server"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
