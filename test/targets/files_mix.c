/* A process holding one fd of every kind the fd dumper knows, with data
 * queued wherever a kind can queue it.
 *
 * usage: files_mix DIR [netns]
 * DIR receives the regular file, the FIFO and the UNIX socket. With
 * "netns" it first moves into a network namespace of its own.
 *
 * After READY it waits for SIGUSR1 (send SIGCONT too if it was stopped),
 * then reads what is queued on its pipe, FIFO, UNIX pair and TCP pair and
 * prints one line per channel: "GOT name len=N hash=H", so a test can check
 * a dump left every byte in place. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>

#include "target.h"

#define PIPE_BYTES 3000
#define PIPE_SKIP 10	/* read before READY: the first buffer starts mid-page */

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static uint64_t fnv(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static int xcheck(int r, const char *what)
{
	if (r < 0)
		die(what);
	return r;
}

/* Without lo up, 127.0.0.1 is unreachable in a fresh netns. */
static void enter_netns(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int s;

	xcheck(unshare(CLONE_NEWNET), "unshare");
	s = xcheck(socket(AF_INET, SOCK_DGRAM, 0), "socket");
	xcheck(ioctl(s, SIOCGIFFLAGS, &ifr), "SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	xcheck(ioctl(s, SIOCSIFFLAGS, &ifr), "SIOCSIFFLAGS");
	close(s);
}

static int unix_listener(const char *dir, int *client, char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = xcheck(socket(AF_UNIX, SOCK_STREAM, 0), "socket");

	snprintf(path, len, "%s/sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	xcheck(bind(s, (struct sockaddr *)&sa, sizeof(sa)), "bind unix");
	xcheck(listen(s, 5), "listen unix");
	/* connected but never accepted: a pending connection on the listener */
	*client = xcheck(socket(AF_UNIX, SOCK_STREAM, 0), "socket");
	xcheck(connect(*client, (struct sockaddr *)&sa, sizeof(sa)), "connect unix");
	return s;
}

static int unix_abstract(char *name, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = xcheck(socket(AF_UNIX, SOCK_DGRAM, 0), "socket");
	int n = snprintf(name, len, "criu-lite-mix-%d", getpid());

	memcpy(sa.sun_path + 1, name, n);
	xcheck(bind(s, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + 1 + n),
	       "bind abstract");
	return s;
}

static void tcp_pair(int *lsn, int *cli, int *srv, int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct pollfd pfd;

	*lsn = xcheck(socket(AF_INET, SOCK_STREAM, 0), "socket");
	xcheck(bind(*lsn, (struct sockaddr *)&sa, sizeof(sa)), "bind tcp");
	xcheck(listen(*lsn, 7), "listen tcp");
	xcheck(getsockname(*lsn, (struct sockaddr *)&sa, &sl), "getsockname");
	*port = ntohs(sa.sin_port);
	*cli = xcheck(socket(AF_INET, SOCK_STREAM, 0), "socket");
	xcheck(connect(*cli, (struct sockaddr *)&sa, sizeof(sa)), "connect tcp");
	*srv = xcheck(accept(*lsn, NULL, NULL), "accept");
	xcheck(write(*cli, "tcp-bytes", 9), "write tcp");
	/* the dump must find them queued, not in flight */
	pfd = (struct pollfd){ .fd = *srv, .events = POLLIN };
	xcheck(poll(&pfd, 1, 5000), "poll");
}

static int udp6_socket(int *port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t sl = sizeof(sa);
	int s = xcheck(socket(AF_INET6, SOCK_DGRAM, 0), "socket udp6");

	xcheck(bind(s, (struct sockaddr *)&sa, sizeof(sa)), "bind udp6");
	xcheck(getsockname(s, (struct sockaddr *)&sa, &sl), "getsockname");
	*port = ntohs(sa.sin6_port);
	return s;
}

static int fill_pipe(int p[2], uint64_t *hash)
{
	static unsigned char buf[PIPE_BYTES];

	for (int i = 0; i < PIPE_BYTES; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	/* two writes: two pipe buffers */
	xcheck(write(p[1], buf, 1000), "write pipe");
	xcheck(write(p[1], buf + 1000, PIPE_BYTES - 1000), "write pipe");
	xcheck(read(p[0], buf, PIPE_SKIP), "read pipe");
	*hash = fnv(buf + PIPE_SKIP, PIPE_BYTES - PIPE_SKIP);
	return PIPE_BYTES - PIPE_SKIP;
}

static void report(const char *name, int fd)
{
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t n;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while ((n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += n;
	printf("GOT %s len=%zu hash=%#llx\n", name, len, (unsigned long long)fnv(buf, len));
}

int main(int argc, char **argv)
{
	int pip[2], sv[2], epv[2], lsn, cli, tl, tc, ts, port, u6port, efd, ep, mfd, sfd, tfd, ino;
	int reg, dir, fr, fw, abs_s, udp6, tcp_closed, nl, null, uring, pidfd, ptm, pts;
	char path[4096], sock_path[4096], abs_name[64];
	struct io_uring_params up = { 0 };
	struct itimerspec its = { { 1000, 0 }, { 1000, 0 } };
	struct epoll_event ev;
	uint64_t pipe_hash;
	sigset_t set;
	int pipe_len, sig;

	if (argc < 2)
		return 2;
	/* A failed assertion skips target_kill(): die with the test, or the
	 * orphan keeps the suite's pipes open and the run hangs. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (argc > 2 && !strcmp(argv[2], "netns"))
		enter_netns();

	snprintf(path, sizeof(path), "%s/reg.txt", argv[1]);
	reg = xcheck(open(path, O_RDWR | O_CREAT | O_APPEND, 0600), "open reg");
	xcheck(write(reg, "0123456789abcdefghijklmnopqrstuvwxyz", 36), "write reg");
	xcheck(lseek(reg, 17, SEEK_SET), "lseek");
	dir = xcheck(open(argv[1], O_RDONLY | O_DIRECTORY), "open dir");

	xcheck(pipe(pip), "pipe");
	pipe_len = fill_pipe(pip, &pipe_hash);

	snprintf(path, sizeof(path), "%s/fifo", argv[1]);
	xcheck(mkfifo(path, 0600), "mkfifo");
	fr = xcheck(open(path, O_RDONLY | O_NONBLOCK), "open fifo r");
	fw = xcheck(open(path, O_WRONLY), "open fifo w");
	xcheck(write(fw, "fifo-bytes", 10), "write fifo");

	xcheck(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	xcheck(write(sv[0], "hello over unix", 15), "write unix");
	lsn = unix_listener(argv[1], &cli, sock_path, sizeof(sock_path));
	abs_s = unix_abstract(abs_name, sizeof(abs_name));
	tcp_pair(&tl, &tc, &ts, &port);
	udp6 = udp6_socket(&u6port);
	tcp_closed = xcheck(socket(AF_INET, SOCK_STREAM, 0), "socket");
	nl = xcheck(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), "netlink");

	efd = xcheck(eventfd(5, EFD_CLOEXEC), "eventfd");
	ep = xcheck(epoll_create1(0), "epoll");
	xcheck(pipe(epv), "pipe");
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0x1111 };
	xcheck(epoll_ctl(ep, EPOLL_CTL_ADD, epv[0], &ev), "epoll_ctl");
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u64 = 0x2222 };
	xcheck(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), "epoll_ctl");
	mfd = xcheck(memfd_create("criu-lite-mix", 0), "memfd");
	xcheck(ftruncate(mfd, 12345), "ftruncate");
	null = xcheck(open("/dev/null", O_WRONLY), "open null");
	uring = xcheck(syscall(SYS_io_uring_setup, 4, &up), "io_uring_setup");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sfd = xcheck(signalfd(-1, &set, 0), "signalfd");
	tfd = xcheck(timerfd_create(CLOCK_MONOTONIC, 0), "timerfd");
	xcheck(timerfd_settime(tfd, 0, &its, NULL), "timerfd_settime");
	ino = xcheck(inotify_init1(0), "inotify");
	xcheck(inotify_add_watch(ino, argv[1], IN_CREATE), "inotify_add_watch");
	pidfd = xcheck(syscall(SYS_pidfd_open, getpid(), 0), "pidfd_open");
	ptm = xcheck(posix_openpt(O_RDWR | O_NOCTTY), "posix_openpt");
	xcheck(grantpt(ptm), "grantpt");
	xcheck(unlockpt(ptm), "unlockpt");
	pts = xcheck(open(ptsname(ptm), O_RDWR | O_NOCTTY), "open pts");

	target_ready("reg=%d dir=%d pipe_r=%d pipe_w=%d pipe_len=%d pipe_hash=%#llx "
		     "fifo_r=%d fifo_w=%d sv0=%d sv1=%d ulsn=%d ucli=%d uabs=%d "
		     "tlsn=%d tcli=%d tsrv=%d port=%d udp6=%d u6port=%d tclosed=%d nl=%d "
		     "efd=%d ep=%d ep_pipe=%d memfd=%d null=%d uring=%d sfd=%d tfd=%d "
		     "ino=%d pidfd=%d ptm=%d pts=%d",
		     reg, dir, pip[0], pip[1], pipe_len, (unsigned long long)pipe_hash,
		     fr, fw, sv[0], sv[1], lsn, cli, abs_s, tl, tc, ts, port, udp6, u6port,
		     tcp_closed, nl, efd, ep, epv[0], mfd, null, uring, sfd, tfd, ino, pidfd,
		     ptm, pts);

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	do
		sig = sigwaitinfo(&set, NULL);
	while (sig < 0 && errno == EINTR);
	report("pipe", pip[0]);
	report("fifo", fr);
	report("unix", sv[1]);
	report("tcp", ts);
	fflush(stdout);
	for (;;)
		pause();
}
