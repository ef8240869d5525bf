/* Helpers of the replay suites: see replay_util.h. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/procfs.h"
#include "test/helpers.h"
#include "test/replay_util.h"

#define MAX_LEFT 16
static pid_t left[MAX_LEFT];	/* inits of replays not ended yet */

static void remember(pid_t init, bool add)
{
	for (int i = 0; i < MAX_LEFT; i++)
		if (add ? !left[i] : left[i] == init) {
			left[i] = add ? init : 0;
			return;
		}
}

void rp_kill_leftovers(void)
{
	for (int i = 0; i < MAX_LEFT; i++)
		if (left[i] > 0) {
			kill(left[i], SIGKILL);
			left[i] = 0;
		}
}

bool rp_same_ns(pid_t pid, const char *ns)
{
	char a[96], b[96];
	struct stat sa, sb;

	snprintf(a, sizeof(a), "/proc/%d/ns/%s", pid, ns);
	snprintf(b, sizeof(b), "/proc/self/ns/%s", ns);
	cr_assert_eq(stat(a, &sa), 0, "no %s", a);
	cr_assert_eq(stat(b, &sb), 0);
	return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* A replay's copies (tmpfs "none") are never mounted where we are. */
static void expect_no_copy_here(void)
{
	char mounts[65536];

	cr_assert_eq(run_cmd(mounts, sizeof(mounts), "cat /proc/self/mountinfo"), 0);
	cr_expect_null(strstr(mounts, " - tmpfs none "), "a replay's copy is mounted here:\n%s",
		       mounts);
}

static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "re");
	int pid = 0;

	cr_assert_not_null(f, "no pidfile %s", path);
	cr_assert_eq(fscanf(f, "%d", &pid), 1);
	fclose(f);
	return pid;
}

char rp_said[4096];

void rp_start(struct rp *r, const char *img, ...)
{
	char dir[256], pidf[300];
	const char *argv[24] = { "restore", "--replay", "-d", "-D", img, "--pidfile", pidf };
	int argc = 7, st;
	va_list ap;

	make_tmpdir(dir, sizeof(dir), "rp");
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	va_start(ap, img);
	while (argc < 22 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	st = run_criu_lite(rp_said, sizeof(rp_said), argv[0], argv[1], argv[2], argv[3], argv[4], argv[5],
			   argv[6], argv[7], argv[8], argv[9], argv[10], NULL);
	cr_assert_eq(st, 0, "restore --replay of %s failed (%d): %s", img, st, rp_said);
	r->root = read_pid(pidf);
	rm_rf(dir);
	r->init = procfs_ppid(r->root);
	r->keeper = procfs_ppid(r->init);
	cr_assert_gt(r->init, 1);
	remember(r->init, true);
	expect_no_copy_here();
}

void rp_end(struct rp *r)
{
	kill(r->init, SIGKILL);
	wait_gone(r->root, "the replay's root");
	wait_gone(r->init, "the replay's init");
	wait_gone(r->keeper, "the criu-lite keeping the replay");
	remember(r->init, false);
	expect_no_copy_here();
}

int rp_gdb(pid_t pid, char *out, size_t len, const char *cmds)
{
	return run_cmd(out, len, "timeout 120 gdb -nx -batch -p %d -iex 'set pagination off' "
		       "-iex 'handle SIGSTOP nostop noprint nopass' %s 2>&1", pid, cmds);
}

static void connect_child(pid_t pid, int port, bool wait_reply, int out)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char path[64], buf[256];
	int s, ns;
	ssize_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	ns = pid ? open(path, O_RDONLY) : -1;
	if (pid && (ns < 0 || setns(ns, CLONE_NEWNET)))
		_exit(2);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
		_exit(1);
	/* a server that takes the connection and never answers fails its test
	 * in half a minute, with its state said, not at the test's timeout */
	if (wait_reply)
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 30 },
			   sizeof(struct timeval));
	if (wait_reply && (n = read(s, buf, sizeof(buf))) <= 0)
		_exit(1);
	if (write(out, buf, (size_t)n) != n)
		_exit(3);
	_exit(0);
}

char *rp_connect(pid_t pid, int port, bool wait_reply, char *buf, size_t len)
{
	int p[2], st;
	ssize_t n;
	pid_t c;

	cr_assert_eq(pipe(p), 0);
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0) {
		close(p[0]);
		connect_child(pid, port, wait_reply, p[1]);
	}
	close(p[1]);
	n = read(p[0], buf, len - 1);
	close(p[0]);
	cr_assert_eq(waitpid(c, &st, 0), c);
	buf[n > 0 ? n : 0] = '\0';
	return WIFEXITED(st) && !WEXITSTATUS(st) ? buf : NULL;
}

char *rp_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 1 << 16, n = 0, k;
	char *buf = malloc(cap);

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

void rp_expect_same(const char *path, const char *before, size_t len)
{
	size_t now_len = 0;
	char *now = rp_slurp(path, &now_len);

	cr_assert_not_null(now, "cannot read %s", path);
	cr_expect(now_len == len && !memcmp(now, before, len),
		  "%s changed: %zu bytes before the replay, %zu after", path, len, now_len);
	free(now);
}
