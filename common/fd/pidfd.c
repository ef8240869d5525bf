/* pidfd: the process it refers to (fdinfo "Pid", -1 once it is gone and
 * reaped) and its flags (PIDFD_NONBLOCK, PIDFD_THREAD).
 *
 * Of a process of the tree (self, a child, any other): made once every
 * process exists, by pidfd_open of its restored pid injected into the
 * holder, over a placeholder at the fd's number. Each fd gets its own
 * pidfd: one shared by several processes comes back as several, alike.
 *
 * Of a process gone: a pidfd that names no process is made again from a
 * helper criu-lite forks, opens and reaps; it exits the way the dumped one
 * did (PIDFD_INFO_EXIT, from Linux 6.15), so a PIDFD_GET_INFO after the
 * restore reads the same status. poll says it has exited, waitid and
 * pidfd_send_signal find no process, as before.
 *
 * Of a live process outside the tree: refused, named (it would be another
 * process after the restore). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fd/fd.h"
#include "images/log.h"

#define PIDFD_FLAGS (O_NONBLOCK | O_EXCL)	/* PIDFD_NONBLOCK, PIDFD_THREAD */

/* linux/pidfd.h, version 0 of the struct (64 bytes) */
struct pidfd_info0 {
	uint64_t mask, cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
#define PIDFD_GET_INFO0 _IOWR(0xFF, 11, struct pidfd_info0)
#define PIDFD_INFO_EXIT (1UL << 3)

static bool is_pidfd(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[pidfd]");
}

/* The wait status of the gone process, when the kernel kept it. */
static void exit_status(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	struct pidfd_info0 info = { .mask = PIDFD_INFO_EXIT };
	int fd = fd_dump_getfd(c, d->fd);

	if (fd < 0)
		return;
	if (!ioctl(fd, PIDFD_GET_INFO0, &info) && (info.mask & PIDFD_INFO_EXIT)) {
		e->has_pidfd_exit = true;
		e->pidfd_exit = info.exit_code;
	}
}

static int pidfd_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const char *v = fdinfo_field(d->fdinfo, "Pid");

	e->type = FD_TYPE__FD_PIDFD;
	if (v) {
		e->has_pidfd_pid = true;
		e->pidfd_pid = atoi(v);
	}
	if (e->has_pidfd_pid && e->pidfd_pid < 0)
		exit_status(c, d, e);
	return 0;
}

/* ---- restore ---- */

static bool gone(const FdEntry *e)
{
	return e->has_pidfd_pid && e->pidfd_pid < 0;
}

static bool in_tree(const struct fd_rst *r, int32_t pid)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		if ((int32_t)r->procs[i].pid == pid)
			return true;
	return false;
}

static int pidfd_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	if (!e->has_pidfd_pid)
		return fd_rst_fail(why, len, EINVAL, "pidfd without its process in the image");
	if (gone(e) || in_tree(r, e->pidfd_pid))
		return 0;
	if (e->flags & O_EXCL)
		return fd_rst_fail(why, len, EOPNOTSUPP, "pidfd of thread %d: a thread pidfd comes "
				   "back only for a thread group leader of the tree", e->pidfd_pid);
	return fd_rst_fail(why, len, EOPNOTSUPP, "pidfd of process %d, which is outside the "
			   "dumped tree", e->pidfd_pid);
}

/* The helper: told through the pipe, it goes as the dumped process went. */
static void helper(int go, int st)
{
	struct rlimit no = { 0, 0 };
	sigset_t all;
	char c;

	setrlimit(RLIMIT_CORE, &no);
	if (read(go, &c, 1) < 0)
		_exit(127);
	if (WIFSIGNALED(st)) {
		signal(WTERMSIG(st), SIG_DFL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		raise(WTERMSIG(st));
	}
	_exit(WEXITSTATUS(st));
}

/* A pidfd naming a process that is gone, which went as status says. */
static int dead_pidfd(const FdEntry *e, char *why, size_t len)
{
	int st = e->has_pidfd_exit ? e->pidfd_exit : 0, fd, go[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC))
		return fd_rst_fail(why, len, errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		helper(go[0], st);
	}
	close(go[0]);
	fd = pid < 0 ? -1 : (int)syscall(SYS_pidfd_open, pid, (unsigned int)(e->flags & O_NONBLOCK));
	if (fd < 0) {
		int err = errno;

		if (pid > 0)
			kill(pid, SIGKILL);
		close(go[1]);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return fd_rst_fail(why, len, err, "cannot make a pidfd of a process gone: %s",
				   strerror(err));
	}
	close(go[1]);
	waitpid(pid, NULL, 0);
	return fd;
}

static int pidfd_open_hook(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	int fd;

	(void)r;
	if (gone(e))
		return dead_pidfd(e, why, len);
	/* a placeholder: the pidfd is made once the process exists (late) */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "/dev/null: %s", strerror(errno));
	return fd;
}

static int pidfd_late(const struct fd_rst *r0, const FdEntry *e, const struct fd_rst_late *l,
		      char *why, size_t len)
{
	pid_t pid;
	uint64_t fd, ret;
	int r;

	(void)r0;
	if (gone(e))
		return 0;
	pid = l->real_pid(l->ctx, (uint32_t)e->pidfd_pid);
	if (pid <= 0)
		return fd_rst_fail(why, len, ESRCH, "pidfd of process %d: not restored",
				   e->pidfd_pid);
	r = l->sys(l->ctx, SYS_pidfd_open, &fd, (uint64_t)pid, e->flags & PIDFD_FLAGS, 0, 0);
	if (!r && (int64_t)fd < 0)
		r = (int)(int64_t)fd;
	if (r)
		return fd_rst_fail(why, len, -r, "pidfd_open(%d): %s", pid, strerror(-r));
	r = l->sys(l->ctx, SYS_dup3, &ret, fd, e->fd, e->fd_flags & FD_CLOEXEC ? O_CLOEXEC : 0, 0);
	if (!r && (int64_t)ret < 0)
		r = (int)(int64_t)ret;
	l->sys(l->ctx, SYS_close, &ret, fd, 0, 0, 0);
	if (r)
		return fd_rst_fail(why, len, -r, "dup3 of the pidfd: %s", strerror(-r));
	return 0;
}

const struct fd_kind fdk_pidfd = {
	.type = FD_TYPE__FD_PIDFD,
	.name = "pidfd",
	.dump_match = is_pidfd,
	.dump = pidfd_dump,
	.check = pidfd_check,
	.open = pidfd_open_hook,
	.late = pidfd_late,
};
