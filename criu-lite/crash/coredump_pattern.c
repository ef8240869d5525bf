/* core_pattern for coredump-server --install: read, set, put back.
 *
 * A killed coredump-server must not leave core_pattern pointing at its dead
 * socket: with nobody listening the kernel's connect fails and the crash's
 * core is dropped, silently, for every crash after (issue 15). SIGTERM and
 * friends are handled in the server; SIGKILL (an OOM kill, a stop timeout)
 * cannot be. So before the server writes its pattern, it leaves a watcher:
 * a detached process holding only a pidfd of the server, which wakes when
 * the server is gone, however it went, and puts the old pattern back if
 * the one there is still the server's. A server that stopped cleanly has
 * put it back already; the watcher then finds someone else's and leaves it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fault.h"
#include "common/procfs.h"
#include "criu-lite/crash/coredump_server.h"
#include "images/log.h"

#define PATTERN_FILE	"/proc/sys/kernel/core_pattern"

int coredump_pattern_read(char *buf, size_t len)
{
	int r = procfs_read_small(PATTERN_FILE, buf, len);

	if (!r)
		buf[strcspn(buf, "\n")] = '\0';
	return r;
}

static int pattern_write(const char *val)
{
	int fd = open(PATTERN_FILE, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : n < 0 ? -errno : -EIO;
}

/* Only our own value is replaced: whoever changed it since wins. */
int coredump_pattern_put_back(const char *old, const char *ours)
{
	char now[COREDUMP_PATTERN_MAX + 1];

	if (coredump_pattern_read(now, sizeof(now)) || strcmp(now, ours))
		return -EBUSY;
	return pattern_write(old);
}

static void watch(int pidfd, const char *old, const char *ours)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* Its own session: ^C or a hangup of the server's terminal is for
	 * the server; the watcher goes only once it has done its job. */
	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	prctl(PR_SET_NAME, "coredump-watch", 0, 0, 0);
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	coredump_pattern_put_back(old, ours);
	_exit(0);
}

static int watch_start(const char *old, const char *ours)
{
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0), st;
	pid_t c;

	if (pidfd < 0)
		return pr_perror("pidfd_open");
	c = fork();
	if (c < 0) {
		close(pidfd);
		return pr_perror("cannot fork the core_pattern watcher");
	}
	if (c == 0) {
		/* Double fork: not the server's child, so never its zombie nor
		 * reaped by its SIGCHLD loop; nothing of the server's held (its
		 * listener would keep the socket accepting crashes). */
		if (fork() != 0)
			_exit(0);
		if (dup2(pidfd, 3) < 0)
			_exit(1);
		syscall(SYS_close_range, 4, ~0U, 0);
		watch(3, old, ours);
	}
	close(pidfd);
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

int coredump_pattern_install(const char *old, const char *ours)
{
	int r = fault_step("coredump-server: core_pattern watcher");

	if (!r)
		r = watch_start(old, ours);
	if (!r)
		r = fault_step("coredump-server: core_pattern write");
	if (!r && (r = pattern_write(ours))) {
		errno = -r;
		r = pr_perror("cannot set %s", PATTERN_FILE);
	}
	return r;
}
