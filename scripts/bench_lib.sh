# Sourced by the bench scripts (bench.sh, bench_tcp.sh, bench_criu.sh):
# the repository as working directory, the build, and one way to fail.
#   bench_init NAME          names the script in messages
#   bench_build MAKE-TARGETS -- TOOLS
#                            builds criu-lite and the targets given, then
#                            each scripts/TOOL.c into $tools
#   bench_workdir TAG        $work: BENCH_DIR, or a fresh dir in /dev/shm
#                            (the tools are measured, not the disk)
#   bench_timed CMD...       wall_ns maxrss_kb cpu_ns of one run (bench_run);
#                            a failure is said and returns 1
#   bench_only_stdio         in a subshell about to exec a target: close every
#                            fd but 0-2 (one inherited from whoever runs make,
#                            a pipe to a terminal multiplexer or a CI runner,
#                            is nothing restore can redo)
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

bench_timed() {
	local res status
	res=$("$tools/bench_run" "$@" 3>&1 >/dev/null 2>"$work/cmd.err")
	read -r wall_ns maxrss_kb status cpu_ns <<< "$res"
	[ "${status:-1}" = 0 ] && return 0
	echo "$bench_name: '$*' failed (status ${status:-?}):" >&2
	tail -3 "$work/cmd.err" >&2
	return 1
}

bench_only_stdio() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
}
