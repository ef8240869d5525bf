/* pidfds and namespace fds: a pidfd of itself, of its child C (which it
 * kills and waits for through it after the restore), of a child D that
 * exited with status 42 and was reaped; fds on its own net namespace and
 * on C's uts namespace (C unshares it); an epoll watching C's pidfd.
 *
 * argv[1]: file to wait for. READY pid=P child=C self=FD cfd=FD dead=FD
 * net=FD uts=FD. After the wait it prints:
 *   PIDS self=<0|1> ns_self=<0|1> ns_child=<0|1> child=<0|1> dead=<0|1> dead_status=<hex>
 *        ep=<before>,<after> (epoll events for C's pidfd before and after it is killed)
 * (ns_child: the uts fd is C's namespace, whichever it is now). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "target.h"

struct pidfd_info0 {
	uint64_t mask, cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
#define PIDFD_GET_INFO0 _IOWR(0xFF, 11, struct pidfd_info0)

static int fdinfo_pid(int fd)
{
	char path[64], line[128];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %d", &pid) == 1)
			break;
	if (f)
		fclose(f);
	return pid;
}

static int same_ns(int fd, const char *path)
{
	struct stat a, b;

	return !fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	struct pidfd_info0 info = { .mask = 1 << 3 };
	int self, cfd, dead, net, uts, p[2], dead_ok, child_ok = 0, ep, before, after = 0;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0xc0 };
	struct pollfd pf;
	char path[64], c;
	siginfo_t si;
	pid_t child, d;

	if (argc < 2 || pipe(p))
		return 2;
	child = fork();
	if (child == 0) {
		if (unshare(CLONE_NEWUTS) || write(p[1], "u", 1) != 1)
			return 1;
		for (;;)
			pause();
	}
	if (read(p[0], &c, 1) != 1)
		return 1;
	d = fork();
	if (d == 0)
		_exit(42);
	dead = (int)syscall(SYS_pidfd_open, d, 0);
	waitpid(d, NULL, 0);
	self = (int)syscall(SYS_pidfd_open, getpid(), 0);
	cfd = (int)syscall(SYS_pidfd_open, child, O_NONBLOCK);
	net = open("/proc/self/ns/net", O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/ns/uts", child);
	uts = open(path, O_RDONLY);
	ep = epoll_create1(0);
	if (self < 0 || cfd < 0 || dead < 0 || net < 0 || uts < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev))
		return 1;
	target_ready("pid=%d child=%d self=%d cfd=%d dead=%d net=%d uts=%d", getpid(), child, self,
		     cfd, dead, net, uts);
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);

	printf("PIDS self=%d", fdinfo_pid(self) == getpid() &&
	       !syscall(SYS_pidfd_send_signal, self, 0, NULL, 0));
	pf = (struct pollfd){ .fd = dead, .events = POLLIN };
	dead_ok = fdinfo_pid(dead) == -1 && poll(&pf, 1, 0) == 1 &&
		  syscall(SYS_pidfd_send_signal, dead, 0, NULL, 0) < 0 && errno == ESRCH;
	ioctl(dead, PIDFD_GET_INFO0, &info);
	printf(" ns_self=%d ns_child=%d", same_ns(net, "/proc/self/ns/net"), same_ns(uts, path));
	before = epoll_wait(ep, &ev, 1, 0);
	if (!syscall(SYS_pidfd_send_signal, cfd, SIGTERM, NULL, 0)) {
		ev.data.u64 = 0;
		after = epoll_wait(ep, &ev, 1, 10000) == 1 && ev.data.u64 == 0xc0;
		for (int i = 0; i < 5000; i++) {
			memset(&si, 0, sizeof(si));
			if (!waitid(P_PIDFD, (id_t)cfd, &si, WEXITED | WNOHANG) && si.si_pid)
				break;
			nanosleep(&ms, NULL);
		}
		child_ok = si.si_pid == child && si.si_code == CLD_KILLED && si.si_status == SIGTERM;
	}
	printf(" child=%d dead=%d dead_status=%#x ep=%d,%d\n", child_ok, dead_ok, info.exit_code,
	       before, after);
	fflush(stdout);
	return 0;
}
