# Sourced by the bench scripts (bench.sh, bench_tcp.sh, bench_criu.sh):
# the repository as working directory, the build, and one way to fail.
#   bench_init NAME          names the script in messages
#   bench_build MAKE-TARGETS -- TOOLS
#                            builds criu-lite and the targets given, then
#                            each scripts/TOOL.c into $tools
#   bench_workdir TAG        $work: BENCH_DIR, or a fresh dir in /dev/shm
#                            (the tools are measured, not the disk)
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${BUILD:-build}
bin=$PWD/$BUILD/criu-lite
tools=$PWD/$BUILD/bench
bench_name=bench

die() { echo "$bench_name: $*" >&2; exit 1; }

bench_init() { bench_name=$1; }

bench_build() {
	local targets=() t
	while [ $# -gt 0 ] && [ "$1" != -- ]; do targets+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	make -s BUILD="$BUILD" all "${targets[@]}" >/dev/null || die "build failed"
	mkdir -p "$tools"
	for t in "$@"; do
		gcc -O2 -Wall -Wextra -Werror -o "$tools/$t" "scripts/$t.c" || die "cannot build $t"
	done
}

bench_workdir() {
	work=${BENCH_DIR:-$(mktemp -d "/dev/shm/criu-lite-$1.XXXXXX")}
	mkdir -p "$work" || die "cannot create $work"
}
