#!/usr/bin/env bash
# `make bench`: how long the target stops and how long the dump takes, for
# criu-lite's ways of dumping (plain, --snapshot fork, --snapshot wp,
# pre-dump + incremental) and of a replay beside the live original (from
# `restore --replay` to its tree stopped and attachable, for the bench target
# and for a small server, replay_server.c) against gdb's gcore, the kernel's own
# core dump and a plain memory copy (the ceiling), on a target that fills
# N MiB with random bytes and measures its own downtime (bench_touch.c).
#
# Environment:
#   BUILD          build dir (default build): criu-lite, targets, results
#   BENCH_SIZES    MiB sizes (default "256 1024 4096")
#   BENCH_RUNS     runs per size, medians reported (default 3)
#   BENCH_THREADS  target threads (default 4)
#   BENCH_DIR      where images and cores go (default a fresh dir in
#                  /dev/shm: this measures the tools, not the disk)
#   BENCH_CONVERT_MIB  size whose dump is also converted (default 1024)
#   BENCH_KERNEL_CORE  0 skips the kernel core (it sets core_pattern, which
#                  is system-wide, for a few seconds per run)
#   BENCH_THP      1 (default) also measures --snapshot fork on a target
#                  whose memory is in transparent huge pages (MADV_HUGEPAGE):
#                  fork then copies one entry per 2 MiB instead of 512
#   BENCH_TCP      1 (default) ends with scripts/bench_tcp.sh: a server with
#                  BENCH_TCP_CONNS (1000) established connections dumped and
#                  restored, against the same server with none (a few seconds)
#   BENCH_FCOPY    1 (default) then runs scripts/bench_fcopy.sh: the dump's
#                  downtime with a 64 MiB MAP_SHARED file copied vs not
# Results: a table on stdout, every run in $BUILD/bench-results.csv, the
# medians in $BUILD/bench-summary.csv, a plot in $BUILD/bench.png.
. "$(dirname "$0")/bench_lib.sh"
bench_init bench
sizes=${BENCH_SIZES:-"256 1024 4096"}
runs=${BENCH_RUNS:-3}
threads=${BENCH_THREADS:-4}
convert_mib=${BENCH_CONVERT_MIB:-1024}
kernel_core=${BENCH_KERNEL_CORE:-1}
thp=${BENCH_THP:-1}
csv=$PWD/$BUILD/bench-results.csv

[ "$(id -u)" -eq 0 ] || die "needs root (ptrace of any process, core_pattern)"
bench_build "$BUILD/targets/bench_touch" "$BUILD/targets/replay_server" -- bench_run bench_copy
command -v gcore >/dev/null || die "gcore (gdb) is missing: make deps"
if ! command -v gnuplot >/dev/null; then
	echo "bench: installing gnuplot-nox for the plot" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
		echo "bench: no gnuplot: no plot" >&2
fi

bench_workdir bench
target_pid=
core_old=$(cat /proc/sys/kernel/core_pattern)
# A bench killed during its kernel-core step (SIGKILL: no trap) leaves its
# own pattern behind; the next one would "restore" that forever.
case "$core_old" in
*/criu-lite-bench.*/kcore/core.%p)
	echo "bench: core_pattern '$core_old' is a dead bench's: putting back 'core'" >&2
	core_old=core
	echo core > /proc/sys/kernel/core_pattern ;;
esac
core_set=

# core_pattern is the whole machine's: put the old one back on any exit,
# but only if it still holds ours (someone else may have set theirs since).
restore_core() {
	if [ -n "$core_set" ] && [ "$(cat /proc/sys/kernel/core_pattern)" = "$core_set" ]; then
		echo "$core_old" > /proc/sys/kernel/core_pattern
	fi
	core_set=
}
cleanup() {
	restore_core
	[ -n "$target_pid" ] && kill -9 "$target_pid" 2>/dev/null
	[ -z "${BENCH_DIR:-}" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# run_timed CMD...: sets wall_ns maxrss_kb cpu_ns; a failure spoils the row.
run_timed() { bench_timed "$@" || failed=1; }

gap_lines() { grep -c '^GAP' "$work/target.out"; }
gap_reset() { kill -USR2 "$target_pid"; }
# The target's largest gap since gap_reset, in ns (the last GAP line).
gap_read() {
	local before i
	before=$(gap_lines)
	kill -USR1 "$target_pid"
	for i in $(seq 200); do
		[ "$(gap_lines)" -gt "$before" ] && break
		sleep 0.02
	done
	grep '^GAP' "$work/target.out" | tail -1 | sed 's/.*max_ns=\([0-9]*\).*/\1/'
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
size_b() { du -sb "$1" 2>/dev/null | cut -f1; }
tool_downtime() { "$bin" show "$1/stats.img" 2>/dev/null | sed -n 's/.*"downtime_ns": \([0-9]*\).*/\1/p'; }

start_target() {
	local n=$1 i
	: > "$work/target.out"
	# Its output goes through a FIFO to a file: restore redoes a pipe on
	# fd 1 as its own stdout, but refuses a file that grew since the dump.
	rm -f "$work/target.fifo"
	mkfifo "$work/target.fifo"
	cat "$work/target.fifo" > "$work/target.out" &
	(
		bench_only_stdio
		ulimit -c unlimited
		# A session of its own: the terminal make runs on would be a
		# controlling terminal outside the tree, which restore refuses
		# without --shell-job. (Not a group leader here: setsid execs.)
		exec setsid "$BUILD/targets/bench_touch" "$n" "$threads" < /dev/null
	) > "$work/target.fifo" 2>&1 &
	target_pid=$!
	for i in $(seq 3000); do
		grep -q '^READY' "$work/target.out" && break
		kill -0 "$target_pid" 2>/dev/null || die "bench_touch $n died"
		sleep 0.1
	done
	grep -q '^READY' "$work/target.out" || die "bench_touch $n never got ready"
	target_addr=$(sed -n 's/^READY.* addr=\([^ ]*\).*/\1/p' "$work/target.out")
	target_len=$(sed -n 's/^READY.* len=\([^ ]*\).*/\1/p' "$work/target.out")
}

# row MODE: one CSV line from the variables the measurement set.
row() {
	# A failed command's numbers mean nothing: the row says so instead.
	[ -n "${failed:-}" ] && wall_ns= cpu_ns= gap_ns= tdown_ns= img_b= maxrss_kb= rss1= extra=failed
	echo "$size,$1,$run,$wall_ns,${cpu_ns:-},${gap_ns:-},${tdown_ns:-},${img_b:-},${maxrss_kb:-},${rss0:-},${rss1:-},${extra:-}" >> "$csv"
	awk -v m="$1" -v w="${wall_ns:-0}" -v g="${gap_ns:-0}" -v b="${img_b:-0}" 'BEGIN {
		printf "  %-20s wall %9.1f ms  downtime %8.1f ms  %8.1f MiB\n", m, w / 1e6, g / 1e6, b / 1048576
	}' >&2
	wall_ns= cpu_ns= gap_ns= tdown_ns= img_b= maxrss_kb= rss0= rss1= extra= failed=
}

# A criu-lite dump of the target into $work/$1 with extra options; leaves
# the images for the caller.
criu_dump() {
	local dir=$work/$1
	shift
	rm -rf "$dir" && mkdir -p "$dir"
	rss0=$(rss_kb "$target_pid")
	gap_reset
	run_timed "$bin" dump -t "$target_pid" -D "$dir" "$@"
	gap_ns=$(gap_read)
	rss1=$(rss_kb "$target_pid")
	tdown_ns=$(tool_downtime "$dir")
	img_b=$(size_b "$dir")
}

# dump --kill into $work/$2: the target is gone after it, and its downtime
# only stats.img can tell. Its wall time includes reaping every thread.
measure_kill() {
	local dir=$work/$2
	rm -rf "$dir" && mkdir -p "$dir"
	rss0=$(rss_kb "$target_pid")
	run_timed "$bin" dump -t "$target_pid" -D "$dir" --kill
	wait "$target_pid" 2>/dev/null
	target_pid=
	tdown_ns=$(tool_downtime "$dir")
	img_b=$(size_b "$dir")
	row "$1"
}

# After the original has exited, as when a crashed or migrated process is
# brought back. Beside a live original this
# VM is slower by far: the memory a restore takes then comes fresh from the
# host (free page reporting gave it back), 2-10 us a page on first touch.
measure_restore() {
	local dir=$1 mode=$2 rpid
	rm -f "$work/restored.pid"
	run_timed "$bin" restore -D "$dir" -d --pidfile "$work/restored.pid"
	rpid=$(cat "$work/restored.pid" 2>/dev/null)
	if [ -n "$rpid" ]; then
		kill -9 "$rpid" 2>/dev/null
		while kill -0 "$rpid" 2>/dev/null; do sleep 0.05; done
	fi
	row "$mode"
}

# A replay beside the live original (issue 14): restore --replay -d returns
# once its tree is stopped and attachable; its namespaces, copies and pages
# included. Ended through its init.
measure_replay() {
	local dir=$1 mode=$2 rpid init
	rm -f "$work/replay.pid"
	run_timed "$bin" restore --replay -D "$dir" -d --pidfile "$work/replay.pid"
	rpid=$(cat "$work/replay.pid" 2>/dev/null)
	if [ -n "$rpid" ]; then
		init=$(awk '/^PPid/ { print $2 }' "/proc/$rpid/status")
		[ -n "$init" ] && kill -9 "$init"
		while kill -0 "$rpid" 2>/dev/null; do sleep 0.02; done
	fi
	row "$mode"
}

# The same for a small program: replay_server (two threads, a listener, a
# log and a shared mapping), dumped while it runs.
measure_replay_small() {
	local d=$work/small pid
	rm -rf "$d" && mkdir -p "$d/img"
	: > "$d/log"
	head -c 4096 /dev/zero > "$d/data"
	setsid "$BUILD/targets/replay_server" "$d/log" "$d/data" < /dev/null > "$d/out" 2>&1 &
	pid=$!
	for _ in $(seq 500); do grep -q READY "$d/out" && break; sleep 0.01; done
	if "$bin" dump -t "$pid" -D "$d/img" 2>"$work/cmd.err"; then
		img_b=$(size_b "$d/img")
		measure_replay "$d/img" replay-small
	else
		echo "bench: dump of replay_server failed" >&2
	fi
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	rm -rf "$d"
}

measure_convert() {
	local dir=$1 pages
	run_timed "$bin" convert -D "$dir" -o "$work/conv.core"
	img_b=$(size_b "$work/conv.core")
	extra=$(size_b "$dir")
	rm -f "$work/conv.core"
	row convert
	pages=$(ls "$dir"/pages-*.img | head -1)
	run_timed cp "$pages" "$work/pages.copy"
	img_b=$(size_b "$work/pages.copy")
	rm -f "$work/pages.copy"
	row cp
}

measure_kernel_core() {
	local t0 t1 cur
	cur=$(cat /proc/sys/kernel/core_pattern)
	if [ "$kernel_core" = 0 ] || [ "${cur:0:1}" = "@" ]; then
		# A socket pattern is someone's coredump server at work: not ours to take.
		[ "$kernel_core" = 0 ] || echo "bench: core_pattern is '$cur' (in use): no kernel core" >&2
		kill -9 "$target_pid"; wait "$target_pid" 2>/dev/null; target_pid=
		return
	fi
	mkdir -p "$work/kcore"
	core_set="$work/kcore/core.%p"
	echo "$core_set" > /proc/sys/kernel/core_pattern
	rss0=$(rss_kb "$target_pid")
	t0=$(date +%s%N)
	kill -ABRT "$target_pid"
	wait "$target_pid" 2>/dev/null
	t1=$(date +%s%N)
	restore_core
	target_pid=
	wall_ns=$((t1 - t0))
	gap_ns=$wall_ns		# the process never runs again
	img_b=$(size_b "$work/kcore")
	rm -rf "$work/kcore"
	[ "${img_b:-0}" -gt 4096 ] || { echo "bench: no kernel core was written" >&2; wall_ns= gap_ns=; }
	row kernel-core
}

one_run() {
	start_target "$size"
	echo "size $size MiB, run $run: target $target_pid ($(rss_kb "$target_pid") KiB resident), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

	# Not measured: this VM backs guest memory lazily and takes freed pages
	# back (free page reporting), so whichever mode first writes GiBs pays
	# a host fault per fresh page. A throw-away dump levels that.
	criu_dump warm
	rm -rf "$work/warm"
	wall_ns= cpu_ns= gap_ns= tdown_ns= img_b= maxrss_kb= rss0= rss1= extra= failed=

	criu_dump dump
	row criu-dump
	img_b=$(size_b "$work/dump")
	measure_replay "$work/dump" replay
	measure_replay_small
	if [ "$size" = "$convert_mib" ]; then
		measure_convert "$work/dump"
	fi
	# Restores are measured with the original gone, right after its dump
	# (--kill), and a fresh target is started for what follows: images kept
	# for the end would leave every later mode short of recently used memory.
	rm -rf "$work/dump"
	measure_kill criu-dump-kill kill
	measure_restore "$work/kill" restore
	rm -rf "$work/kill"
	# The same with one thread: --kill must not cost more per thread (it
	# waited 2 s for a traced leader's exit before its threads were reaped).
	if [ "$size" -le 1024 ]; then
		threads=1 start_target "$size"
		measure_kill criu-dump-kill-1thr kill
		rm -rf "$work/kill"
	fi
	start_target "$size"

	criu_dump snap --snapshot fork
	row criu-snapshot
	rm -rf "$work/snap"

	criu_dump snapwp --snapshot wp
	row criu-snapshot-wp
	rm -rf "$work/snapwp"

	rm -rf "$work/pre" && mkdir -p "$work/pre"
	gap_reset
	run_timed "$bin" pre-dump -t "$target_pid" -D "$work/pre"
	gap_ns=$(gap_read)
	img_b=$(size_b "$work/pre")
	row criu-predump
	sleep 1		# the target dirties pages meanwhile
	criu_dump inc --track-mem --prev-images-dir ../pre
	row criu-incremental
	stop_target
	measure_restore "$work/inc" restore-incremental
	rm -rf "$work/pre" "$work/inc"
	start_target "$size"

	rss0=$(rss_kb "$target_pid")
	gap_reset
	run_timed gcore -o "$work/gcore" "$target_pid"
	gap_ns=$(gap_read)
	rss1=$(rss_kb "$target_pid")
	img_b=$(size_b "$work/gcore.$target_pid")
	rm -f "$work/gcore.$target_pid"
	row gcore

	run_timed "$tools/bench_copy" "$target_pid" "$target_addr" "$target_len" "$work/copy"
	img_b=$(size_b "$work/copy")
	rm -f "$work/copy"
	row plain-copy

	# What the target sees with nobody touching it, over as long as a dump.
	gap_reset
	sleep 1
	gap_ns=$(gap_read)
	wall_ns=1000000000
	row idle

	measure_kernel_core
	stop_target

	if [ "$thp" = 1 ]; then
		BENCH_THP=1 start_target "$size"
		criu_dump snap --snapshot fork
		row criu-snapshot-thp
		rm -rf "$work/snap"
		stop_target
	fi
}

stop_target() {
	[ -n "$target_pid" ] && { kill -9 "$target_pid"; wait "$target_pid" 2>/dev/null; }
	target_pid=
}

echo "size_mib,mode,run,wall_ns,cpu_ns,downtime_ns,tool_downtime_ns,bytes,dumper_maxrss_kb,target_rss_before_kb,target_rss_after_kb,extra" > "$csv"
started=$(date +%s)
for size in $sizes; do
	for run in $(seq "$runs"); do
		one_run
	done
done
echo "bench: $(( $(date +%s) - started )) s" >&2
python3 scripts/bench_report.py "$csv" "$PWD/$BUILD"
if [ "${BENCH_TCP:-1}" = 1 ]; then
	BUILD="$BUILD" BENCH_DIR="$work/tcp" scripts/bench_tcp.sh
fi
if [ "${BENCH_FCOPY:-1}" = 1 ]; then
	BUILD="$BUILD" BENCH_DIR="$work/fcopy" scripts/bench_fcopy.sh
fi
