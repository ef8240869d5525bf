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
# directory targets (format in test/fuzz/fuzz_dir.h). Files over PACK_MAX
# bytes (default 16 KiB) are cut there, so raw pages keep seeds small.
if [ "${1:-}" = pack ]; then
	for f in "$2"/*; do
		[ -f "$f" ] || continue
		printf '\n@@file %s\n' "$(basename "$f")"
		head -c "${PACK_MAX:-16384}" "$f"
	done
	exit 0
fi

build=build-fuzz
secs=${FUZZ_SECONDS:-60}
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

make --no-print-directory BUILD=$build CC=clang SAN="$san" -j"$(nproc)" fuzz-build >/dev/null

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
