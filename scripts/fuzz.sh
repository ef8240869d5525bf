#!/usr/bin/env bash
# `make fuzz`: build every libFuzzer target in test/fuzz/ with clang (ASan +
# UBSan, every UB report fatal) into build-fuzz/, then run each for
# FUZZ_SECONDS (default 60) starting from its seed corpus in
# test/fuzz/corpus/NAME/. The working corpus grows in build-fuzz/corpus/NAME/
# and is kept between runs; crashing inputs are written to build-fuzz/crashes/.
# Exit status is non-zero if any target crashed, leaked or timed out.
# FUZZ_TARGETS="fuzz_image ..." limits the run to some targets.
set -eu
cd "$(dirname "$0")/.."

# `scripts/fuzz.sh pack DIR > FILE`: a dump directory as one input of the
# directory targets (format in test/fuzz/fuzz_dir.h). Raw pages files over
# PACK_MAX bytes (default 4 KiB) keep their head and their length (the rest
# reads as zeros), so seeds stay small; images are kept whole.
if [ "${1:-}" = pack ]; then
	for f in "$2"/*; do
		[ -f "$f" ] || continue
		name=$(basename "$f")
		size=$(stat -c %s "$f")
		keep=$size
		case "$name" in pages-*) [ "$size" -gt "${PACK_MAX:-4096}" ] && keep=${PACK_MAX:-4096} ;; esac
		if [ "$keep" -lt "$size" ]; then
			printf '\n@@file %s %s\n' "$name" "$size"
		else
			printf '\n@@file %s\n' "$name"
		fi
		head -c "$keep" "$f"
	done
	exit 0
fi

build=build-fuzz
secs=${FUZZ_SECONDS:-60}
# -Wno-error: clang warns about things gcc does not; the gcc build is where
# warnings are errors, this build only has to run.
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-error"

mkdir -p $build
if ! make --no-print-directory BUILD=$build CC=clang SAN="$san" -j"$(nproc)" fuzz-build \
	> $build/build.log 2>&1; then
	grep -E "error" $build/build.log >&2 || tail -20 $build/build.log >&2
	exit 1
fi
grep -E "warning:" $build/build.log >&2 || true

# Scratch images live in RAM when possible: every input is written out as files.
[ -z "${TMPDIR:-}" ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm

targets=${FUZZ_TARGETS:-$(ls test/fuzz/*.c | xargs -n1 basename | sed 's/\.c$//')}
mkdir -p $build/crashes
failed=""
for t in $targets; do
	corpus=$build/corpus/$t
	mkdir -p "$corpus"
	seeds=test/fuzz/corpus/$t
	[ -d "$seeds" ] || seeds=""
	echo "fuzz: $t for ${secs}s" >&2
	# stdout is closed (-close_fd_mask=1): `show` prints JSON for every input.
	# -max_len fits a small dump directory packed whole (see `pack` above).
	if ! "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=131072 -dict=test/fuzz/images.dict -close_fd_mask=1 -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" \
		"$corpus" $seeds >"$build/$t.log" 2>&1; then
		failed="$failed $t"
		grep -E "ERROR|SUMMARY|runtime error|artifact" "$build/$t.log" | head -20 >&2 || true
	fi
	grep -E "^stat::number_of_executed_units|^stat::peak_rss|#[0-9]+.*DONE" "$build/$t.log" | tr '\n' ' ' >&2
	echo >&2
done
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed (inputs in $build/crashes/, logs in $build/*.log)" >&2
	exit 1
fi
echo "fuzz: no crash in:" $targets >&2
