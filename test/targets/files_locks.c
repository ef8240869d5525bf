/* Restore target: locks of every kind, and an fd's signal owner.
 * argv[1]: file to wait for; argv[2]: a directory it may use.
 *  fd 3 dir/flock  flock LOCK_EX (a child shares the description)
 *  fd 4 dir/posix  POSIX write lock on bytes 10-19, read lock 100-EOF
 *  fd 5 dir/ofd    OFD write lock on bytes 0-9
 *  fd 6 dir/lease  read lease
 *  fd 7, 8         a pipe; fd 7 owned by this process, SIGUSR2 as its signal
 * After the wait it prints "LOCKS own=1 sig=1 child=1". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static void wait_for(const char *path)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (access(path, F_OK))
		nanosleep(&ms, NULL);
}

static int lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	return fcntl(fd, cmd, &fl);
}

static int open_in(const char *dir, const char *name, int flags)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return open(p, flags | O_CREAT, 0644);
}

int main(int argc, char **argv)
{
	int p[2], st;
	pid_t child;

	if (argc < 3)
		return 2;
	/* A lease break would signal us: SIGIO must not kill. */
	signal(SIGIO, SIG_IGN);
	if (open_in(argv[2], "flock", O_RDWR) != 3 || flock(3, LOCK_EX | LOCK_NB) ||
	    open_in(argv[2], "posix", O_RDWR) != 4 || lock(4, F_SETLK, F_WRLCK, 10, 10) ||
	    lock(4, F_SETLK, F_RDLCK, 100, 0) || open_in(argv[2], "ofd", O_RDWR) != 5 ||
	    lock(5, F_OFD_SETLK, F_WRLCK, 0, 10) || open_in(argv[2], "lease", O_RDONLY) != 6 ||
	    fcntl(6, F_SETLEASE, F_RDLCK))
		return 1;
	if (pipe(p) || p[0] != 7 || fcntl(7, F_SETOWN, getpid()) || fcntl(7, F_SETSIG, SIGUSR2))
		return 1;
	child = fork();
	if (child == 0) {
		wait_for(argv[1]);
		_exit(0);
	}
	target_ready("pid=%d child=%d", getpid(), child);
	wait_for(argv[1]);
	printf("LOCKS own=%d sig=%d", fcntl(7, F_GETOWN) == getpid(), fcntl(7, F_GETSIG) == SIGUSR2);
	printf(" child=%d\n", waitpid(child, &st, 0) == child && WIFEXITED(st) && !WEXITSTATUS(st));
	fflush(stdout);
	return 0;
}
