#define _GNU_SOURCE
/* A POSIX timer whose last delivered expiry had overruns: a 1 ms timer
 * whose signal is blocked for 30 ms, then let through once; the handler
 * blocks it again for good (in the mask sigreturn restores), so the
 * overrun count timer_getoverrun() reports stays. READY overrun=N. */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "target.h"

static volatile sig_atomic_t delivered;

static void on_timer(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)si;
	sigaddset(&uc->uc_sigmask, sig);
	delivered = 1;
}

int main(void)
{
	struct sigaction sa = { .sa_sigaction = on_timer, .sa_flags = SA_SIGINFO };
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	struct timespec nap = { 0, 30 * 1000000 };
	struct sigevent ev;
	sigset_t one;
	timer_t t;

	sigemptyset(&one);
	sigaddset(&one, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &one, NULL);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN, &sa, NULL);
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	timer_create(CLOCK_MONOTONIC, &ev, &t);
	timer_settime(t, 0, &its, NULL);
	while (nanosleep(&nap, &nap))
		;
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	while (!delivered)
		pause();
	target_ready("pid=%d overrun=%d", getpid(), timer_getoverrun(t));
	for (;;)
		pause();
}
