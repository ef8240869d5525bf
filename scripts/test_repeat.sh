#!/bin/sh
# Run the plain suite N times to find the tests that fail only sometimes.
#
#   scripts/test_repeat.sh [-n N] [--beside] [--filter PATTERN] [--out DIR]
#
# Builds once, then runs the suite N times one after another. --beside keeps a
# second copy of the suite running in a loop next to them the whole time (the
# load a busy machine puts on timing, and a check that two suites share no
# fixed name). Each failing run's log and TAP report are kept in DIR (default
# $BUILD/test-repeat); the summary counts runs and failures per test, for the
# measured runs and for the copy beside them. Exit status 1 if any run failed.
set -u

N=20
BESIDE=0
FILTER=
BUILD=${BUILD:-build}
OUT=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) N=$2; shift ;;
	--beside) BESIDE=1 ;;
	--filter) FILTER=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [-n N] [--beside] [--filter PATTERN] [--out DIR]" >&2; exit 2 ;;
	esac
	shift
done
case "$N" in ''|*[!0-9]*) echo "$0: N must be a number, not '$N'" >&2; exit 2 ;; esac
OUT=${OUT:-$BUILD/test-repeat}

make -j2 BUILD="$BUILD" all targets "$BUILD/test/suite" >/dev/null || {
	echo "$0: build failed" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT" || exit 1

# One suite run: $1 is the log's name; keeps the log only if the run failed.
run_suite() {
	log="$OUT/$1.log"
	set -- --jobs 2 --tap="$OUT/$1.tap"
	[ -n "$FILTER" ] && set -- "$@" --filter "$FILTER"
	CRIU_LITE="$BUILD/criu-lite" TARGETS="$BUILD/targets" "$BUILD/test/suite" "$@" \
		>"$log" 2>&1
	rc=$?
	# Criterion exits 0 with a truncated report if the runner itself is
	# killed mid-way: a run counts as passed only with its synthesis line.
	if [ $rc -eq 0 ] && grep -q '^\[====\] Synthesis:.* Failing: 0 | Crashing: 0' "$log"; then
		rm -f "$log" "${log%.log}.tap"
		return 0
	fi
	return 1
}

beside_pid=
if [ $BESIDE = 1 ]; then
	touch "$OUT/.beside"
	( i=0
	  while [ -e "$OUT/.beside" ]; do
		i=$((i + 1))
		run_suite "beside-$i" && echo ok >>"$OUT/beside.runs" || echo fail >>"$OUT/beside.runs"
	  done ) &
	beside_pid=$!
fi

fails=0
i=0
while [ $i -lt "$N" ]; do
	i=$((i + 1))
	start=$(date +%s)
	if run_suite "run-$i"; then
		echo "run $i/$N: passed ($(( $(date +%s) - start )) s)"
	else
		fails=$((fails + 1))
		echo "run $i/$N: FAILED ($(( $(date +%s) - start )) s), log in $OUT/run-$i.log"
	fi
done

if [ -n "$beside_pid" ]; then
	rm -f "$OUT/.beside"
	echo "waiting for the copy beside to finish its run..."
	wait "$beside_pid"
fi

# "not ok - dump::threads_rip_in_their_functions (1.2s)" in the TAP reports;
# a run with no TAP failure line but no synthesis either died as a whole.
per_test() {
	for log in "$OUT"/$1-*.log; do
		[ -e "$log" ] || continue
		tap=${log%.log}.tap
		if grep -q '^not ok' "$tap" 2>/dev/null; then
			sed -n 's/^not ok[ 0-9]*- \([^ ]*\).*/\1/p' "$tap" | sort -u
		else
			echo "(the runner itself: see $log)"
		fi
	done | sort | uniq -c | sort -rn | sed 's/^/  /'
}

echo
echo "== $N runs: $((N - fails)) passed, $fails failed${FILTER:+ (filter $FILTER)}"
per_test run
if [ $BESIDE = 1 ]; then
	b_runs=$(wc -l <"$OUT/beside.runs" 2>/dev/null || echo 0)
	b_fail=$(grep -c fail "$OUT/beside.runs" 2>/dev/null)
	echo "== the copy beside: $b_runs runs, ${b_fail:-0} failed"
	per_test beside
fi
[ $fails -eq 0 ] && [ "${b_fail:-0}" -eq 0 ]
