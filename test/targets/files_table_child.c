/* Restore target: a child sharing its parent's fd table (CLONE_FILES)
 * with a child of its own that does not (fork): a tree restore cannot
 * recreate, which dump --kill must refuse while it runs. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sched.h>

#include "target.h"

int main(void)
{
	struct clone_args ca = { .flags = CLONE_FILES, .exit_signal = SIGCHLD };
	int p[2];
	pid_t b;
	char c;

	if (pipe(p))
		return 1;
	b = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (b == 0) {
		if (fork() == 0)
			for (;;)
				pause();
		/* The table is shared: the pipe says the grandchild exists. */
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (b < 0 || read(p[0], &c, 1) != 1)
		return 1;
	target_ready("pid=%d sharer=%d", getpid(), b);
	for (;;)
		pause();
}
