#!/usr/bin/env bash
# `make bench`, file copies row (issue 14): what copying the files a tree
# could write costs the dump's downtime. A program holding a small file open
# O_RDWR and a BENCH_FCOPY_MIB (64) MiB data file mapped MAP_SHARED whole
# (test/targets/replay_rewrite.c), the data file on the worktree's disk, is
# dumped with the default --file-copy-limit (both files copied, frozen) and
# with --file-copy-limit 0 (none), then replayed from each dump. bench.sh
# runs it after the TCP row; it also runs alone.
#
# Environment: BUILD (default build), BENCH_FCOPY_MIB (default 64),
# BENCH_FCOPY_RUNS (default 5), BENCH_DIR (images; default a fresh dir in
# /dev/shm), BENCH_FCOPY_DATA_DIR (the files; default under $BUILD).
# Results: a table on stdout, every run in $BUILD/bench-fcopy.csv.
. "$(dirname "$0")/bench_lib.sh"
bench_init bench-fcopy
mib=${BENCH_FCOPY_MIB:-64}
runs=${BENCH_FCOPY_RUNS:-5}
csv=$PWD/$BUILD/bench-fcopy.csv

[ "$(id -u)" -eq 0 ] || die "needs root (ptrace, a replay's namespaces)"
bench_build "$BUILD/targets/replay_rewrite" -- bench_run
bench_workdir bench-fcopy
data=${BENCH_FCOPY_DATA_DIR:-$PWD/$BUILD/bench-fcopy-data}
mkdir -p "$data" || die "cannot create $data"
pid=
cleanup() {
	[ -n "$pid" ] && { kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	[ -z "${BENCH_DIR:-}" ] && rm -rf "$work"
	rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

run_timed() { bench_timed "$@" || wall_ns=; }
tool_downtime() { "$bin" show "$1/stats.img" 2>/dev/null | sed -n 's/.*"downtime_ns": \([0-9]*\).*/\1/p'; }

head -c 4096 /dev/urandom > "$data/db"
head -c $((mib << 20)) /dev/urandom > "$data/shared.data"
(
	bench_only_stdio
	exec setsid "$BUILD/targets/replay_rewrite" "$data/db" "$data/shared.data" < /dev/null
) > "$work/target.out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q READY "$work/target.out" && break; sleep 0.05; done
grep -q READY "$work/target.out" || die "replay_rewrite did not start"
# Its whole mapping in memory, as a program that uses its data has it.
cat "$data/shared.data" > /dev/null

one() {
	local mode=$1 run=$2 limit=$3 down dump_ns replay_ns rpid init
	rm -rf "$work/img" && mkdir "$work/img"
	run_timed "$bin" dump -t "$pid" -D "$work/img" --file-copy-limit "$limit"
	dump_ns=$wall_ns
	down=$(tool_downtime "$work/img")
	rm -f "$work/replay.pid"
	run_timed "$bin" restore --replay -D "$work/img" -d --pidfile "$work/replay.pid"
	replay_ns=$wall_ns
	rpid=$(cat "$work/replay.pid" 2>/dev/null)
	if [ -n "$rpid" ]; then
		init=$(awk '/^PPid/ { print $2 }' "/proc/$rpid/status")
		[ -n "$init" ] && kill -9 "$init"
		while kill -0 "$rpid" 2>/dev/null; do sleep 0.02; done
	fi
	echo "$mode,$run,${down:-},${dump_ns:-},${replay_ns:-}" >> "$csv"
	awk -v m="$mode" -v d="${down:-0}" -v w="${dump_ns:-0}" -v r="${replay_ns:-0}" 'BEGIN {
		printf "  %-10s downtime %7.1f ms  dump %7.1f ms  replay %7.1f ms\n", m, d / 1e6,
		       w / 1e6, r / 1e6
	}' >&2
}

echo "mode,run,downtime_ns,dump_wall_ns,replay_wall_ns" > "$csv"
for run in $(seq "$runs"); do
	one copies "$run" "$((mib + 1))M"
	one none "$run" 0
done
python3 - "$csv" "$mib" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
mib = int(sys.argv[2])
def med(m, f):
    v = [float(r[f]) for r in rows if r["mode"] == m and r[f]]
    return statistics.median(v) if v else None
def ms(v):
    return "-" if v is None else "%.1f" % (v / 1e6)
print()
print("== file copies: a %d MiB MAP_SHARED file and a 4 KiB O_RDWR file, median of %d runs =="
      % (mib, len(rows) // 2))
print("%-28s %12s %10s %10s" % ("", "downtime ms", "dump ms", "replay ms"))
for m, what in (("copies", "dump (files copied, frozen)"), ("none", "--file-copy-limit 0")):
    print("%-28s %12s %10s %10s" % (what, ms(med(m, "downtime_ns")), ms(med(m, "dump_wall_ns")),
                                    ms(med(m, "replay_wall_ns"))))
a, b = med("copies", "downtime_ns"), med("none", "downtime_ns")
if a is not None and b is not None:
    print("copying: +%.1f ms of downtime, %.2f ms per MiB" % ((a - b) / 1e6, (a - b) / 1e6 / mib))
PY
