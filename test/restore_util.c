/* Helpers of the restore suites: see restore_util.h. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/restore_util.h"

/* What a test restored, killed by the suites' fini even when an assertion
 * ends the test early: a stopped or running copy must not outlive it. */
char rt_pidfile[300];
pid_t rt_criu;
pid_t rt_target;	/* the last target started */
static pid_t rt_restored;	/* the last restored root read from a pidfile */

/* pid and every process below it (children of every thread), SIGKILLed,
 * the deepest first: a stopped child of a restored tree would outlive its
 * killed root and spin or wait on as an orphan for the rest of the suite. */
static void kill_below(pid_t pid, int depth)
{
	char path[64], buf[4096];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = depth < 16 ? opendir(path) : NULL;
	while (d && (de = readdir(d))) {
		FILE *f;
		int child;

		if (de->d_name[0] == '.')
			continue;
		snprintf(buf, sizeof(buf), "/proc/%d/task/%s/children", pid, de->d_name);
		f = fopen(buf, "re");
		while (f && fscanf(f, "%d", &child) == 1)
			kill_below(child, depth + 1);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	kill(pid, SIGCONT);
	kill(pid, SIGKILL);
}

char rt_dir[256];

void rt_fini(void)
{
	rt_kill_leftovers();
	if (rt_dir[0])
		rm_rf(rt_dir);
	rt_dir[0] = '\0';
}

int rt_error_lines(const char *err)
{
	char copy[1 << 16], *save, *l;
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", err);
	for (l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		n += !strstr(l, "warning:");
	return n;
}

void rt_kill_leftovers(void)
{
	FILE *f = rt_pidfile[0] ? fopen(rt_pidfile, "re") : NULL;
	int pid = 0;

	/* The pidfile may be gone with its test's directory: the root read
	 * from it last is killed too. */
	if (!(f && fscanf(f, "%d", &pid) == 1 && pid > 1))
		pid = rt_restored;
	if (pid > 1) {
		kill_below(pid, 0);
		for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
			usleep(10000);
	}
	if (f)
		fclose(f);
	rt_restored = 0;
	if (rt_criu > 0) {
		kill(rt_criu, SIGKILL);
		waitpid(rt_criu, NULL, 0);
	}
	if (rt_target > 0) {
		kill(-rt_target, SIGKILL);	/* with its children: it leads its group */
		waitpid(rt_target, NULL, 0);
	}
	rt_pidfile[0] = '\0';
	rt_criu = rt_target = 0;
}


/* A target started with only stdin/stderr on /dev/null and stdout on a
 * pipe to us: no stray inherited fd that restore would have to refuse. */
void rt_start(struct target *t, const char *path, ...)
{
	const char *argv[16];
	int argc = 0;
	va_list ap;

	argv[argc++] = path;
	va_start(ap, path);
	while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	target_start_clean(t, argv);
	rt_target = t->pid;
}

/* A copy of a target under a name of its own, so that its comm is unique
 * to this test (tests run in parallel) and its file can be changed. */
void rt_copy_target(const char *name, const char *dir, char *out, size_t len)
{
	static int seq;

	snprintf(out, len, "%s/r%d_%d", dir, getpid() % 100000, seq++);
	cr_assert_eq(run_cmd(NULL, 0, "cp '%s' '%s'", target_path(name), out), 0);
}

const char *rt_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int rt_count_comm(const char *comm)
{
	return rt_signal_comm(comm, 0);
}

/* Processes whose comm is `comm` (zombies included), each sent sig if not 0. */
int rt_signal_comm(const char *comm, int sig)
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
		    buf[strlen(comm)] == '\n') {
			n++;
			if (sig)
				kill(atoi(de->d_name), sig);
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* Its pid must be free for the restore to get it back. */
void rt_reap(struct target *t)
{
	waitpid(t->pid, NULL, 0);
	rt_target = 0;
	close(t->out_fd);
	t->out_fd = -1;
}

/* A plain dump, then SIGKILL from us: for a tree `dump --kill` would
 * refuse (it checks that restore could take every fd first). */
void rt_dump_then_kill(struct target *t, const char *dir)
{
	char pid[16], err[4096];
	int r;

	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t->pid);
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", dir, NULL);
	cr_assert_eq(r, 0, "dump failed (%d): %s", r, err);
	kill(t->pid, SIGKILL);
	rt_reap(t);
}

void rt_dump_kill(struct target *t, const char *dir)
{
	char pid[16], err[4096];
	int r;

	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t->pid);
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", dir, "--kill", NULL);
	cr_assert_eq(r, 0, "dump failed (%d): %s", r, err);
	rt_reap(t);
}

/* criu-lite restore in the foreground: its stdout (the restored tree's,
 * shell-job style) and stderr come back to us. */

void rt_restore_start(struct rt_run *r, const char *dir, ...)
{
	const char *argv[16] = { criu_lite_path(), "restore", "--pidfile", rt_pidfile };
	int o[2], e[2], argc = 4;
	va_list ap;

	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", dir);
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
	rt_criu = r->pid;
	close(o[1]);
	close(e[1]);
	memset(&r->out, 0, sizeof(r->out));
	r->out.out_fd = o[0];
	r->err_fd = e[0];
}

int rt_restore_finish(struct rt_run *r, char *err, size_t len)
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
	rt_criu = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

pid_t rt_read_pidfile(const char *path)
{
	FILE *f = fopen(path, "re");
	int pid = 0;

	cr_assert_not_null(f, "no pidfile %s", path);
	cr_assert_eq(fscanf(f, "%d", &pid), 1);
	fclose(f);
	rt_restored = pid;
	return pid;
}

/* A foreground restore writes its pidfile once the tree is restored. */
bool rt_wait_pidfile(pid_t *pid)
{
	for (int i = 0; i < WAIT_MS / 10; i++) {
		FILE *f = fopen(rt_pidfile, "re");
		int n = 0;

		if (f && fscanf(f, "%d", &n) == 1 && n > 0) {
			fclose(f);
			*pid = rt_restored = n;
			return true;
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	return false;
}

pid_t rt_restored_root(struct rt_run *r, const char *what)
{
	char err[4096];
	pid_t root;

	if (rt_wait_pidfile(&root))
		return root;
	kill(r->pid, SIGKILL);
	rt_restore_finish(r, err, sizeof(err));
	cr_assert_fail("%s: %s", what, err);
	return -1;
}

/* Kill a restored process that is not our child and wait until it is gone. */
void rt_kill_wait(pid_t pid)
{
	kill_below(pid, 0);
	wait_gone(pid, "a restored process killed");
	/* Gone with everything below it: its pid, free now, is the next
	 * process's, which the fini must not kill. */
	if (pid == rt_restored) {
		rt_restored = 0;
		rt_pidfile[0] = '\0';
	}
}

/* Lines of the counter's file: how many, and whether line i reads i. */
long rt_count_lines(const char *path, bool *contiguous)
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

long rt_wait_lines(const char *path, long want)
{
	bool ok;
	long n = 0;

	for (int i = 0; i < WAIT_MS / 5 && (n = rt_count_lines(path, &ok)) < want; i++)
		usleep(5000);
	return n;
}
