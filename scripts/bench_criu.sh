#!/usr/bin/env bash
# How fast convert turns a CRIU dump into a core, next to cp of the same
# pages in the same run: a CRIU dump of BENCH_CRIU_MIB MiB is made from the
# threads fixture (scripts/criu_craft.py grow), also packed as a checkpoint
# archive (plain tar, read in place) and as tar.zst (unpacked first); then,
# alternating so that neither finds memory the other has warmed, each of
#   cp of the pages file | convert -D dir | convert -D tar | convert -D tar.zst
# runs BENCH_RUNS times after one unmeasured round; the best of each is
# reported in MiB/s of pages, and convert's over cp's.
#
# Environment:
#   BUILD           build dir (default build)
#   BENCH_CRIU_MIB  size of the dump (default 1024)
#   BENCH_RUNS      measured rounds (default 3)
#   BENCH_DIR       where the dump and the outputs go (default a fresh dir
#                   in /dev/shm: the tools, not the disk)
. "$(dirname "$0")/bench_lib.sh"
bench_init bench_criu
mib=${BENCH_CRIU_MIB:-1024}
runs=${BENCH_RUNS:-3}
bench_workdir bench-criu
trap 'rm -rf "$work"' EXIT

bench_build --
mkdir -p "$work/ck" || die "cannot create $work"
python3 scripts/criu_craft.py grow test/fixtures/criu-4.2/threads/images "$work/ck/checkpoint" "$mib" ||
	die "cannot make the dump"
tar -cf "$work/dump.tar" -C "$work/ck" checkpoint || die "cannot pack the archive"
zstd -q -1 -T0 "$work/dump.tar" -o "$work/dump.tar.zst" || die "cannot compress the archive"
pages=$work/ck/checkpoint/pages-1.img
bytes=$(stat -c %s "$pages")

now() { date +%s.%N; }

# One timed command; its output removed after, so every run writes anew.
timed() {
	local out=$1 t0 t1
	shift
	t0=$(now)
	"$@" >/dev/null 2>&1 || die "failed: $*"
	t1=$(now)
	rm -f "$out"
	echo "$t1 - $t0" | bc -l
}

declare -A best
round() {
	local name t
	for name in cp dir tar zst; do
		case $name in
		cp) t=$(timed "$work/out" cp "$pages" "$work/out") ;;
		dir) t=$(timed "$work/core" "$bin" convert -D "$work/ck/checkpoint" -o "$work/core") ;;
		tar) t=$(timed "$work/core" "$bin" convert -D "$work/dump.tar" -o "$work/core") ;;
		zst) t=$(timed "$work/core" "$bin" convert -D "$work/dump.tar.zst" -o "$work/core") ;;
		esac
		[ "$1" = measure ] || continue
		if [ -z "${best[$name]:-}" ] || [ "$(echo "$t < ${best[$name]}" | bc -l)" = 1 ]; then
			best[$name]=$t
		fi
	done
}

cat "$pages" >/dev/null
round warm
for _ in $(seq "$runs"); do
	round measure
done
rate() { echo "scale=0; $bytes / 1048576 / ${best[$1]}" | bc -l; }
printf "CRIU dump of %d MiB of pages, best of %d (MiB/s):\n" "$((bytes >> 20))" "$runs"
printf "  %-28s %6s\n" "cp of the pages file" "$(rate cp)"
printf "  %-28s %6s  (%.2fx cp)\n" "convert -D directory" "$(rate dir)" \
	"$(echo "${best[cp]} / ${best[dir]}" | bc -l)"
printf "  %-28s %6s  (%.2fx cp)\n" "convert -D archive.tar" "$(rate tar)" \
	"$(echo "${best[cp]} / ${best[tar]}" | bc -l)"
printf "  %-28s %6s  (%.2fx cp; unpacks first)\n" "convert -D archive.tar.zst" "$(rate zst)" \
	"$(echo "${best[cp]} / ${best[zst]}" | bc -l)"
