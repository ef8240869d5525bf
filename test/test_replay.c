/* criu-lite replay (issue 14), as a user would use it: a server is dumped
 * while it runs and replayed while it still runs; gdb attaches to the
 * replay and calls a function that writes to its log and its shared
 * mapping. The original's files stay byte-identical, it answers on its port
 * all along, and the replay, ended, leaves nothing behind. The replay has
 * its dumped pids in a pid namespace of its own, its listener at the old
 * address in a network of its own, and private copies of the files it
 * writes. test/targets/replay_server.c is the server. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/procfs.h"
#include "test/replay_util.h"
#include "test/restore_util.h"

static char dir[256];

static void replay_fini(void)
{
	char shm[64];

	rp_kill_leftovers();
	rt_kill_leftovers();
	snprintf(shm, sizeof(shm), "/dev/shm/criu-lite-replay-%d", getpid());
	unlink(shm);
	if (dir[0])
		rm_rf(dir);
	dir[0] = '\0';
}

TestSuite(replay, .fini = replay_fini);

struct server {
	struct target t;
	char log[300], data[300], img[300];
	char shm[64];	/* its POSIX shm object, /dev/shm/NAME */
	char pid_s[16];
	int port;
	pid_t tid;	/* its serving thread */
	int shmid;	/* its SysV segment */
};

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void server_start(struct server *s)
{
	static const char zero[4096];

	make_tmpdir(dir, sizeof(dir), "replay");
	snprintf(s->log, sizeof(s->log), "%s/server.log", dir);
	snprintf(s->data, sizeof(s->data), "%s/server.data", dir);
	snprintf(s->img, sizeof(s->img), "%s/img", dir);
	write_file(s->log, "", 0);
	write_file(s->data, zero, sizeof(zero));
	cr_assert_eq(mkdir(s->img, 0700), 0);
	snprintf(s->shm, sizeof(s->shm), "/dev/shm/criu-lite-replay-%d", getpid());
	write_file(s->shm, zero, sizeof(zero));
	rt_start(&s->t, target_path("replay_server"), s->log, s->data, s->shm + 8, NULL);
	s->port = (int)target_ready_u64(&s->t, "port");
	s->shmid = (int)target_ready_u64(&s->t, "shmid");
	s->tid = (pid_t)target_ready_u64(&s->t, "tid");
	snprintf(s->pid_s, sizeof(s->pid_s), "%d", s->t.pid);
}

/* What the original answers now: PONG n. */
static long ping(const struct server *s)
{
	char buf[128], state[64] = "gone", tracer[32] = "-";
	long n = -1;

	/* left stopped or traced, or never served: its state says which */
	if (!rp_connect(0, s->port, true, buf, sizeof(buf))) {
		proc_status_field(s->t.pid, "State", state, sizeof(state));
		proc_status_field(s->t.pid, "TracerPid", tracer, sizeof(tracer));
		cr_assert_fail("the original (pid %d) does not answer on port %d: State %s, "
			       "TracerPid %s", s->t.pid, s->port, state, tracer);
	}
	cr_assert_eq(sscanf(buf, "PONG %ld", &n), 1, "the original said '%s'", buf);
	return n;
}

/* Dumped while it runs (the dump leaves it running). */
static void dump_running(struct server *s, const char *img, const char *a1, const char *a2)
{
	char err[4096];
	int st = run_criu_lite(err, sizeof(err), "dump", "-t", s->pid_s, "-D", img, a1, a2, NULL);

	cr_assert_eq(st, 0, "dump failed: %s", err);
}

/* The first two words of a SysV segment, folded. */
static uint64_t sysv_read(int shmid)
{
	volatile long *p = shmat(shmid, NULL, SHM_RDONLY);
	uint64_t v;

	cr_assert_neq((void *)p, (void *)-1, "cannot attach the SysV segment %d", shmid);
	v = (uint64_t)p[0] * 1000003u ^ (uint64_t)p[1];
	shmdt((void *)p);
	return v;
}

/* Some thread of pid has tid `want` in its namespace. */
static bool has_ns_tid(pid_t pid, long want)
{
	char path[64];
	struct dirent *d;
	bool found = false;
	DIR *task;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	task = opendir(path);
	while (task && (d = readdir(task)))
		if (d->d_name[0] != '.' && procfs_ns_pid(pid, atoi(d->d_name)) == want)
			found = true;
	if (task)
		closedir(task);
	return found;
}

Test(replay, server_beside_the_original_writes_only_its_copies, .timeout = 180)
{
	char out[16384], path[400], buf[128];
	size_t log_len, data_len, copy_len, posix_len;
	char *log, *data, *copy, *posix;
	uint64_t sysv_before;
	struct server s;
	struct rp r;

	server_start(&s);
	cr_assert_eq(ping(&s), 1);
	cr_assert_eq(ping(&s), 2);
	dump_running(&s, s.img, NULL, NULL);
	/* The log grew since the dump: no obstacle, the replay's is as dumped. */
	cr_assert_eq(ping(&s), 3);
	log = rp_slurp(s.log, &log_len);
	data = rp_slurp(s.data, &data_len);
	posix = rp_slurp(s.shm, &posix_len);
	cr_assert(log && data && posix);
	sysv_before = sysv_read(s.shmid);

	rp_start(&r, s.img, NULL);
	cr_expect(!rp_same_ns(r.root, "pid") && !rp_same_ns(r.root, "net") &&
		  !rp_same_ns(r.root, "ipc") && !rp_same_ns(r.root, "mnt"),
		  "the replay shares a namespace with the host");
	cr_expect_eq(procfs_ns_pid(r.root, 0), s.t.pid, "the replay's root is not its dumped pid");
	cr_expect(has_ns_tid(r.root, s.tid), "no thread of the replay has the dumped tid %d",
		  s.tid);
	cr_expect_eq(procfs_ns_pid(r.init, 0), 1, "the replay's init is not its pid 1");
	/* Its stdout, a pipe to us (outside the dump), is listed as a stand-in. */
	cr_expect(strstr(rp_said, "fd 1 of ") && strstr(rp_said, "is this command's stdout"),
		  "the stand-in for its stdout is not said: %s", rp_said);

	cr_assert_eq(rp_gdb(r.root, out, sizeof(out), "-ex 'print replay_poke(20)' "
			    "-ex 'print data[0]' -ex 'print/x data[1]' -ex 'print/x posix[1]' "
			    "-ex 'print/x sysv[1]' -ex 'print sysv[0]'"), 0, "gdb:\n%s", out);
	cr_expect(strstr(out, "$1 = 41"), "gdb could not call replay_poke():\n%s", out);
	/* A shared file mapping is the file as of the dump (its copy in the
	 * dump), not as the original went on writing it (the ping since). */
	cr_expect(strstr(out, "$2 = 2\n"), "the shared mapping is not the dump's:\n%s", out);
	cr_expect(strstr(out, "$3 = 0x5050505050505064") && strstr(out, "$4 = 0x5050505050505064") &&
		  strstr(out, "$5 = 0x5050505050505064"), "the call did not write them:\n%s", out);
	/* SysV shm is a copy of the dumped content. */
	cr_expect(strstr(out, "$6 = 2\n"), "the SysV segment is not as dumped:\n%s", out);
	/* The call wrote the replay's copy: the log as dumped, then its line. */
	snprintf(path, sizeof(path), "/proc/%d/root%s", r.root, s.log);
	copy = rp_slurp(path, &copy_len);
	cr_assert_not_null(copy, "cannot read the replay's log");
	cr_expect(copy_len == 22 && !memcmp(copy, "PONG 1\nPONG 2\npoke 20\n", 22),
		  "the replay's log holds '%.*s'", (int)copy_len, copy);
	free(copy);
	/* Its listener is at the old address, in its own network, while the
	 * original holds that address in ours. */
	cr_expect_not_null(rp_connect(r.root, s.port, false, buf, sizeof(buf)),
			   "nothing listens on port %d in the replay's network", s.port);

	rp_expect_same(s.log, log, log_len);
	rp_expect_same(s.data, data, data_len);
	rp_expect_same(s.shm, posix, posix_len);
	cr_expect_eq(sysv_read(s.shmid), sysv_before, "the original's SysV segment changed");
	cr_expect_eq(ping(&s), 4, "the original did not answer on while replayed");
	rp_end(&r);
	cr_expect_eq(ping(&s), 5);
	free(log);
	free(data);
	free(posix);
}

/* criu-lite replay --gdb: gdb attached to the root, continued, stops only at
 * the breakpoint a client of the replay's own network reaches. */
static pid_t verb_start(const struct server *s, const char *pidf, int *out_fd)
{
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execlp("timeout", "timeout", "120", criu_lite_path(), "replay", "-D", s->img,
		       "--pidfile", pidf, "--gdb", "--", "-nx", "-batch", "-ex", "break write",
		       "-ex", "continue", "-ex", "bt", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static size_t read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t k;

	while (n + 1 < len && (k = read(fd, buf + n, len - n - 1)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(fd);
	return n;
}

Test(replay, verb_gdb_continue_does_not_stop_again, .timeout = 180)
{
	char pidf[300], out[32768], buf[64];
	const char *at;
	struct server s;
	pid_t verb, root = 0, init;
	int fd, st;

	server_start(&s);
	dump_running(&s, s.img, NULL, NULL);
	snprintf(pidf, sizeof(pidf), "%s/replay.pid", dir);
	verb = verb_start(&s, pidf, &fd);
	for (int i = 0; i < WAIT_MS / 10 && root <= 0; i++) {
		FILE *f = fopen(pidf, "re");

		if (!f || fscanf(f, "%d", &root) != 1)
			usleep(10000);
		if (f)
			fclose(f);
	}
	cr_assert_gt(root, 0, "the replay did not start");
	/* A client of the replay: its serving thread writes, once gdb's first
	 * continue lets it run. */
	cr_expect_not_null(rp_connect(root, s.port, false, buf, sizeof(buf)));
	read_all(fd, out, sizeof(out));
	cr_assert_eq(waitpid(verb, &st, 0), verb);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "replay --gdb ended with %#x:\n%s", st,
		  out);
	cr_expect(strstr(out, "Breakpoint 1, ") && strstr(out, " in serve "),
		  "the continued replay did not reach write() in serve():\n%s", out);
	at = strstr(out, ", init ");
	cr_assert_not_null(at, "replay said no init:\n%s", out);
	init = (pid_t)atoi(at + 7);
	wait_gone(root, "the replay's root, once gdb is done");
	wait_gone(init, "the replay's init, once gdb is done");
	cr_expect_eq(ping(&s), 1, "the original did not answer on");
}

/* Every way of dumping comes back as a replay. */
static void replay_mode(const char *a1, const char *a2, bool incremental)
{
	char out[16384], pre[300];
	struct server s;
	struct rp r;

	server_start(&s);
	cr_assert_eq(ping(&s), 1);
	if (incremental) {
		char err[4096];

		snprintf(pre, sizeof(pre), "%s/pre", dir);
		cr_assert_eq(mkdir(pre, 0700), 0);
		cr_assert_eq(run_criu_lite(err, sizeof(err), "pre-dump", "-t", s.pid_s, "-D", pre,
					   NULL), 0, "pre-dump: %s", err);
		cr_assert_eq(ping(&s), 2);
	}
	dump_running(&s, s.img, a1, a2);
	rp_start(&r, s.img, NULL);
	cr_assert_eq(rp_gdb(r.root, out, sizeof(out), "-ex 'print replay_poke(1)' "
			    "-ex 'print data[0]'"), 0, "gdb:\n%s", out);
	cr_expect(strstr(out, "$1 = 3"), "gdb could not call replay_poke():\n%s", out);
	cr_expect(strstr(out, incremental ? "$2 = 2\n" : "$2 = 1\n"),
		  "the shared mapping is not the file's:\n%s", out);
	rp_end(&r);
	cr_expect_eq(ping(&s), incremental ? 3 : 2);
}

Test(replay, snapshot_fork, .timeout = 120)
{
	replay_mode("--snapshot", "fork", false);
}

Test(replay, snapshot_wp, .timeout = 120)
{
	replay_mode("--snapshot", "wp", false);
}

Test(replay, incremental, .timeout = 120)
{
	replay_mode("--prev-images-dir", "../pre", true);
}

/* What cannot be isolated is refused in one line, before anything runs. */
Test(replay, refuses_a_connection_to_the_outside, .timeout = 120)
{
	char err[4096];
	struct server s;
	int st;

	server_start(&s);
	dump_running(&s, s.img, NULL, NULL);
	st = run_criu_lite(err, sizeof(err), "restore", "--replay", "-d", "-D", s.img,
			   "--tcp-established", NULL);
	cr_expect_neq(st, 0);
	cr_expect(strstr(err, "cannot replay") && strstr(err, "--tcp-established") &&
		  strchr(err, '\n') == err + strlen(err) - 1,
		  "not one line saying what cannot be isolated: %s", err);
	st = run_criu_lite(err, sizeof(err), "replay", "-D", s.img, "-d", NULL);
	cr_expect_eq(st, 2, "replay -d: %s", err);
	cr_expect_eq(ping(&s), 1);
}

/* A FIFO's path leads to the host's readers: the replay writes to
 * /dev/null instead, and says so. */
Test(replay, fifo_gets_a_stand_in, .timeout = 120)
{
	char fifo[300], log[300], data[300], img[300], pid_s[16], err[4096], out[16384];
	static const char zero[4096];
	char ready[256];
	ssize_t n;
	pid_t pid;
	int rd, st;

	make_tmpdir(dir, sizeof(dir), "replay");
	snprintf(fifo, sizeof(fifo), "%s/out.fifo", dir);
	snprintf(log, sizeof(log), "%s/server.log", dir);
	snprintf(data, sizeof(data), "%s/server.data", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	write_file(log, "", 0);
	write_file(data, zero, sizeof(zero));
	cr_assert_eq(mkdir(img, 0700), 0);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR), w = open(fifo, O_WRONLY);

		setpgid(0, 0);
		dup2(null, 0);
		dup2(w, 1);
		dup2(null, 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execl(target_path("replay_server"), "replay_server", log, data, (char *)NULL);
		_exit(127);
	}
	rt_target = pid;
	rd = open(fifo, O_RDONLY);
	cr_assert_geq(rd, 0);
	n = read(rd, ready, sizeof(ready) - 1);
	cr_assert(n > 0 && !strncmp(ready, "READY", 5), "the server did not start");
	snprintf(pid_s, sizeof(pid_s), "%d", pid);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid_s, "-D", img, NULL), 0,
		     "dump: %s", err);
	st = run_cmd(out, sizeof(out), "timeout 120 %s replay -D %s --gdb -- -nx -batch "
		     "-ex 'print (long)write(1, \"from the replay\\n\", 16)' 2>&1 </dev/null",
		     criu_lite_path(), img);
	cr_expect_eq(st, 0, "%s", out);
	cr_expect(strstr(out, "fd 1 of ") && strstr(out, "is /dev/null in the replay"),
		  "the stand-in is not said:\n%s", out);
	cr_expect(strstr(out, "$1 = 16"), "the replay's write failed:\n%s", out);
	fcntl(rd, F_SETFL, O_NONBLOCK);
	n = read(rd, out, sizeof(out) - 1);
	cr_expect_leq(n, 0, "the host's FIFO got '%.*s' from the replay", (int)n, out);
	close(rd);
}

/* criu-lite replay without --gdb lasts until it is told to end, or dies:
 * either way the replay goes with it. */
static void verb_ends(int sig)
{
	char line[1024] = "";
	struct target v = { 0 };
	const char *at;
	struct server s;
	pid_t root, init;
	int p[2], st;

	server_start(&s);
	dump_running(&s, s.img, NULL, NULL);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	v.pid = fork();
	cr_assert_geq(v.pid, 0);
	if (v.pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(p[1], 2);
		execl(criu_lite_path(), "criu-lite", "replay", "-D", s.img, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	v.out_fd = p[0];
	while (!strstr(line, " is stopped: ") &&
	       target_read_line(&v, line, sizeof(line), WAIT_MS))
		;
	at = strstr(line, "root pid ");
	cr_assert(at && strstr(line, ", init "), "replay said: %s", line);
	root = (pid_t)atoi(at + 9);
	init = (pid_t)atoi(strstr(line, ", init ") + 7);
	cr_expect_eq(procfs_ppid(root), init);
	kill(v.pid, sig);
	cr_assert_eq(waitpid(v.pid, &st, 0), v.pid);
	close(p[0]);
	if (sig == SIGTERM)
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "replay ended with %#x", st);
	wait_gone(root, "the replay's root");
	wait_gone(init, "the replay's init");
	cr_expect_eq(ping(&s), 1, "the original did not answer on");
}

Test(replay, verb_ends_on_sigterm, .timeout = 120)
{
	verb_ends(SIGTERM);
}

Test(replay, verb_killed_takes_the_replay_along, .timeout = 120)
{
	verb_ends(SIGKILL);
}
