/* Restore target: kinds of fds restore recreates, each in a known state.
 * argv[1]: file to wait for; argv[2]: a directory it may use; argv[3]
 * "uring" adds an fd restore must refuse (an io_uring). After the wait it checks each
 * fd and prints "FDS eventfd=5 epoll=0x1234 dir=1 fifo=fifo-data file=345
 * cloexec=1 dup=1". */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1234 };
	char path[512], buf[64] = "";
	int efd, ep, dfd, fifo, file, n;
	struct stat a, b;
	uint64_t count = 0;

	if (argc < 3)
		return 2;
	efd = eventfd(5, EFD_NONBLOCK);
	ep = epoll_create1(0);
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
	dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "%s/fifo", argv[2]);
	mkfifo(path, 0600);
	fifo = open(path, O_RDWR);
	if (write(fifo, "fifo-data\n", 10) != 10)
		return 1;
	snprintf(path, sizeof(path), "%s/file", argv[2]);
	file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (write(file, "0123456789", 10) != 10 || lseek(file, 3, SEEK_SET) != 3)
		return 1;
	dup2(file, 20);
	if (argc > 3 && !strcmp(argv[3], "uring")) {
		struct io_uring_params up = { 0 };

		syscall(SYS_io_uring_setup, 4, &up);
	}
	target_ready("pid=%d", getpid());
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);

	n = epoll_wait(ep, &ev, 1, 1000);
	printf("FDS eventfd=%d", read(efd, &count, 8) == 8 ? (int)count : -1);
	printf(" epoll=%#llx", n == 1 ? (unsigned long long)ev.data.u64 : 0ULL);
	printf(" dir=%d", !fstat(dfd, &a) && !stat(argv[2], &b) && a.st_ino == b.st_ino &&
	       S_ISDIR(a.st_mode));
	n = read(fifo, buf, sizeof(buf) - 1);
	buf[n > 0 ? n - 1 : 0] = '\0';
	printf(" fifo=%s", buf);
	n = read(file, buf, 3);
	buf[n > 0 ? n : 0] = '\0';
	printf(" file=%s cloexec=%d dup=%d\n", buf, (fcntl(file, F_GETFD) & FD_CLOEXEC) != 0,
	       fcntl(20, F_GETFD) >= 0);
	fflush(stdout);
	return 0;
}
