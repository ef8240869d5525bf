/* A parent, its child and its grandchild, each printing "TICK who n" every
 * 20 ms on the shared stdout. READY names the child and grandchild pids.
 * READY comes only once all three are ticking: the first printf of each
 * allocates stdio's buffer (its [heap] appears then), and a test compares
 * the dumped VMAs with /proc/PID/maps afterwards. */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "target.h"

/* Ticks forever; after the first tick, writes `say` to fd (if fd >= 0)
 * and closes it. */
static void tick(const char *who, int fd, pid_t say)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	unsigned long n = 0;

	for (;;) {
		printf("TICK %s %lu\n", who, n++);
		fflush(stdout);
		if (fd >= 0 && write(fd, &say, sizeof(say)) != sizeof(say))
			exit(1);
		if (fd >= 0)
			close(fd);
		fd = -1;
		nanosleep(&ts, NULL);
	}
}

int main(void)
{
	int pfd[2], gfd[2];
	pid_t child, grandchild;

	if (pipe(pfd))
		return 1;
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (pipe(gfd))
			exit(1);
		grandchild = fork();
		if (grandchild == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(gfd[0]);
			tick("grandchild", gfd[1], 0);
		}
		if (read(gfd[0], &(pid_t){ 0 }, sizeof(pid_t)) != sizeof(pid_t))
			exit(1);
		close(gfd[0]);
		close(gfd[1]);
		tick("child", pfd[1], grandchild);
	}
	if (read(pfd[0], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
		return 1;
	target_ready("pid=%d child=%d grandchild=%d", getpid(), child, grandchild);
	tick("parent", -1, 0);
}
