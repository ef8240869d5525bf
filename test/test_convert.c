/* convert on real dumps: a target parks four threads in known functions
 * with known locals, globals and vector registers (convert_threads.c); it
 * is dumped with criu-lite and converted, and gdb, eu-stack and lldb must
 * show on our core what they show on gdb's own gcore of the same process
 * (and what the target says it holds), without a single warning. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test/helpers.h"

#define OUT_MAX (256 * 1024)

static const char *const park[] = { NULL, "park_alpha", "park_beta", "park_gamma", "park_delta" };
static const char *const local[] = { NULL, "local_alpha=0xa1fa", "local_beta=0xbe7a",
				     "local_gamma=0x6a33a", "local_delta=0xde17a" };

struct live {
	struct target t;
	char dir[256], dump[300], core[300], gcore[300];
	pid_t tid[5];		/* [0] the main thread, [n] the one in park[n] */
	bool avx512;
};

/* Dump the target, convert, and (optionally) gcore it; then kill it. */
static void live_setup(struct live *l, bool with_gcore)
{
	static const char *const keys[] = { "pid", "alpha", "beta", "gamma", "delta" };
	char pid[16], err[4096];
	int r;

	target_start(&l->t, "convert_threads", NULL);
	for (int i = 0; i < 5; i++)
		l->tid[i] = (pid_t)target_ready_u64(&l->t, keys[i]);
	/* READY is printed on the way to pause(): eu-stack must find it there. */
	wait_in_syscall(l->t.pid, l->t.pid, SYS_pause);
	l->avx512 = target_ready_u64(&l->t, "avx512");
	make_tmpdir(l->dir, sizeof(l->dir), "conv-live");
	snprintf(l->dump, sizeof(l->dump), "%s/dump", l->dir);
	snprintf(l->core, sizeof(l->core), "%s/core", l->dir);
	cr_assert_eq(mkdir(l->dump, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", l->t.pid);
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", l->dump, NULL);
	cr_assert_eq(r, 0, "criu-lite dump failed (%d): %s", r, err);
	r = run_criu_lite(err, sizeof(err), "convert", "-D", l->dump, "-o", l->core, NULL);
	cr_assert_eq(r, 0, "criu-lite convert failed (%d): %s", r, err);
	cr_expect_str_empty(err, "convert printed: %s", err);
	if (with_gcore) {
		/* The threads spin on: functions, locals and registers stay. */
		r = run_cmd(NULL, 0, "gcore -o '%s/gcore' %d >/dev/null 2>&1", l->dir, l->t.pid);
		cr_assert_eq(r, 0, "gcore failed");
		snprintf(l->gcore, sizeof(l->gcore), "%s/gcore.%d", l->dir, l->t.pid);
	}
	target_kill(&l->t);
}

static void live_done(struct live *l)
{
	target_kill(&l->t);
	rm_rf(l->dir);
}

/* One line per thread, sorted by LWP: its three innermost functions, the
 * locals named local_* of the frame-0 function, and the vector registers. */
static const char probe_py[] =
	"import gdb\n"
	"def val(e):\n"
	"    try:\n"
	"        return gdb.parse_and_eval(e).format_string(format='x')\n"
	"    except gdb.error as ex:\n"
	"        return 'ERR(%s)' % ex\n"
	"def locals_of(f):\n"
	"    out = []\n"
	"    try:\n"
	"        b = f.block()\n"
	"    except RuntimeError:\n"
	"        return out\n"
	"    while b is not None:\n"
	"        for s in b:\n"
	"            if s.is_variable and s.name.startswith('local_'):\n"
	"                out.append('%s=%s' % (s.name, s.value(f).format_string(format='x')))\n"
	"        if b.function is not None:\n"
	"            break\n"
	"        b = b.superblock\n"
	"    return out\n"
	"for t in sorted(gdb.selected_inferior().threads(), key=lambda t: t.ptid[1]):\n"
	"    t.switch()\n"
	"    f = gdb.newest_frame()\n"
	"    loc = locals_of(f)\n"
	"    names = []\n"
	"    while f is not None and len(names) < 3:\n"
	"        names.append(str(f.name()))\n"
	"        f = f.older()\n"
	"    print('THREAD %d %s %s ymm1=%s xmm0=%s zmm17=%s k1=%s' % (t.ptid[1], ','.join(names),\n"
	"          ' '.join(loc), val('$ymm1.v4_int64'), val('$xmm0.v2_int64'),\n"
	"          val('$zmm17.v8_int64'), val('$k1')))\n";

static void run_gdb(const struct live *l, const char *core, char *out)
{
	char py[320];
	FILE *f;
	int r;

	snprintf(py, sizeof(py), "%s/probe.py", l->dir);
	f = fopen(py, "w");
	cr_assert_not_null(f);
	fputs(probe_py, f);
	fclose(f);
	r = run_cmd(out, OUT_MAX,
		    "gdb -batch -nx -ex 'set pagination off' -ex 'set width 0' '%s' '%s' "
		    "-ex 'thread apply all bt' -ex 'source %s' -ex 'info registers rip' "
		    "-ex 'p/x some_global' -ex 'x/4gx &global_array' -ex 'info sharedlibrary' 2>&1",
		    target_path("convert_threads"), core, py);
	cr_assert_eq(r, 0, "gdb failed: %s", out);
}

/* The THREAD line of tid, into buf. */
static bool thread_line(const char *out, pid_t tid, char *buf, size_t len)
{
	char key[32];
	const char *p;

	snprintf(key, sizeof(key), "THREAD %d ", tid);
	p = strstr(out, key);
	if (!p)
		return false;
	snprintf(buf, len, "%.*s", (int)strcspn(p, "\n"), p);
	return true;
}

/* The part of a THREAD line after `key`, up to the next space. */
static void field(const char *line, const char *key, char *buf, size_t len)
{
	const char *p = strstr(line, key);

	snprintf(buf, len, "%.*s", p ? (int)strcspn(p, " ") : 0, p ? p : "");
}

static const char *after(const char *out, const char *key)
{
	const char *p = strstr(out, key);

	return p ? p : "";
}

static void expect_known_values(const struct live *l, const char *out, const char *who)
{
	char line[2048], want[512];

	for (int n = 1; n <= 4; n++) {
		unsigned long long y = 0x1111111111111111ull * n, x = 0x0a0a0a0a0a0a0a00ull + n;

		cr_assert(thread_line(out, l->tid[n], line, sizeof(line)), "%s: no thread %d: %s",
			  who, l->tid[n], out);
		snprintf(want, sizeof(want), "THREAD %d %s,thread_main,start_thread %s ", l->tid[n],
			 park[n], local[n]);
		cr_expect_eq(strncmp(line, want, strlen(want)), 0, "%s: %s\nwanted %s", who, line,
			     want);
		snprintf(want, sizeof(want), "ymm1={0x%llx, 0x%llx, 0x%llx, 0x%llx}", y, y, y, y);
		cr_expect_not_null(strstr(line, want), "%s: %s", who, line);
		snprintf(want, sizeof(want), "xmm0={0x%llx, 0x%llx}", x, x);
		cr_expect_not_null(strstr(line, want), "%s: %s", who, line);
	}
	cr_assert(thread_line(out, l->tid[0], line, sizeof(line)), "%s: no main thread", who);
	cr_expect_not_null(strstr(line, ",main"), "%s: %s", who, line);
	cr_expect_not_null(strstr(out, "$1 = 0x5eed1234"), "%s: %s", who, out);
	cr_expect_not_null(strstr(out, "0x1111222233334444\t0x5555666677778888"), "%s: %s", who,
			   out);
	cr_expect_not_null(strstr(out, "0x99990000aaaabbbb\t0xccccddddeeeeffff"), "%s", who);
	cr_expect_not_null(strstr(out, "Yes         /lib/x86_64-linux-gnu/libc.so.6"), "%s: %s",
			   who, out);
}

/* AVX-512 state: zmm17 (Hi16_ZMM) and k1 (opmask) live where AMD and Intel
 * disagree. gdb 13 reads them at Intel's offsets, so on AMD its own gcore
 * records zeros there; our core is checked against the target's values. */
static void expect_avx512(const struct live *l, const char *out)
{
	char line[2048], want[512], got[512];

	for (int n = 1; n <= 4; n++) {
		unsigned long long z = 0x7700000000000000ull + n;

		thread_line(out, l->tid[n], line, sizeof(line));
		snprintf(want, sizeof(want), "zmm17={0x%llx, 0x%llx, 0x%llx, 0x%llx, 0x%llx, "
			 "0x%llx, 0x%llx, 0x%llx}", z, z, z, z, z, z, z, z);
		field(line, "zmm17=", got, sizeof(got));
		cr_expect_not_null(strstr(line, want), "thread %d: %s", n, line);
		snprintf(want, sizeof(want), "k1=0x%x", 0x5a00 + n);
		field(line, "k1=", got, sizeof(got));
		cr_expect_str_eq(got, want, "thread %d: %s", n, line);
	}
}

Test(convert, gdb_same_as_gcore, .timeout = 120)
{
	struct live l;
	char *ours = malloc(OUT_MAX), *theirs = malloc(OUT_MAX);
	char a[2048], b[2048], fa[512], fb[512];

	live_setup(&l, true);
	run_gdb(&l, l.core, ours);
	run_gdb(&l, l.gcore, theirs);

	cr_expect_null(strcasestr(ours, "warning"), "gdb warns on our core:\n%s", ours);
	cr_expect_null(strstr(ours, "??"), "unknown frames on our core:\n%s", ours);
	cr_expect_null(strstr(ours, "Cannot access memory"), "%s", ours);
	expect_known_values(&l, ours, "our core");
	expect_known_values(&l, theirs, "gcore");
	if (l.avx512)
		expect_avx512(&l, ours);

	/* Thread by thread, the same functions, locals and SSE/AVX values. */
	for (int n = 0; n <= 4; n++) {
		cr_assert(thread_line(ours, l.tid[n], a, sizeof(a)));
		cr_assert(thread_line(theirs, l.tid[n], b, sizeof(b)));
		field(a, "ymm1=", fa, sizeof(fa));
		field(b, "ymm1=", fb, sizeof(fb));
		if (n)	/* main's ymm1 is whatever libc left there */
			cr_expect_str_eq(fa, fb);
		*strstr(a, " ymm1=") = *strstr(b, " ymm1=") = '\0';
		cr_expect_str_eq(a, b, "ours and gcore's differ");
	}
	/* Same libraries at the same addresses. */
	cr_expect_str_eq(after(ours, "From "), after(theirs, "From "));
	free(ours);
	free(theirs);
	live_done(&l);
}

Test(convert, eu_stack_and_lldb, .timeout = 120)
{
	struct live l;
	char *out = malloc(OUT_MAX);
	char key[64], want[128];

	live_setup(&l, false);
	cr_assert_eq(run_cmd(out, OUT_MAX, "eu-stack --core '%s' -e '%s' 2>&1", l.core,
			     target_path("convert_threads")), 0, "eu-stack: %s", out);
	for (int n = 0; n <= 4; n++) {
		const char *p;

		snprintf(key, sizeof(key), "TID %d:\n", l.tid[n]);
		p = strstr(out, key);
		cr_assert_not_null(p, "eu-stack lacks thread %d: %s", l.tid[n], out);
		snprintf(want, sizeof(want), " %s\n", n ? park[n] : "pause");
		cr_expect_not_null(strstr(p, want), "eu-stack, thread %d: %s", l.tid[n], out);
	}
	cr_expect_null(strstr(out, "??"), "%s", out);

	cr_assert_eq(run_cmd(out, OUT_MAX, "readelf -n '%s' 2>&1 && eu-readelf --notes '%s' 2>&1",
			     l.core, l.core), 0, "%s", out);
	cr_expect_null(strcasestr(out, "warning"), "%s", out);
	cr_expect_null(strcasestr(out, "invalid"), "%s", out);
	snprintf(want, sizeof(want), "pid: %d, ppid: %d", l.tid[0], getpid());
	cr_expect_not_null(strstr(out, want), "%s", out);
	cr_expect_not_null(strstr(out, "fname: convert_threads"), "%s", out);

	cr_assert_eq(access("/usr/bin/lldb", X_OK), 0, "lldb is not installed");
	cr_assert_eq(run_cmd(out, OUT_MAX, "lldb --batch -c '%s' '%s' -o 'thread backtrace all' "
			     "2>/dev/null", l.core, target_path("convert_threads")), 0,
		     "lldb: %s", out);
	cr_expect_not_null(strstr(out, "thread #5"), "lldb: %s", out);
	for (int n = 1; n <= 4; n++) {
		snprintf(want, sizeof(want), "convert_threads`%s", park[n]);
		cr_expect_not_null(strstr(out, want), "lldb: %s", out);
	}
	cr_expect_not_null(strstr(out, "convert_threads`main"), "lldb: %s", out);
	free(out);
	live_done(&l);
}

static int count_entries(const char *dir)
{
	char out[64];

	run_cmd(out, sizeof(out), "ls -A '%s' | wc -l", dir);
	return atoi(out);
}

/* A real dump, damaged or cut short, is refused and leaves no core; so is
 * a core that cannot be written whole (file size limit). */
Test(convert, damaged_real_dump_refused, .timeout = 60)
{
	struct live l;
	char out[4096], outdir[300], pages[400];
	struct stat st;

	live_setup(&l, false);
	snprintf(outdir, sizeof(outdir), "%s/out", l.dir);
	cr_assert_eq(mkdir(outdir, 0700), 0);

	cr_expect_eq(run_cmd(out, sizeof(out), "ulimit -f 64; '%s' convert -D '%s' -o '%s/core' "
			     "2>&1", criu_lite_path(), l.dump, outdir), 1, "%s", out);
	cr_expect_eq(count_entries(outdir), 0, "half a core left behind");

	snprintf(pages, sizeof(pages), "%s/pages-%d.img", l.dump, l.tid[0]);
	cr_assert_eq(stat(pages, &st), 0);
	cr_assert_eq(truncate(pages, st.st_size / 2), 0);
	reseal_dump(l.dump);	/* past the checksum, to the rule on runs */
	cr_expect_eq(run_cmd(out, sizeof(out), "'%s' convert -D '%s' -o '%s/core' 2>&1",
			     criu_lite_path(), l.dump, outdir), 1);
	cr_expect_not_null(strstr(out, "pagemap-"), "%s", out);
	cr_expect_eq(count_entries(outdir), 0);

	snprintf(pages, sizeof(pages), "%s/inventory.img", l.dump);
	cr_assert_eq(unlink(pages), 0);
	cr_expect_eq(run_cmd(out, sizeof(out), "'%s' convert -D '%s' -o '%s/core' 2>&1",
			     criu_lite_path(), l.dump, outdir), 1);
	cr_expect_not_null(strstr(out, "not a complete dump"), "%s", out);
	cr_expect_eq(count_entries(outdir), 0);
	live_done(&l);
}
