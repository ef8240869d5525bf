/* Waiting for one task's PTRACE_EVENT_STOP after a PTRACE_INTERRUPT. */
#include <errno.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "criu-lite/freeze/seize.h"
#include "images/clock.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define STOP_TIMEOUT_MS	5000

int seize_wait_stop(pid_t pid)
{
	uint64_t deadline = mono_ns() + STOP_TIMEOUT_MS * 1000000ull;
	struct timespec nap = { 0, 1000000 };
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, __WALL | WNOHANG);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r > 0 && !WIFSTOPPED(st)))
			return -ESRCH;
		if (r > 0 && st >> 16 == PTRACE_EVENT_STOP)
			return 0;
		if (r > 0) {
			/* A signal-delivery-stop came first: deliver it, ask again. */
			if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st)) ||
			    ptrace(PTRACE_INTERRUPT, pid, NULL, NULL))
				return -errno;
			continue;
		}
		if (mono_ns() > deadline)
			return -ETIMEDOUT;
		nanosleep(&nap, NULL);
	}
}
