#!/usr/bin/env bash
# `make test` step: run `criu-lite dump` and `criu-lite convert` once each
# under valgrind's memcheck on a small running target. Any memory error or
# definite leak fails the step. Usage: scripts/valgrind.sh [BUILD_DIR]
#
# Both run with memcheck's uninitialised-value tracking. Valgrind 3.19 does
# not model what the kernel writes for the PAGEMAP_SCAN ioctl,
# PTRACE_GETSIGMASK, PTRACE_PEEKSIGINFO or PTRACE_GET_RSEQ_CONFIGURATION:
# criu-lite marks those bytes defined itself (VALGRIND_MAKE_MEM_DEFINED,
# next to each call), so a report here is a real uninitialised read.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$build/criu-lite
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-fds=no"
tmp=$(mktemp -d /tmp/criu-lite-valgrind-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

$build/targets/demo > "$tmp/target.out" &
pid=$!
# A busy machine can take a while to start it: up to 30 s, then say so.
for _ in $(seq 600); do grep -q READY "$tmp/target.out" && break; sleep 0.05; done
grep -q READY "$tmp/target.out" || { echo "valgrind: target did not start" >&2; exit 1; }

fail=0
step() {
	local what=$1; shift
	if ! $vg --log-file="$tmp/vg.$what" "$@" 2> "$tmp/err.$what"; then
		echo "valgrind: criu-lite $what failed:" >&2
		cat "$tmp/vg.$what" "$tmp/err.$what" >&2
		fail=1
	elif grep -q "^==" "$tmp/vg.$what"; then
		# --error-exitcode covers errors and definite leaks; anything else
		# memcheck says (lines "==PID==") is shown, not counted.
		echo "valgrind: criu-lite $what: no errors, no definite leaks; memcheck said:" >&2
		grep "^==" "$tmp/vg.$what" >&2
	else
		echo "valgrind: criu-lite $what: no errors, no definite leaks" >&2
	fi
}
mkdir "$tmp/d"
step dump "$bin" dump -t "$pid" -D "$tmp/d"
if grep -qE "State:.*[tT]|TracerPid:[[:space:]]*[1-9]" /proc/"$pid"/status; then
	echo "valgrind: target left stopped or traced" >&2
	fail=1
fi
if [ -f "$tmp/d/inventory.img" ]; then
	step convert "$bin" convert -D "$tmp/d" -o "$tmp/core"
else
	echo "valgrind: the dump left no inventory.img: convert not run" >&2
	fail=1
fi
exit $fail
