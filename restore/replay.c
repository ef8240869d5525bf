/* restore --replay: a copy of a live snapshot beside the original, stopped,
 * that can reach nothing of the original nor of the host.
 *
 * criu-lite itself enters a new mount, network and IPC namespace before
 * anything of the tree is opened (sockets are made here before the fork:
 * they must be made in the replay's network), makes its mounts private (so
 * that nothing propagates back) and swaps the files the tree could write
 * for private copies (replay_files.c). The root is then created by our
 * init, pid 1 of a new pid namespace, where set_tid gives every process and
 * thread its dumped pid: no pid of the replay can be taken.
 *
 * Pids: a process of the replay reports its pid as criu-lite sees it
 * (/proc/self of the host's /proc, which it still has); a thread made by
 * an injected clone3 gets a pid of the namespace back, found again in its
 * NSpid line. Injected syscalls that name a process use the dumped pids
 * (rst_seen_tid). Init mounts the replay's own /proc last, just before the
 * tree is released: until then the tracer passes host /proc paths to the
 * processes it rebuilds.
 *
 * Lifetime: init dies with whoever made it (PDEATHSIG), and the namespaces,
 * mounts and copies (a detached tmpfs) die with their last process. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sched.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/procfs.h"
#include "images/clock.h"
#include "images/log.h"
#include "restore/rst.h"

static int loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		return pr_perror("replay: cannot make a socket in its network");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		r = pr_perror("replay: no loopback in its network");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (!r && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		r = pr_perror("replay: cannot bring its loopback up");
	close(s);
	return r;
}

/* What the replay cannot be isolated from is refused, in one line. */
static int refusals(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		const struct rst_proc *p = &t->procs[i];

		for (size_t k = 0; k < p->nr_th; k++)
			if (p->th[k]->tid == 1) {
				pr_err("cannot replay %s: its process 1 (an init) would be the "
				       "replay's own init", t->dir);
				return -ENOTSUP;
			}
	}
	if (t->opts.fd.ext_unix_sk || t->opts.fd.tcp_established || t->opts.fd.nr_inherit) {
		pr_err("cannot replay %s: --ext-unix-sk, --tcp-established and --inherit-fd "
		       "connect the copy to the outside", t->dir);
		return -EINVAL;
	}
	return 0;
}

int rst_replay_prepare(struct rst_tree *t)
{
	uint64_t t0 = mono_ns(), t1;
	int r = refusals(t), null;

	if (!r)
		r = rst_replay_fds(t);
	if (r)
		return r;
	/* Stopped for the debugger; every dumped pid is free in a new pid
	 * namespace, so none may differ; a connection to a peer outside ends. */
	t->opts.stopped = true;
	t->opts.same_pids = true;
	t->opts.fd.tcp_close = true;
	t->fdr.opts.tcp_close = true;
	for (size_t i = 0; i < t->nr_procs; i++)
		t->procs[i].ns_pids = true;
	if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC))
		return pr_perror("cannot replay %s: cannot make its namespaces", t->dir);
	/* Before any mount: ours must not propagate to the host's. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return pr_perror("replay: cannot make its mounts private");
	r = loopback_up();
	t1 = mono_ns();
	pr_debug("replay: its namespaces: %.1f ms", (t1 - t0) / 1e6);
	if (!r)
		r = rst_replay_files(t);
	pr_debug("replay: its copies: %.1f ms", (mono_ns() - t1) / 1e6);
	/* Its stdin would read the user's (a debugger's): it gets /dev/null,
	 * ours comes back at the seal. */
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	t->replay_stdin = fcntl(0, F_DUPFD_CLOEXEC, 3);
	if (!r && null >= 0 && dup2(null, 0) < 0)
		r = pr_perror("replay: cannot put /dev/null on stdin");
	if (null >= 0)
		close(null);
	return r;
}

pid_t rst_replay_host_tid(pid_t pid, pid_t ns_tid)
{
	char path[64];
	struct dirent *d;
	pid_t found = -ESRCH;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -ESRCH;
	while (found < 0 && (d = readdir(dir)))
		if (d->d_name[0] != '.' && procfs_ns_pid(pid, (pid_t)atoi(d->d_name)) == ns_tid)
			found = (pid_t)atoi(d->d_name);
	closedir(dir);
	return found;
}

pid_t rst_seen_pid(struct rst_tree *t, uint32_t pid)
{
	struct rst_proc *p = rst_find_proc(t, pid);

	return !p ? 0 : p->ns_pids ? (pid_t)pid : p->pid;
}

/* Every fd of init but keep (and 0-2, on /dev/null) goes. */
static void init_fds(int keep)
{
	int null = open("/dev/null", O_RDWR);

	for (int fd = 0; fd < 3 && null >= 0; fd++)
		dup2(null, fd);
	if (keep > 3)
		syscall(SYS_close_range, 3, keep - 1, 0);
	syscall(SYS_close_range, keep + 1, ~0u, 0);
}

struct seal_reply {
	int err;
	char path[256];		/* the mount that failed */
};

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || !path[n]);
}

static bool stays_rw(const struct rst_tree *t, const char *path)
{
	if ((under(path, "/proc") || under(path, "/dev")) && strcmp(path, "/dev/shm"))
		return true;
	for (size_t i = 0; i < t->nr_replay_rw; i++)
		if (!strcmp(path, t->replay_rw[i]))
			return true;
	return false;
}

/* A mount point in mountinfo: blanks and such come as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The replay's own /proc, for the tree (criu-lite keeps the host's); then
 * every other mount of the tree read-only, one by one, but its /proc, its
 * devices and its private copies: what it opens later by path cannot reach
 * the host's files. /dev/shm (the host's POSIX shm) is read-only too. Open
 * files keep their access: only a new open for writing fails. */
static void init_seal(const struct rst_tree *t, struct seal_reply *rep)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	char line[4096], mp[4096];
	FILE *f;

	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		rep->err = -errno;
		snprintf(rep->path, sizeof(rep->path), "/proc");
		return;
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		rep->err = -errno;
		return;
	}
	while (!rep->err && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*d %*d %*s %*s %4095s", mp) != 1)
			continue;
		unescape(mp);
		if (stays_rw(t, mp) || !mount_setattr(AT_FDCWD, mp, 0, &ro, sizeof(ro)))
			continue;
		/* Hidden under another mount since: nothing reaches it. */
		if (errno == ENOENT || errno == EINVAL)
			continue;
		rep->err = -errno;
		snprintf(rep->path, sizeof(rep->path), "%.255s", mp);
	}
	fclose(f);
}

/* pid 1 of the replay: its root's parent, the reaper of its orphans. It
 * exits once nothing is left, with the root's status; the kernel kills
 * whatever is left in the namespace when it dies. */
static void __attribute__((noreturn)) init_main(struct rst_tree *t, int ctl)
{
	struct rst_status st = { .idx = t->root };
	struct seal_reply rep = { 0 };
	struct pollfd pfd = { .fd = ctl, .events = POLLIN };
	int code = 1, r, ws;
	sigset_t all;
	char c;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* Our maker died before the prctl: its end of ctl is closed. */
	if (poll(&pfd, 1, 0) > 0 && pfd.revents & (POLLHUP | POLLERR))
		_exit(1);
	prctl(PR_SET_NAME, "replay-init", 0, 0, 0);
	/* Out of our session: the terminal's signals (^C) are not the
	 * replay's; one of its own is made by its session leaders. */
	setsid();
	/* Its /proc, mounted at the seal, is the tree's only. */
	if (unshare(CLONE_NEWNS))
		r = rst_child_fail(&st, errno, "replay init: unshare: %s", strerror(errno));
	else
		r = rst_clone_proc(t, t->root, &st);
	if (r) {
		if (write(t->status_fd[1], &st, sizeof(st)) != sizeof(st))
			_exit(3);
		_exit(1);
	}
	init_fds(ctl);
	if (read(ctl, &c, 1) != 1)
		_exit(1);	/* the restore failed */
	init_seal(t, &rep);
	if (write(ctl, &rep, sizeof(rep)) != sizeof(rep))
		_exit(1);
	close(ctl);
	for (;;) {
		pid_t pid = waitpid(-1, &ws, __WALL);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			_exit(code);
		if (pid == (pid_t)t->procs[t->root].ps->pid)
			code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	}
}

int rst_replay_init(struct rst_tree *t, struct rst_status *st)
{
	struct clone_args args = { .flags = CLONE_NEWPID, .exit_signal = SIGCHLD };
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		return rst_child_fail(st, errno, "replay: socketpair: %s", strerror(errno));
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		close(sp[0]);
		close(sp[1]);
		return rst_child_fail(st, errno, "replay: cannot make its pid namespace: %s",
				      strerror(errno));
	}
	if (pid == 0) {
		close(sp[0]);
		init_main(t, sp[1]);
	}
	close(sp[1]);
	t->replay_init = pid;
	t->replay_ctl = sp[0];
	return 0;
}

int rst_replay_seal(struct rst_tree *t)
{
	struct seal_reply rep = { .err = -EIO };

	if (write(t->replay_ctl, "s", 1) != 1 ||
	    read(t->replay_ctl, &rep, sizeof(rep)) != sizeof(rep))
		return pr_perror("replay: its init is gone");
	close(t->replay_ctl);
	t->replay_ctl = -1;
	if (t->replay_stdin >= 0) {
		dup2(t->replay_stdin, 0);
		close(t->replay_stdin);
		t->replay_stdin = -1;
	}
	if (rep.err)
		pr_err("cannot replay: cannot make %.*s read-only for it: %s",
		       (int)sizeof(rep.path), rep.path[0] ? rep.path : "its mounts",
		       strerror(-rep.err));
	return rep.err;
}
