#!/usr/bin/env bash
# `make bench`, TCP row: an echo server (test/targets/sk_echo.c) with N
# established connections from clients outside the tree
# (scripts/bench_tcp_clients.c), dumped with --kill --tcp-established and
# restored with --tcp-established, against the same server with none; the
# clients then check that every connection still answers. bench.sh runs it
# last; it also runs alone.
#
# Environment: BUILD (default build), BENCH_TCP_CONNS (default 1000),
# BENCH_TCP_RUNS (default 3), BENCH_DIR (default a fresh dir in /dev/shm).
# Results: a table on stdout, every run in $BUILD/bench-tcp.csv.
. "$(dirname "$0")/bench_lib.sh"
bench_init bench-tcp
conns=${BENCH_TCP_CONNS:-1000}
runs=${BENCH_TCP_RUNS:-3}
csv=$PWD/$BUILD/bench-tcp.csv

[ "$(id -u)" -eq 0 ] || die "needs root (TCP repair, the network lock)"
bench_build "$BUILD/targets/sk_echo" -- bench_run bench_tcp_clients
bench_workdir bench-tcp
server= clients= restored=
cleanup() {
	exec 7>&- 2>/dev/null
	for p in $server $clients $restored; do kill -9 "$p" 2>/dev/null; done
	[ -z "${BENCH_DIR:-}" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# run_timed CMD...: wall_ns and cpu_ns (user + system) of one command.
run_timed() { bench_timed "$@" || wall_ns= cpu_ns=; }

# The server with only stdio (a stray inherited fd is nothing restore can
# redo), then n clients holding connections to it.
start() {
	local n=$1 i
	: > "$work/server.out"
	(
		bench_only_stdio
		exec "$BUILD/targets/sk_echo" 4 < /dev/null
	) > "$work/server.out" 2>&1 &
	server=$!
	for i in $(seq 100); do grep -q READY "$work/server.out" && break; sleep 0.1; done
	port=$(sed -n 's/^READY.* port=\([0-9]*\).*/\1/p' "$work/server.out")
	[ -n "$port" ] || die "the echo server did not start"
	rm -f "$work/ctl" && mkfifo "$work/ctl"
	"$tools/bench_tcp_clients" "$port" "$n" < "$work/ctl" > "$work/clients.out" 2>&1 &
	clients=$!
	exec 7> "$work/ctl"
	for i in $(seq 600); do grep -q 'READY\|FAIL' "$work/clients.out" && break; sleep 0.1; done
	grep -q READY "$work/clients.out" || die "$n clients did not connect: $(cat "$work/clients.out")"
}

# Dump --kill, restore, then every connection must answer.
one() {
	local n=$1 run=$2 dump_ns restore_ns dump_cpu restore_cpu ok
	start "$n"
	rm -rf "$work/img" && mkdir "$work/img"
	run_timed "$bin" dump -t "$server" -D "$work/img" --kill --tcp-established
	dump_ns=$wall_ns dump_cpu=$cpu_ns
	wait "$server" 2>/dev/null
	server=
	rm -f "$work/pid"
	run_timed "$bin" restore -D "$work/img" -d --tcp-established --pidfile "$work/pid"
	restore_ns=$wall_ns restore_cpu=$cpu_ns
	restored=$(cat "$work/pid" 2>/dev/null)
	echo check >&7
	for i in $(seq 600); do grep -q '^OK\|^FAIL' "$work/clients.out" && break; sleep 0.1; done
	ok=$(grep -c "^OK $n" "$work/clients.out")
	grep '^FAIL' "$work/clients.out" >&2
	# the clients reset their connections at the end of their input (no
	# socket of this run is left for the next one's dump to walk), then
	# the server goes
	exec 7>&-
	wait "$clients" 2>/dev/null
	kill -9 $restored 2>/dev/null
	clients= restored=
	echo "$n,$run,${dump_ns:-},${restore_ns:-},${dump_cpu:-},${restore_cpu:-},$ok" >> "$csv"
	awk -v n="$n" -v d="${dump_ns:-0}" -v r="${restore_ns:-0}" -v ok="$ok" 'BEGIN {
		printf "  %5d connections: dump %8.1f ms  restore %8.1f ms  %s\n", n, d / 1e6,
		       r / 1e6, ok ? "all answer" : "NOT ALL ANSWER"
	}' >&2
}

echo "connections,run,dump_wall_ns,restore_wall_ns,dump_cpu_ns,restore_cpu_ns,all_answer" > "$csv"
for run in $(seq "$runs"); do
	one 0 "$run"
	one "$conns" "$run"
done
python3 - "$csv" "$conns" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
n = int(sys.argv[2])
def med(c, f):
    v = [float(r[f]) for r in rows if int(r["connections"]) == c and r[f]]
    return statistics.median(v) if v else None
def ms(v):
    return "-" if v is None else "%.1f" % (v / 1e6)
# Each run's ratio, its two servers timed one after the other: the spread
# says how far one median of a few runs can be trusted on this machine.
def per_run(f):
    by = {}
    for r in rows:
        if r[f]:
            by.setdefault(r["run"], {})[int(r["connections"])] = float(r[f])
    return [v[n] / v[0] for v in by.values() if v.get(0) and v.get(n)]
print()
print("== TCP: an echo server with %d established connections vs none, median of %d runs =="
      % (n, len(rows) // 2))
print("%-12s %10s %10s %7s   %10s %10s %7s" % ("", "wall 0", "wall %d" % n, "ratio",
                                               "cpu 0", "cpu %d" % n, "ratio"))
ok = all(r["all_answer"] == "1" for r in rows if int(r["connections"]) == n)
for what, step in (("dump --kill", "dump"), ("restore", "restore")):
    a, b = med(0, step + "_wall_ns"), med(n, step + "_wall_ns")
    ca, cb = med(0, step + "_cpu_ns"), med(n, step + "_cpu_ns")
    r = b / a if a and b else None
    cr = cb / ca if ca and cb else None
    print("%-12s %10s %10s %7s   %10s %10s %7s" % (what, ms(a), ms(b),
          "-" if r is None else "%.2fx" % r, ms(ca), ms(cb), "-" if cr is None else "%.2fx" % cr))
    runs = per_run(step + "_wall_ns")
    if runs and a and b:
        print("%-12s runs %.2fx to %.2fx; %.1f us a connection more" %
              ("", min(runs), max(runs), (b - a) / n / 1e3))
    print("%s  %s with %d connections: %s the wall time without (target <= 2x)" %
          ("PASS" if r and r <= 2 else "MISS", what, n, "-" if r is None else "%.2fx" % r))
print("%s  every connection answered after restore" % ("PASS" if ok else "MISS"))
EOF
