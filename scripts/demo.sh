#!/usr/bin/env bash
# `make demo`: start a multi-threaded demo process, dump it while it runs,
# print what the images hold, and show the process carried on.
set -eu
cd "$(dirname "$0")/.."
bin=${BIN:-build/criu-lite}
dir=${DEMO_DIR:-demo-images}

${TARGETS:-build/targets}/demo > /tmp/criu-lite-demo.out &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q READY /tmp/criu-lite-demo.out && break; sleep 0.1; done

mkdir -p "$dir"
echo "== criu-lite dump -t $pid -D $dir"
$bin dump -t "$pid" -D "$dir"
echo "== process tree (criu-lite show -D $dir --ps)"
$bin show -D "$dir" --ps
echo "== memory (--mem)"
$bin show -D "$dir" --mem | head -40
echo "== files (--files)"
$bin show -D "$dir" --files
echo "== the dump's own cost (stats.img)"
$bin show "$dir/stats.img"
echo "== after the dump, pid $pid is still running: $(grep State /proc/$pid/status), $(grep TracerPid /proc/$pid/status)"
