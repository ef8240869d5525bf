/* core_pattern for the crash suites (test_crash.c, test_crash_guard.c),
 * guarded as test_crash.c describes, and the processes they drive: the
 * crasher, and coredump-server in the background. */
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
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/crash_util.h"

/* ---- core_pattern, guarded ---- */

void pattern_read(char *buf, size_t len)
{
	int fd = open(PATTERN_FILE, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int pattern_write(const char *v)
{
	int fd = open(PATTERN_FILE, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? write(fd, v, strlen(v)) : -1;

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(v) ? 0 : -1;
}

void put_back_if_ours(const char *old, const char *ours)
{
	char now[256];

	pattern_read(now, sizeof(now));
	if (!strcmp(now, ours))
		pattern_write(old);
}

/* Detached (double fork, setsid) and holding nothing of ours but a pidfd
 * of this test process: when the test ends however it ends, the pattern
 * goes back unless someone else changed it. */
void watchdog(const char *old, const char *ours)
{
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	pid_t c;

	cr_assert_geq(pidfd, 0, "pidfd_open: %s", strerror(errno));
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0) {
		struct pollfd p = { .fd = 3, .events = POLLIN };
		int null;

		setsid();
		if (fork() != 0)
			_exit(0);
		dup2(pidfd, 3);
		syscall(SYS_close_range, 4, ~0U, 0);
		null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		put_back_if_ours(old, ours);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	close(pidfd);
}

void guard_begin(struct guard *g)
{
	time_t end = time(NULL) + 120;

	g->lock = open(PATTERN_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(g->lock, 0);
	while (flock(g->lock, LOCK_EX | LOCK_NB)) {
		cr_assert(time(NULL) < end, "another test holds core_pattern for too long");
		usleep(50 * 1000);
	}
	pattern_read(g->old, sizeof(g->old));
	g->ours[0] = '\0';
}

void guard_set(struct guard *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->ours, sizeof(g->ours), fmt, ap);
	va_end(ap);
	cr_assert_lt(strlen(g->ours), 128, "pattern too long for the kernel: %s", g->ours);
	watchdog(g->old, g->ours);
	cr_assert_eq(pattern_write(g->ours), 0, "cannot set core_pattern to %s", g->ours);
}

void guard_end(struct guard *g)
{
	if (g->ours[0])
		put_back_if_ours(g->old, g->ours);
	g->ours[0] = '\0';
	if (g->lock >= 0)
		close(g->lock);
	g->lock = -1;
}

/* ---- processes ---- */

long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The crasher: stdin/stderr on /dev/null, stdout a pipe to us, its own
 * process group; nothing else inherited. */
void crasher_start(struct target *t, const char *mib)
{
	const char *argv[] = { target_path("crash_segv"), mib, NULL };

	target_start_clean(t, argv);
}

/* Wait (bounded) for pid to end; its wait status, or -1 on timeout. */
int wait_end(pid_t pid, int ms)
{
	long end = now_ms() + ms;
	int st;

	do {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0)
			return -1;
		usleep(10 * 1000);
	} while (now_ms() < end);
	return -1;
}

bool file_has(const char *path, const char *what, int ms)
{
	long end = now_ms() + ms;
	char buf[16384];

	do {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, what))
			return true;
		usleep(20 * 1000);
	} while (now_ms() < end);
	return false;
}

/* coredump-server with args; stdout+stderr to log. It dies with us. */
pid_t server_start(const char *log, ...)
{
	const char *argv[32];
	int argc = 0;
	va_list ap;
	pid_t pid;

	argv[argc++] = criu_lite_path();
	argv[argc++] = "coredump-server";
	va_start(ap, log);
	while (argc < 31 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	if (!file_has(log, "serving crashes", 10000)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		cr_assert_fail("the server did not start");
	}
	return pid;
}

int server_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	st = wait_end(pid, 15000);
	if (st < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	return st;
}
