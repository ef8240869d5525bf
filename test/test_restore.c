/* restore on real dumps: a target is dumped with `criu-lite dump --kill`
 * and restored, and the test checks what a user would: the restored
 * program goes on from where it was (its output continues, its threads
 * finish with the right sums, its vector registers and pipe bytes are
 * there), a debugger can attach to a --stopped replay and call into it,
 * and a restore that cannot work is refused clearly and leaves nothing
 * running. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/helpers.h"

/* What a test restored, killed by the suites' fini even when an assertion
 * ends the test early: a stopped or running copy must not outlive it. */
static char g_pidfile[300];
static pid_t g_criu;
static pid_t g_target;	/* the last target started */

static void kill_leftovers(void)
{
	FILE *f = g_pidfile[0] ? fopen(g_pidfile, "re") : NULL;
	int pid = 0;

	if (f && fscanf(f, "%d", &pid) == 1 && pid > 1) {
		kill(pid, SIGKILL);
		for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
			usleep(10000);
	}
	if (f)
		fclose(f);
	if (g_criu > 0) {
		kill(g_criu, SIGKILL);
		waitpid(g_criu, NULL, 0);
	}
	if (g_target > 0) {
		kill(-g_target, SIGKILL);	/* with its children: it leads its group */
		waitpid(g_target, NULL, 0);
	}
	g_pidfile[0] = '\0';
	g_criu = g_target = 0;
}

TestSuite(restore, .fini = kill_leftovers);
TestSuite(restore_refuses, .fini = kill_leftovers);

/* A target started with only stdin/stderr on /dev/null and stdout on a
 * pipe to us: no stray inherited fd that restore would have to refuse. */
static void start(struct target *t, const char *path, ...)
{
	const char *argv[16];
	char line[1024];
	int pfd[2], argc = 0;
	va_list ap;

	argv[argc++] = path;
	va_start(ap, path);
	while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	t->pid = fork();
	cr_assert_geq(t->pid, 0);
	if (t->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(pfd[1], 1);
		dup2(null, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setpgid(0, 0);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	g_target = t->pid;
	close(pfd[1]);
	t->out_fd = pfd[0];
	do
		cr_assert(target_read_line(t, line, sizeof(line), 10000), "%s did not get ready", path);
	while (strncmp(line, "READY", 5));
	snprintf(t->ready, sizeof(t->ready), "%s", line + 6);
}

/* A copy of a target under a name of its own, so that its comm is unique
 * to this test (tests run in parallel) and its file can be changed. */
static void copy_target(const char *name, const char *dir, char *out, size_t len)
{
	static int seq;

	snprintf(out, len, "%s/r%d_%d", dir, getpid() % 100000, seq++);
	cr_assert_eq(run_cmd(NULL, 0, "cp '%s' '%s'", target_path(name), out), 0);
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Processes whose comm is `comm` (zombies included). */
static int count_comm(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char path[300], buf[64] = "";
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && !strncmp(buf, comm, strlen(comm)) &&
		    buf[strlen(comm)] == '\n')
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

static void dump_kill(struct target *t, const char *dir)
{
	char pid[16], err[4096];
	int r;

	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t->pid);
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", dir, "--kill", NULL);
	cr_assert_eq(r, 0, "dump failed (%d): %s", r, err);
	/* Reap it: its pid must be free for the restore to get it back. */
	waitpid(t->pid, NULL, 0);
	g_target = 0;
	close(t->out_fd);
	t->out_fd = -1;
}

/* criu-lite restore in the foreground: its stdout (the restored tree's,
 * shell-job style) and stderr come back to us. */
struct run {
	pid_t pid;
	struct target out;	/* only out_fd is used, for target_read_line */
	int err_fd;
};

static void restore_start(struct run *r, const char *dir, ...)
{
	const char *argv[16] = { criu_lite_path(), "restore", "--pidfile", g_pidfile };
	int o[2], e[2], argc = 4;
	va_list ap;

	snprintf(g_pidfile, sizeof(g_pidfile), "%s/pid", dir);
	va_start(ap, dir);
	while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	cr_assert_eq(pipe2(o, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
	r->pid = fork();
	cr_assert_geq(r->pid, 0);
	if (r->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	g_criu = r->pid;
	close(o[1]);
	close(e[1]);
	memset(&r->out, 0, sizeof(r->out));
	r->out.out_fd = o[0];
	r->err_fd = e[0];
}

static int restore_finish(struct run *r, char *err, size_t len)
{
	size_t n = 0;
	ssize_t k;
	int st;

	while (n + 1 < len && (k = read(r->err_fd, err + n, len - n - 1)) > 0)
		n += k;
	err[n] = '\0';
	close(r->err_fd);
	close(r->out.out_fd);
	cr_assert_eq(waitpid(r->pid, &st, 0), r->pid);
	g_criu = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static pid_t read_pidfile(const char *path)
{
	FILE *f = fopen(path, "re");
	int pid = 0;

	cr_assert_not_null(f, "no pidfile %s", path);
	cr_assert_eq(fscanf(f, "%d", &pid), 1);
	fclose(f);
	return pid;
}

/* A foreground restore writes its pidfile once the tree is restored. */
static bool wait_pidfile(pid_t *pid)
{
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(g_pidfile, "re");
		int n = 0;

		if (f && fscanf(f, "%d", &n) == 1 && n > 0) {
			fclose(f);
			*pid = n;
			return true;
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	return false;
}

/* Kill a restored process that is not our child and wait until it is gone. */
static void kill_wait(pid_t pid)
{
	kill(pid, SIGCONT);
	kill(pid, SIGKILL);
	for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
		usleep(10000);
}

/* Lines of the counter's file: how many, and whether line i reads i. */
static long count_lines(const char *path, bool *contiguous)
{
	FILE *f = fopen(path, "re");
	char line[64];
	long n = 0;

	*contiguous = true;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strtol(line, NULL, 10) != n || !strchr(line, '\n'))
			*contiguous = false;
		n++;
	}
	fclose(f);
	return n;
}

static long wait_lines(const char *path, long want)
{
	bool ok;
	long n = 0;

	for (int i = 0; i < 1000 && (n = count_lines(path, &ok)) < want; i++)
		usleep(5000);
	return n;
}

Test(restore, counter_goes_on_from_the_dumped_value)
{
	char dir[256], img[300], file[300], pidf[300], err[4096], comm[64];
	struct target t;
	long before, after;
	bool contiguous;
	pid_t pid;

	make_tmpdir(dir, sizeof(dir), "rst-counter");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(file, sizeof(file), "%s/count.txt", dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	snprintf(g_pidfile, sizeof(g_pidfile), "%s", pidf);
	start(&t, target_path("restore_counter"), file, "slow", NULL);
	cr_assert_geq(wait_lines(file, 20), 20);
	dump_kill(&t, img);
	before = count_lines(file, &contiguous);
	cr_assert(contiguous);

	cr_assert_eq(run_criu_lite(err, sizeof(err), "restore", "-D", img, "-d", "--pidfile", pidf,
				   NULL), 0, "restore failed: %s", err);
	pid = read_pidfile(pidf);
	cr_expect_eq(pid, t.pid, "the dumped pid %d was free, got %d", t.pid, pid);
	cr_assert(proc_status_field(pid, "Name", comm, sizeof(comm)));
	cr_expect_str_eq(comm, "restore_counter");
	after = wait_lines(file, before + 50);
	kill_wait(pid);
	after = count_lines(file, &contiguous);
	cr_assert_geq(after, before + 50, "the restored counter did not go on (%ld -> %ld lines)",
		      before, after);
	cr_assert(contiguous, "the counter's file has a gap or a repeat after the restore");
	rm_rf(dir);
}

/* The SUM lines of the threads target's output, in order. */
static void sums_of(const char *out, char *sums, size_t len)
{
	const char *p = out;
	size_t n = 0;

	sums[0] = '\0';
	while ((p = strstr(p, "SUM "))) {
		size_t l = strcspn(p, "\n") + 1;

		if (n + l < len) {
			memcpy(sums + n, p, l);
			n += l;
			sums[n] = '\0';
		}
		p += l;
	}
}

/* Restore img in the foreground and collect what the tree prints. */
static int restore_collect(const char *dir, const char *img, char *got, size_t len, char *err,
			   size_t errlen)
{
	char line[256];
	struct run r;

	got[0] = '\0';
	restore_start(&r, dir, "-D", img, NULL);
	while (target_read_line(&r.out, line, sizeof(line), 30000)) {
		if (strlen(got) + strlen(line) + 2 < len) {
			strcat(got, line);
			strcat(got, "\n");
		}
		if (!strcmp(line, "DONE"))
			break;
	}
	return restore_finish(&r, err, errlen);
}

static void threads_expected(char *sums, size_t len)
{
	char out[4096];

	/* The reference: an undisturbed run of the same work. */
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' 1500", target_path("restore_threads")), 0);
	sums_of(out, sums, len);
	cr_assert(strstr(sums, "SUM 7"), "reference run printed: %s", out);
}

Test(restore, eight_threads_finish_with_the_undisturbed_sums, .timeout = 60)
{
	char dir[256], img[300], expect[1024], got[4096], sums[1024], err[4096], want[64];
	struct target t;

	threads_expected(expect, sizeof(expect));
	make_tmpdir(dir, sizeof(dir), "rst-threads");
	snprintf(img, sizeof(img), "%s/img", dir);
	start(&t, target_path("restore_threads"), "1500", NULL);
	usleep(100 * 1000);	/* well into the work */
	dump_kill(&t, img);

	cr_assert_eq(restore_collect(dir, img, got, sizeof(got), err, sizeof(err)), 0,
		     "restore failed: %s", err);
	sums_of(got, sums, sizeof(sums));
	cr_assert_str_eq(sums, expect, "restored sums differ:\n%s\nexpected:\n%s", sums, expect);
	/* The dumped tids were free: the threads have them back. */
	snprintf(want, sizeof(want), "TID 0 %d\n", (int)target_ready_u64(&t, "tid0"));
	cr_expect(strstr(got, want), "thread 0 lost its tid: %s", got);
	snprintf(want, sizeof(want), "TID 7 %d\n", (int)target_ready_u64(&t, "tid7"));
	cr_expect(strstr(got, want), "thread 7 lost its tid: %s", got);
	rm_rf(dir);
}

Test(restore, copy_of_a_running_tree_gets_new_pids, .timeout = 60)
{
	char dir[256], img[300], expect[1024], got[4096], sums[1024], err[4096], pid[16], want[64];
	struct target t;

	threads_expected(expect, sizeof(expect));
	make_tmpdir(dir, sizeof(dir), "rst-copy");
	snprintf(img, sizeof(img), "%s/img", dir);
	start(&t, target_path("restore_threads"), "1500", NULL);
	usleep(100 * 1000);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	/* Left stopped, so that it cannot finish and free its pids. */
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img,
				   "--leave-stopped", NULL), 0, "dump failed: %s", err);

	/* The original is still there, holding every dumped pid and tid. */
	cr_assert_eq(restore_collect(dir, img, got, sizeof(got), err, sizeof(err)), 0,
		     "restore failed: %s", err);
	cr_expect(strstr(err, pid) && strstr(err, "taken"), "new pid not said: %s", err);
	sums_of(got, sums, sizeof(sums));
	cr_assert_str_eq(sums, expect, "the copy's sums differ:\n%s\nexpected:\n%s", sums, expect);
	snprintf(want, sizeof(want), "TID 0 %d\n", (int)target_ready_u64(&t, "tid0"));
	cr_expect(!strstr(got, want), "the copy reused a tid in use: %s", got);
	target_kill(&t);
	g_target = 0;
	rm_rf(dir);
}

Test(restore, vector_registers_keep_their_values)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct run r;
	bool avx512;

	make_tmpdir(dir, sizeof(dir), "rst-avx");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	start(&t, target_path("restore_avx"), go, NULL);
	avx512 = target_ready_u64(&t, "avx512");
	dump_kill(&t, img);

	restore_start(&r, dir, "-D", img, NULL);
	usleep(50 * 1000);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output from the restored target");
	cr_expect_str_eq(line, avx512 ? "AVX ok zmm=32 k=7" : "AVX ok ymm=16 k=0");
	cr_assert_eq(restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, parent_and_child_get_their_pipe_bytes)
{
	char dir[256], img[300], go[300], line[256], want[128], err[4096], path[64];
	struct target t;
	struct run r;
	pid_t child, root, kid;

	make_tmpdir(dir, sizeof(dir), "rst-pipe");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	start(&t, target_path("restore_pipe"), go, "5000", NULL);
	child = (pid_t)target_ready_u64(&t, "child");
	snprintf(want, sizeof(want), "GOT 5000 sum=%#lx", (unsigned long)target_ready_u64(&t, "sum"));
	dump_kill(&t, img);
	for (int i = 0; i < 500 && kill(child, 0) == 0; i++)	/* reaped by init */
		usleep(10000);

	restore_start(&r, dir, "-D", img, NULL);
	cr_assert(wait_pidfile(&root), "no pidfile from the restore");
	/* The tree's shape: the child is the root's, in the root's group. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", root, root);
	cr_assert_eq(run_cmd(line, sizeof(line), "cat %s", path), 0);
	kid = atoi(line);
	cr_expect_gt(kid, 0, "the restored root has no child");
	cr_expect_eq(getpgid(root), root, "the root does not lead its group any more");
	cr_expect_eq(getpgid(kid), root, "the child left the root's group");
	cr_expect_eq(getsid(kid), getsid(root));
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output from the restored child");
	cr_expect_str_eq(line, want);
	/* The root is the parent: it exits with the child's status. */
	cr_assert_eq(restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, signal_state_survives)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct run r;

	make_tmpdir(dir, sizeof(dir), "rst-sig");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	start(&t, target_path("restore_signals"), go, NULL);
	usleep(50 * 1000);	/* a few timer ticks, maybe one pending at the dump */
	dump_kill(&t, img);

	restore_start(&r, dir, "-D", img, NULL);
	usleep(50 * 1000);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect_str_eq(line, "SIG pending=1 ticking=1 altstack=1 usr2=1 winch=1");
	cr_assert_eq(restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

/* Connect to a restored listener and send it one line. */
static bool send_line(const struct sockaddr *sa, socklen_t len, const char *line)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && !connect(fd, sa, len) &&
		  write(fd, line, strlen(line)) == (ssize_t)strlen(line);

	if (fd >= 0)
		close(fd);
	return ok;
}

Test(restore, socketpair_and_listening_sockets_work)
{
	char dir[256], img[300], go[300], sock[300], line[256], err[4096];
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct target t;
	struct run r;
	pid_t child, root;

	make_tmpdir(dir, sizeof(dir), "rst-sock");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	snprintf(sock, sizeof(sock), "%s/s", dir);
	start(&t, target_path("restore_sockets"), go, sock, NULL);
	in.sin_port = htons((uint16_t)target_ready_u64(&t, "port"));
	child = (pid_t)target_ready_u64(&t, "child");
	dump_kill(&t, img);
	for (int i = 0; i < 500 && kill(child, 0) == 0; i++)
		usleep(10000);

	restore_start(&r, dir, "-D", img, NULL);
	cr_assert(wait_pidfile(&root), "no pidfile from the restore");	/* listening now */
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert_lt(strlen(sock), sizeof(un.sun_path));
	memcpy(un.sun_path, sock, strlen(sock) + 1);
	cr_expect(send_line((struct sockaddr *)&in, sizeof(in), "tcp-hi\n"),
		  "cannot talk to the restored TCP listener: %s", strerror(errno));
	cr_expect(send_line((struct sockaddr *)&un, sizeof(un), "unix-hi\n"),
		  "cannot talk to the restored unix listener: %s", strerror(errno));
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect_str_eq(line, "SOCK pair=hello tcp=tcp-hi unix=unix-hi");
	cr_assert_eq(restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, eventfd_epoll_dir_fifo_and_files_come_back)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct run r;

	make_tmpdir(dir, sizeof(dir), "rst-fds");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	start(&t, target_path("restore_fds"), go, dir, NULL);
	dump_kill(&t, img);

	restore_start(&r, dir, "-D", img, NULL);
	usleep(50 * 1000);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect_str_eq(line, "FDS eventfd=5 epoll=0x1234 dir=1 fifo=fifo-data file=345 "
			 "cloexec=1 dup=1");
	cr_assert_eq(restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

/* A pseudo-terminal: *master is ours, *slave the path to give a process. */
static void open_pty(int *master, char *slave, size_t len)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(*master, 0);
	cr_assert_eq(grantpt(*master), 0);
	cr_assert_eq(unlockpt(*master), 0);
	cr_assert_eq(ptsname_r(*master, slave, len), 0);
}

/* Run argv with stdin/stdout/stderr on the terminal `slave`. */
static pid_t spawn_on_tty(const char *slave, const char *const *argv)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(slave, O_RDWR | O_NOCTTY);

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setpgid(0, 0);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

static bool tty_line(int master, char *buf, size_t len)
{
	struct target m = { .out_fd = master };

	do {
		if (!target_read_line(&m, buf, len, 10000))
			return false;
		buf[strcspn(buf, "\r")] = '\0';	/* the terminal's ONLCR */
	} while (!buf[0]);
	return true;
}

Test(restore, terminal_stdio_becomes_the_restoring_terminal)
{
	char dir[256], img[300], go[300], data[300], tty_a[64], tty_b[64], line[256];
	const char *argv[4];
	int ma, mb, st;
	struct target t = { 0 };

	make_tmpdir(dir, sizeof(dir), "rst-tty");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(g_pidfile, sizeof(g_pidfile), "%s/pid", dir);
	cr_assert_eq(run_cmd(NULL, 0, "head -c 8192 /dev/zero | tr '\\0' T > '%s'", data), 0);
	open_pty(&ma, tty_a, sizeof(tty_a));
	argv[0] = target_path("restore_mapped");
	argv[1] = data;
	argv[2] = go;
	argv[3] = NULL;
	t.pid = g_target = spawn_on_tty(tty_a, argv);
	do
		cr_assert(tty_line(ma, line, sizeof(line)), "the target did not get ready");
	while (strncmp(line, "READY", 5));
	t.out_fd = -1;
	dump_kill(&t, img);
	close(ma);

	/* Restored from another terminal: the program's stdio is that one. */
	open_pty(&mb, tty_b, sizeof(tty_b));
	{
		const char *rargv[] = { criu_lite_path(), "restore", "-D", img, "--pidfile",
					g_pidfile, NULL };

		g_criu = spawn_on_tty(tty_b, rargv);
	}
	usleep(100 * 1000);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(tty_line(mb, line, sizeof(line)), "nothing on the restoring terminal");
	cr_expect_str_eq(line, "MAP TTTTTTTTTTTT dirty");
	cr_assert_eq(waitpid(g_criu, &st, 0), g_criu);
	g_criu = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "restore exit status %#x", st);
	close(mb);
	rm_rf(dir);
}

Test(restore, shared_anonymous_memory_stays_shared)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct run r;
	pid_t child;

	make_tmpdir(dir, sizeof(dir), "rst-shm");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	start(&t, target_path("restore_shm"), go, NULL);
	child = (pid_t)target_ready_u64(&t, "child");
	dump_kill(&t, img);
	for (int i = 0; i < 500 && kill(child, 0) == 0; i++)
		usleep(10000);

	restore_start(&r, dir, "-D", img, NULL);
	usleep(50 * 1000);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect_str_eq(line, "SHM child-wrote", "the restored parent and child do not share");
	cr_assert_eq(restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, non_root_credentials_come_back)
{
	char dir[256], img[300], go[300], line[256], err[4096], buf[128];
	struct target t;
	struct run r;
	pid_t root;

	make_tmpdir(dir, sizeof(dir), "rst-creds");
	cr_assert_eq(chmod(dir, 0755), 0);	/* uid 1000 must see the go file */
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	start(&t, target_path("restore_creds"), go, NULL);
	dump_kill(&t, img);

	restore_start(&r, dir, "-D", img, NULL);
	cr_assert(wait_pidfile(&root), "no pidfile from the restore");
	cr_expect(proc_status_field(root, "CapEff", buf, sizeof(buf)) &&
		  !strcmp(buf, "0000000000000000"), "capabilities left: %s", buf);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect_str_eq(line, "CREDS uid=1000/1000/1000 gid=1001/1002/1003 groups=100,200 n=2");
	cr_assert_eq(restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, private_file_mapping_comes_back)
{
	char dir[256], img[300], go[300], data[300], line[256], err[4096];
	struct target t;
	struct run r;

	make_tmpdir(dir, sizeof(dir), "rst-map");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	cr_assert_eq(run_cmd(NULL, 0, "head -c 8192 /dev/zero | tr '\\0' F > '%s'", data), 0);
	start(&t, target_path("restore_mapped"), data, go, NULL);
	dump_kill(&t, img);

	restore_start(&r, dir, "-D", img, NULL);
	usleep(50 * 1000);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect_str_eq(line, "MAP FFFFFFFFFFFF dirty");
	cr_assert_eq(restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, stopped_replay_lets_gdb_call_a_function, .timeout = 60)
{
	char dir[256], img[300], file[300], pidf[300], err[4096], out[8192], state[64];
	unsigned long counter = 0, value = 0;
	struct target t;
	long lines;
	bool contiguous;
	pid_t pid;
	char *p;

	make_tmpdir(dir, sizeof(dir), "rst-stopped");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(file, sizeof(file), "%s/count.txt", dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	snprintf(g_pidfile, sizeof(g_pidfile), "%s", pidf);
	start(&t, target_path("restore_counter"), file, "slow", NULL);
	cr_assert_geq(wait_lines(file, 20), 20);
	dump_kill(&t, img);
	lines = count_lines(file, &contiguous);

	cr_assert_eq(run_criu_lite(err, sizeof(err), "restore", "-D", img, "--stopped", "-d",
				   "--pidfile", pidf, NULL), 0, "restore failed: %s", err);
	pid = read_pidfile(pidf);
	cr_assert(proc_status_field(pid, "State", state, sizeof(state)));
	cr_expect_eq(state[0], 'T', "restored process is in state %s, not stopped", state);
	cr_assert(proc_status_field(pid, "TracerPid", state, sizeof(state)));
	cr_expect_str_eq(state, "0", "the stopped process is still traced");

	/* Attaching to any job-control-stopped process, gdb's own SIGSTOP
	 * stays queued and would interrupt the call: let gdb swallow it. */
	cr_assert_eq(run_cmd(out, sizeof(out), "gdb -nx -batch -p %d "
			     "-ex 'handle SIGSTOP nostop noprint nopass' -ex 'print counter' "
			     "-ex 'print compute_state()' 2>&1", pid), 0);
	p = strstr(out, "$1 = ");
	cr_assert_not_null(p, "gdb printed no counter:\n%s", out);
	counter = strtoul(p + 5, NULL, 10);
	p = strstr(out, "$2 = ");
	cr_assert_not_null(p, "gdb could not call compute_state():\n%s", out);
	value = strtoul(p + 5, NULL, 10);
	/* The dumped counter: the last number written, or the next one. */
	cr_expect(counter == (unsigned long)lines - 1 || counter == (unsigned long)lines,
		  "counter %lu, but the file ended at %ld", counter, lines - 1);
	cr_expect_eq(value, counter * 3 + 7);
	kill_wait(pid);
	rm_rf(dir);
}

/* ---- refusals: a clear message, a failure status, nothing left running ---- */

struct refusal {
	char dir[256], img[300], bin[300], file[300], go[300];
	struct target t;
};

static void refusal_dump(struct refusal *f, const char *target, bool with_data)
{
	make_tmpdir(f->dir, sizeof(f->dir), "rst-refuse");
	snprintf(f->img, sizeof(f->img), "%s/img", f->dir);
	snprintf(f->file, sizeof(f->file), "%s/file", f->dir);
	snprintf(f->go, sizeof(f->go), "%s/go", f->dir);
	copy_target(target, f->dir, f->bin, sizeof(f->bin));
	if (with_data)
		cr_assert_eq(run_cmd(NULL, 0, "head -c 8192 /dev/zero | tr '\\0' F > '%s'", f->file), 0);
	start(&f->t, f->bin, f->file, with_data ? f->go : "slow", NULL);
	if (!with_data)
		cr_assert_geq(wait_lines(f->file, 5), 5);
	dump_kill(&f->t, f->img);
}

static void expect_refused(struct refusal *f, const char *why)
{
	char err[4096];
	int r;

	snprintf(g_pidfile, sizeof(g_pidfile), "%s/pid", f->dir);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", f->img, "-d", "--pidfile", g_pidfile,
			  NULL);

	cr_expect_neq(r, 0, "restore succeeded where it should refuse");
	cr_expect(strstr(err, why), "expected '%s' in: %s", why, err);
	cr_expect_eq(count_comm(base(f->bin)), 0, "a restored process was left behind");
	kill_leftovers();
	rm_rf(f->dir);
}

static void img_path(struct refusal *f, const char *fmt, char *out, size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), fmt, f->t.pid);
	snprintf(out, len, "%s/%s", f->img, name);
}

Test(restore_refuses, incomplete_dump_without_inventory)
{
	struct refusal f;
	char path[400];

	refusal_dump(&f, "restore_counter", false);
	img_path(&f, "inventory.img", path, sizeof(path));
	cr_assert_eq(unlink(path), 0);
	expect_refused(&f, "no inventory.img");
}

Test(restore_refuses, corrupt_image)
{
	struct refusal f;
	char path[400];
	int fd;

	refusal_dump(&f, "restore_counter", false);
	img_path(&f, "mm-%d.img", path, sizeof(path));
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "\xff\xff\xff\x7f garbage", 12, 4), 12);
	close(fd);
	expect_refused(&f, "mm-");
}

Test(restore_refuses, changed_executable)
{
	struct refusal f;

	refusal_dump(&f, "restore_counter", false);
	cr_assert_eq(run_cmd(NULL, 0, "echo extra >> '%s'", f.bin), 0);
	expect_refused(&f, "executable");
}

Test(restore_refuses, changed_mapped_file)
{
	struct refusal f;

	refusal_dump(&f, "restore_mapped", true);
	/* Same size, other bytes (and mtime). */
	cr_assert_eq(run_cmd(NULL, 0, "printf G | dd of='%s' conv=notrunc status=none", f.file), 0);
	expect_refused(&f, "modified since the dump");
}

Test(restore_refuses, output_file_that_changed_size)
{
	struct refusal f;

	refusal_dump(&f, "restore_counter", false);
	cr_assert_eq(run_cmd(NULL, 0, "echo 999999 >> '%s'", f.file), 0);
	expect_refused(&f, "size");
}

Test(restore_refuses, taken_pid_with_same_pids)
{
	char dir[256], img[300], bin[300], file[300], pid[16], err[4096];
	struct target t;
	int r;

	make_tmpdir(dir, sizeof(dir), "rst-samepid");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(file, sizeof(file), "%s/count.txt", dir);
	copy_target("restore_counter", dir, bin, sizeof(bin));
	start(&t, bin, file, "slow", NULL);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	/* Left running: its pid stays taken. */
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, NULL), 0,
		     "dump failed: %s", err);
	snprintf(g_pidfile, sizeof(g_pidfile), "%s/pid", dir);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", img, "-d", "--same-pids",
			  "--pidfile", g_pidfile, NULL);
	cr_expect_neq(r, 0);
	cr_expect(strstr(err, pid) && strstr(err, "in use"), "unclear message: %s", err);
	cr_expect_eq(count_comm(base(bin)), 1, "only the original should run");
	target_kill(&t);
	g_target = 0;
	rm_rf(dir);
}

Test(restore_refuses, unsupported_fd_named)
{
	char dir[256], img[300], bin[300], go[300], err[4096];
	struct target t;
	int r;

	make_tmpdir(dir, sizeof(dir), "rst-inotify");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	copy_target("restore_fds", dir, bin, sizeof(bin));
	start(&t, bin, go, dir, "inotify", NULL);
	dump_kill(&t, img);
	snprintf(g_pidfile, sizeof(g_pidfile), "%s/pid", dir);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", img, "-d", "--pidfile", g_pidfile, NULL);
	cr_expect_neq(r, 0);
	/* eventfd 3, epoll 4, dir 5, fifo 6, file 7: the inotify fd is 8 */
	cr_expect(strstr(err, "fd 8") && strstr(err, "inotify"), "unclear message: %s", err);
	cr_expect_eq(count_comm(base(bin)), 0, "a restored process was left behind");
	rm_rf(dir);
}

Test(restore_refuses, truncated_pages_kill_the_half_built_tree)
{
	struct refusal f;
	char path[400];

	refusal_dump(&f, "restore_counter", false);
	img_path(&f, "pages-%d.img", path, sizeof(path));
	cr_assert_eq(truncate(path, 4096), 0);
	expect_refused(&f, "pages");
}
