/* The dumper's termination signals, held while a tree is frozen: see
 * signals.h. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "criu-lite/freeze/signals.h"
#include "images/log.h"

/* SIGINT/SIGTERM/SIGHUP/SIGQUIT are held blocked while the tree is ours and
 * looked at between steps: a handler that detached threads from under a
 * running injection would leave a thread on borrowed registers. */
static const int held_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

void dump_hold_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(held_signals) / sizeof(held_signals[0]); i++)
		sigaddset(&set, held_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

void dump_drain_signals(void)
{
	const struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(held_signals) / sizeof(held_signals[0]); i++)
		sigaddset(&set, held_signals[i]);
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
}

int dump_check_interrupted(const char *what)
{
	sigset_t pending;

	sigpending(&pending);
	for (size_t i = 0; i < sizeof(held_signals) / sizeof(held_signals[0]); i++)
		if (sigismember(&pending, held_signals[i])) {
			pr_err("interrupted by %s: %s abandoned", strsignal(held_signals[i]), what);
			return -EINTR;
		}
	return 0;
}
