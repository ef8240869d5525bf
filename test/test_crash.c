/* The crash intake, for real: core_pattern points the kernel at our socket
 * (or pipe helper), a test program crashes in a known function, and the
 * test checks what a user would: the crash is listed, gdb shows the
 * function on the stored core, and `crash import` + `restore --stopped`
 * gives a live copy gdb can attach to and call into.
 *
 * core_pattern is system-wide, so every test that sets it: holds a lock
 * (one at a time, across suites and parallel runs), uses "@@" with a socket
 * in a fresh temp dir and a server that REJECTs every crash but its own
 * crasher's, puts the previous pattern back only if it still holds its own
 * value, and first leaves a detached watchdog that does the same should the
 * test be killed. A machine is never left pointing at a dead socket. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criu-lite/crash/crash_store.h"
#include "test/crash_util.h"
#include "test/helpers.h"
#include "test/replay_util.h"

static int crashes_list(const char *store, char *out, size_t len)
{
	return run_cmd(out, len, "%s crashes -S %s 2>&1", criu_lite_path(), store);
}

static bool store_has_tmp(const char *store)
{
	char out[4096];

	run_cmd(out, sizeof(out), "ls -A %s", store);
	return strstr(out, ".tmp-") != NULL;
}

/* ---- a real crash through the socket ---- */

struct caught {
	char dir[256], sock[300], store[300], log[300];
	struct target t;
	pid_t server;
	struct guard g;
};

/* Crash crash_segv (ballast MiB of heap) with a server on "@@sock". */
static int catch_crash_t(struct caught *c, const char *mib, const char *fault, const char *limit)
{
	int st;

	make_tmpdir(c->dir, sizeof(c->dir), "crash");
	snprintf(c->sock, sizeof(c->sock), "%s/sock", c->dir);
	snprintf(c->store, sizeof(c->store), "%s/store", c->dir);
	snprintf(c->log, sizeof(c->log), "%s/server.log", c->dir);
	crasher_start(&c->t, mib);
	guard_begin(&c->g);
	if (fault)
		setenv("CRIU_LITE_FAULT", fault, 1);
	{
		char only[32];

		snprintf(only, sizeof(only), "%d", c->t.pid);
		c->server = server_start(c->log, "-S", c->store, "--socket", c->sock, "--only-pid",
					 only, "--timeout", limit, NULL);
	}
	unsetenv("CRIU_LITE_FAULT");
	guard_set(&c->g, "@@%s", c->sock);
	kill(c->t.pid, SIGUSR1);
	if (fault)
		return 0;
	st = wait_end(c->t.pid, 30000);
	guard_end(&c->g);
	cr_assert_neq(st, -1, "the crasher is still not released");
	c->t.pid = 0;
	return st;
}

static int catch_crash(struct caught *c, const char *mib, const char *fault)
{
	return catch_crash_t(c, mib, fault, "30");
}

static void caught_end(struct caught *c)
{
	guard_end(&c->g);
	if (c->server > 0)
		server_stop(c->server);
	target_kill(&c->t);
}

/* After a crash the server gave up on: once it stopped, neither a listed
 * crash nor a half-written one is left in the store ("a <what> core"). */
static void expect_nothing_stored(struct caught *c, const char *what)
{
	char list[4096];

	server_stop(c->server);
	c->server = 0;
	crashes_list(c->store, list, sizeof(list));
	cr_expect(strstr(list, "no crashes"), "a %s core is listed:\n%s", what, list);
	cr_expect(!store_has_tmp(c->store), "a half-written crash was left in the store");
	caught_end(c);
}

/* The first column of the `crashes` line naming pid. */
static void crash_id(const char *list, pid_t pid, char *id, size_t len)
{
	char needle[32];
	const char *p;

	snprintf(needle, sizeof(needle), " %d ", pid);
	p = strstr(list, needle);
	cr_assert_not_null(p, "pid %d is not in the list:\n%s", pid, list);
	while (p > list && p[-1] != '\n')
		p--;
	snprintf(id, len, "%.*s", (int)strcspn(p, " "), p);
}

static void check_record(const char *store, const char *id, pid_t pid)
{
	char path[512];
	CrashEntry *ce;
	bool stdout_pipe = false;
	int dfd;

	snprintf(path, sizeof(path), "%s/%s", store, id);
	dfd = open(path, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_read_one(dfd, IMG_CRASH, 0, true, (void **)&ce), 0);
	close(dfd);
	cr_expect_eq(ce->pid, (uint32_t)pid);
	cr_expect_eq(ce->tid, (uint32_t)pid, "the crashing thread is the main one");
	cr_expect_eq(ce->signal, SIGSEGV);
	cr_expect(ce->has_fault_addr && ce->fault_addr == 0, "the fault address is NULL");
	cr_expect(ce->exe && strstr(ce->exe, "crash_segv"), "exe %s", ce->exe ? ce->exe : "-");
	cr_expect_gt(ce->n_maps, 5);
	for (size_t i = 0; i < ce->n_fds; i++)
		if (ce->fds[i]->fd == 1 && ce->fds[i]->type == FD_TYPE__FD_PIPE)
			stdout_pipe = true;
	cr_expect(stdout_pipe, "the record does not show fd 1 as the pipe it was");
	cr_expect(ce->environ.len > 0 && ce->limits && ce->cgroup && ce->status);
	/* Sparse: the never-touched stack and heap pages are holes. */
	cr_expect_lt(ce->core_disk, ce->core_size);
	img_free(ce);
}

static void check_replay(const char *dir, const char *store, pid_t pid)
{
	char img[512], pidf[512], err[4096], out[16384];
	pid_t rp;
	FILE *f;

	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(pidf, sizeof(pidf), "%s/replay.pid", dir);
	cr_assert_eq(run_cmd(out, sizeof(out), "%s crash import %d -S %s -D %s 2>&1",
			     criu_lite_path(), pid, store, img), 0, "crash import failed:\n%s", out);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "restore", "-D", img, "--stopped", "-d",
				   "--pidfile", pidf, NULL), 0, "restore of the crash failed: %s", err);
	f = fopen(pidf, "r");
	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%d", &rp), 1);
	fclose(f);
	cr_assert_eq(run_cmd(out, sizeof(out), "timeout 60 gdb -nx -batch -p %d "
			     "-ex 'handle SIGSTOP nostop noprint nopass' -ex bt "
			     "-ex 'print heap_note' -ex 'print add_numbers(40, 2)' 2>&1", rp), 0);
	kill(rp, SIGKILL);
	cr_expect(strstr(out, "#0 ") && strstr(strstr(out, "#0 "), "crash_here"),
		  "the replay is not stopped in crash_here:\n%s", out);
	cr_expect(strstr(out, "\"crash heap note\""), "the heap is not back:\n%s", out);
	cr_expect(strstr(out, " = 42"), "gdb could not call add_numbers():\n%s", out);
}

/* The same import as a replay (issue 14): isolated, the same gdb session. */
static void check_isolated_replay(const char *dir)
{
	char img[512], out[16384];
	struct rp r;

	snprintf(img, sizeof(img), "%s/img", dir);
	rp_start(&r, img, NULL);
	cr_assert_eq(rp_gdb(r.root, out, sizeof(out), "-ex bt -ex 'print add_numbers(40, 2)'"), 0,
		     "gdb on the replay of the crash:\n%s", out);
	rp_end(&r);
	cr_expect(strstr(out, "#0 ") && strstr(strstr(out, "#0 "), "crash_here"),
		  "the replay is not stopped in crash_here:\n%s", out);
	cr_expect(strstr(out, " = 42"), "gdb could not call add_numbers() in the replay:\n%s", out);
}

Test(crash, socket_crash_is_stored_debugged_and_replayed, .timeout = 180)
{
	char list[8192], id[CRASH_ID_MAX], out[16384], core[512];
	struct caught c = { .g.lock = -1 };
	pid_t pid;
	int st;

	st = catch_crash(&c, "0", NULL);
	pid = (pid_t)target_ready_u64(&c.t, "pid");
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && WCOREDUMP(st),
		  "the crasher ended with status %#x, not a SIGSEGV core dump", st);
	cr_expect(file_has(c.log, "stored as", 10000), "the server stored nothing");
	cr_assert_eq(server_stop(c.server), 0, "the server did not stop cleanly");
	c.server = 0;

	cr_assert_eq(crashes_list(c.store, list, sizeof(list)), 0, "%s", list);
	cr_expect(strstr(list, "SIGSEGV") && strstr(list, "crash_segv"), "%s", list);
	crash_id(list, pid, id, sizeof(id));
	check_record(c.store, id, pid);

	cr_expect_eq(run_cmd(out, sizeof(out), "%s crash info %s -S %s 2>&1", criu_lite_path(), id,
			     c.store), 0);
	cr_expect(strstr(out, "Backtrace") && strstr(out, "crash_here"),
		  "crash info shows no crash_here:\n%s", out);
	/* What `crash gdb` runs, in batch mode. */
	snprintf(core, sizeof(core), "%s/%s/core", c.store, id);
	cr_expect_eq(run_cmd(out, sizeof(out), "gdb -nx -batch -ex bt -ex 'print crash_marker' %s %s "
			     "2>&1", target_path("crash_segv"), core), 0);
	cr_expect(strstr(out, "crash_here") && strstr(out, "305441741"),
		  "gdb on the stored core:\n%s", out);

	check_replay(c.dir, c.store, pid);
	check_isolated_replay(c.dir);
	caught_end(&c);
	rm_rf(c.dir);
}

/* ---- failures: a clear message, the crasher released, nothing listed ---- */

Test(crash, peer_gone_mid_core_is_discarded, .timeout = 120)
{
	struct caught c = { .g.lock = -1 };
	int st;

	/* The server stops reading after 1 MiB of a ~64 MiB core (fault
	 * injection); the crasher is then killed, which aborts the dump. */
	catch_crash(&c, "64", "core-stall:1048576");
	cr_assert(file_has(c.log, "stalls after", 20000), "the server never got the core");
	kill(c.t.pid, SIGKILL);
	st = wait_end(c.t.pid, 30000);
	guard_end(&c.g);
	cr_assert_neq(st, -1, "the killed crasher was never released");
	c.t.pid = 0;
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
	cr_expect(file_has(c.log, "went away mid-core", 20000),
		  "no clear message about the cut core");
	expect_nothing_stored(&c, "cut");
	rm_rf(c.dir);
}

/* A crash the server cannot finish (here: it stops reading) is cut at the
 * time limit: the crasher goes on dying, nothing is listed. */
Test(crash, stuck_crash_is_cut_at_the_time_limit, .timeout = 120)
{
	struct caught c = { .g.lock = -1 };
	int st;

	catch_crash_t(&c, "16", "core-stall:65536", "2");
	st = wait_end(c.t.pid, 60000);
	guard_end(&c.g);
	cr_assert_neq(st, -1, "the stuck crasher was never released");
	c.t.pid = 0;
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x", st);
	cr_expect(file_has(c.log, "time limit", 20000), "no clear message about the time limit");
	expect_nothing_stored(&c, "cut");
	rm_rf(c.dir);
}

Test(crash, full_store_releases_the_crasher, .timeout = 120)
{
	struct caught c = { .g.lock = -1 };
	char small[256];
	int st;

	make_tmpdir(small, sizeof(small), "crash-small");
	cr_assert_eq(mount("tmpfs", small, "tmpfs", 0, "size=1m"), 0, "mount: %s", strerror(errno));
	/* catch_crash makes its own dir: point its store into the small fs. */
	make_tmpdir(c.dir, sizeof(c.dir), "crash");
	snprintf(c.sock, sizeof(c.sock), "%s/sock", c.dir);
	snprintf(c.store, sizeof(c.store), "%s/store", small);
	snprintf(c.log, sizeof(c.log), "%s/server.log", c.dir);
	crasher_start(&c.t, "8");
	guard_begin(&c.g);
	{
		char only[32];

		snprintf(only, sizeof(only), "%d", c.t.pid);
		c.server = server_start(c.log, "-S", c.store, "--socket", c.sock, "--only-pid", only,
					NULL);
	}
	guard_set(&c.g, "@@%s", c.sock);
	kill(c.t.pid, SIGUSR1);
	st = wait_end(c.t.pid, 30000);
	guard_end(&c.g);
	cr_assert_neq(st, -1, "the crasher was never released");
	c.t.pid = 0;
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x", st);
	cr_expect(file_has(c.log, "No space left", 20000), "no clear message about the full store");
	expect_nothing_stored(&c, "partial");
	umount2(small, MNT_DETACH);
	rm_rf(small);
	rm_rf(c.dir);
}

Test(crash, install_puts_the_pattern_back, .timeout = 60)
{
	char dir[200], sock[230], store[230], log[230], now[256], want[240], self[32];
	struct guard g = { .lock = -1 };
	pid_t srv;

	make_tmpdir(dir, sizeof(dir), "crash-inst");
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(log, sizeof(log), "%s/server.log", dir);
	snprintf(self, sizeof(self), "%d", getpid());	/* a pid that will not crash */
	guard_begin(&g);
	/* The server will write this: the watchdog covers it should we die. */
	snprintf(want, sizeof(want), "@@%s", sock);
	snprintf(g.ours, sizeof(g.ours), "%s", want);
	watchdog(g.old, g.ours);
	srv = server_start(log, "-S", store, "--socket", sock, "--install", "--only-pid", self, NULL);
	pattern_read(now, sizeof(now));
	cr_expect_str_eq(now, want);
	cr_expect_eq(server_stop(srv), 0);
	pattern_read(now, sizeof(now));
	cr_expect_str_eq(now, g.old, "the previous pattern is not back");
	cr_expect_neq(access(sock, F_OK), 0, "the socket was left behind");
	guard_end(&g);
	rm_rf(dir);
}

static void expect_refused(const char *sock, const char *store, const char *why)
{
	char err[4096];
	int r = run_criu_lite(err, sizeof(err), "coredump-server", "-S", store, "--socket", sock,
			      NULL);

	cr_expect_eq(r, 1, "the server accepted %s / %s (status %d): %s", sock, store, r, err);
	cr_expect(strstr(err, why), "expected '%s' in: %s", why, err);
}

Test(crash, bad_socket_paths_and_stores_are_refused, .timeout = 60)
{
	char dir[256], store[300], sock[400], ro[300];

	make_tmpdir(dir, sizeof(dir), "crash-bad");
	snprintf(store, sizeof(store), "%s/store", dir);
	expect_refused("relative/sock", store, "relative");
	snprintf(sock, sizeof(sock), "%s/../sock", dir);
	expect_refused(sock, store, "'..'");
	snprintf(sock, sizeof(sock), "%s/real", dir);
	cr_assert_eq(mkdir(sock, 0700), 0);
	snprintf(sock, sizeof(sock), "%s/link", dir);
	cr_assert_eq(symlink("real", sock), 0);
	snprintf(sock, sizeof(sock), "%s/link/sock", dir);
	expect_refused(sock, store, "symbolic link");
	/* Root writes through permissions: a read-only mount is what stops it. */
	snprintf(ro, sizeof(ro), "%s/ro", dir);
	cr_assert_eq(mkdir(ro, 0700), 0);
	cr_assert_eq(mount(ro, ro, NULL, MS_BIND, NULL), 0);
	cr_assert_eq(mount(NULL, ro, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	expect_refused(sock, ro, "not writable");
	umount2(ro, MNT_DETACH);
	cr_expect_neq(access(sock, F_OK), 0, "a refused server left its socket");
	rm_rf(dir);
}

/* ---- pipe mode ---- */

Test(crash, pipe_handler_stores_the_crash, .timeout = 120)
{
	char dir[256], link[300], store[300], list[8192], out[16384], id[CRASH_ID_MAX], exe[4096];
	struct guard g = { .lock = -1 };
	struct target t;
	long end;
	int st;

	/* core_pattern holds 127 bytes: a short temp dir and a link to us. */
	snprintf(dir, sizeof(dir), "/tmp/cl-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/h", dir);
	snprintf(store, sizeof(store), "%s/s", dir);
	cr_assert_not_null(realpath(criu_lite_path(), exe));
	cr_assert_eq(symlink(exe, link), 0);
	crasher_start(&t, "0");
	guard_begin(&g);
	guard_set(&g, "|%s coredump-handler -S %s -p %d %%P %%u %%g %%s %%t %%c %%h %%F", link, store,
		  t.pid);
	kill(t.pid, SIGUSR1);
	st = wait_end(t.pid, 30000);
	guard_end(&g);
	cr_assert_neq(st, -1, "the crasher is still not released");
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && WCOREDUMP(st), "status %#x", st);
	/* The helper publishes after the kernel is done with the crasher. */
	end = now_ms() + 20000;
	do {
		crashes_list(store, list, sizeof(list));
		if (strstr(list, "SIGSEGV"))
			break;
		usleep(50 * 1000);
	} while (now_ms() < end);
	crash_id(list, t.pid, id, sizeof(id));
	cr_expect_eq(run_cmd(out, sizeof(out), "%s crash info %s -S %s 2>&1", criu_lite_path(), id,
			     store), 0);
	cr_expect(strstr(out, "via pipe") && strstr(out, "crash_here"), "crash info:\n%s", out);
	t.pid = 0;
	target_kill(&t);
	rm_rf(dir);
}

/* ---- the store itself ---- */

static void fake_crash(struct crash_store *s, uint32_t pid, uint64_t t, char *id, size_t len)
{
	struct crash_tmp tmp = { .dirfd = -1 };
	CrashEntry ce = CRASH_ENTRY__INIT;
	static char data[64 * 1024];
	int fd;

	memset(data, 'x', sizeof(data));
	cr_assert_eq(crash_tmp_create(s, &tmp), 0);
	fd = openat(tmp.dirfd, CRASH_CORE_NAME, O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	fsync(fd);
	close(fd);
	ce.time_ns = t * 1000000000ull;
	ce.pid = pid;
	cr_assert_eq(crash_tmp_publish(s, &tmp, &ce, id, len), 0);
	close(tmp.dirfd);
}

static size_t count_crashes(struct crash_store *s, uint32_t *oldest)
{
	struct crash_item *v;
	size_t n;

	cr_assert_eq(crash_store_list(s, &v, &n), 0);
	if (n && oldest)
		*oldest = v[0].ce ? v[0].ce->pid : 0;
	crash_items_free(v, n);
	return n;
}

Test(crash_store, retention_removes_the_oldest_and_sweeps_dead_writers)
{
	char dir[256], id[CRASH_ID_MAX], last[CRASH_ID_MAX], name[64];
	struct crash_store s;
	uint32_t oldest = 0;
	struct crash_item *v;
	size_t n;

	make_tmpdir(dir, sizeof(dir), "crash-store");
	cr_assert_eq(crash_store_open(dir, true, &s), 0);
	for (uint32_t i = 0; i < 5; i++)
		fake_crash(&s, 100 + i, 1700000000 + i, last, sizeof(last));
	/* Same pid, same second: a distinct ID, not an overwrite. */
	fake_crash(&s, 104, 1700000004, id, sizeof(id));
	cr_expect_str_neq(id, last);
	cr_expect_eq(count_crashes(&s, NULL), 6);
	cr_assert_eq(crash_store_retain(&s, 0, 3, NULL), 0);
	cr_expect_eq(count_crashes(&s, &oldest), 3);
	cr_expect_eq(oldest, 103, "kept the wrong ones (oldest left %u)", oldest);
	/* Size: each crash takes at least 64 KiB; 100 KiB keeps one, the newest. */
	cr_assert_eq(crash_store_retain(&s, 100 * 1024, 0, NULL), 0);
	cr_assert_eq(crash_store_list(&s, &v, &n), 0);
	cr_expect_eq(n, 1);
	cr_expect_str_eq(v[0].id, id);
	crash_items_free(v, n);
	/* Lookup by pid: its latest. */
	cr_expect_eq(crash_store_find(&s, "104", last, sizeof(last)), 0);
	cr_expect_str_eq(last, id);
	cr_expect_neq(crash_store_find(&s, "999", last, sizeof(last)), 0);
	/* A writer that died mid-crash leaves a temp dir; a live one keeps it. */
	snprintf(name, sizeof(name), ".tmp-%d-dead00", 0x3fffffff);
	cr_assert_eq(mkdirat(s.dirfd, name, 0700), 0);
	snprintf(name, sizeof(name), ".tmp-%d-alive0", getpid());
	cr_assert_eq(mkdirat(s.dirfd, name, 0700), 0);
	crash_store_sweep(&s);
	cr_expect_neq(faccessat(s.dirfd, ".tmp-1073741823-dead00", F_OK, 0), 0);
	cr_expect_eq(faccessat(s.dirfd, name, F_OK, 0), 0);
	crash_store_close(&s);
	rm_rf(dir);
}
