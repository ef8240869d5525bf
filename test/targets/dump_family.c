/* A parent, its child and its grandchild, each printing "TICK who n" every
 * 20 ms on the shared stdout. READY names the child and grandchild pids. */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "target.h"

static void tick(const char *who)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	unsigned long n = 0;

	for (;;) {
		printf("TICK %s %lu\n", who, n++);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
}

int main(void)
{
	int pfd[2];
	pid_t child, grandchild;

	if (pipe(pfd))
		return 1;
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		grandchild = fork();
		if (grandchild == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			tick("grandchild");
		}
		if (write(pfd[1], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
			exit(1);
		tick("child");
	}
	if (read(pfd[0], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
		return 1;
	target_ready("pid=%d child=%d grandchild=%d", getpid(), child, grandchild);
	tick("parent");
}
