#define _GNU_SOURCE
/* Restore target: signal state that must survive a dump. It installs
 * handlers (SIGUSR1 on an alternate stack), blocks SIGUSR2 and SIGWINCH
 * and leaves one of each pending (SIGUSR2 on the thread, SIGWINCH on the
 * process), and arms a 20 ms interval timer; READY once it has ticked
 * three times (a dump finds it mid-flight). Once the file argv[1] exists
 * it checks that the timer still ticks, that the blocked mask and the
 * pending signals are there, that SIGUSR1's handler runs on the alternate
 * stack, and that unblocking delivers the pending ones; prints
 * "SIG pending=1 ticking=1 altstack=1 usr2=1 winch=1". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define ALT_SIZE (64 * 1024)

static volatile sig_atomic_t ticks, usr2, winch, on_alt;
static char *alt;

static void on_alrm(int sig) { (void)sig; ticks++; }
static void on_usr2(int sig) { (void)sig; usr2++; }
static void on_winch(int sig) { (void)sig; winch++; }

static void on_usr1(int sig)
{
	char here;

	(void)sig;
	on_alt = &here >= alt && &here < alt + ALT_SIZE;
}

static void handle(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa = { .sa_handler = fn, .sa_flags = flags };

	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void nap_ms(int ms)
{
	struct timespec ts = { 0, 1000 * 1000 };

	for (int i = 0; i < ms; i++)
		nanosleep(&ts, NULL);	/* EINTR from SIGALRM is fine */
}

int main(int argc, char **argv)
{
	struct itimerval it = { { 0, 20000 }, { 0, 20000 } };
	stack_t ss;
	sigset_t block, pend;
	int before, pending;

	if (argc < 2)
		return 2;
	alt = malloc(ALT_SIZE);
	ss = (stack_t){ .ss_sp = alt, .ss_size = ALT_SIZE };
	sigaltstack(&ss, NULL);
	handle(SIGUSR1, on_usr1, SA_ONSTACK | SA_RESTART);
	handle(SIGUSR2, on_usr2, SA_RESTART);
	handle(SIGWINCH, on_winch, SA_RESTART);
	handle(SIGALRM, on_alrm, SA_RESTART);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGWINCH);
	sigprocmask(SIG_BLOCK, &block, NULL);
	syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);	/* thread-private */
	kill(getpid(), SIGWINCH);				/* process-wide */
	setitimer(ITIMER_REAL, &it, NULL);
	while (ticks < 3)
		nap_ms(1);
	target_ready("pid=%d", getpid());
	while (access(argv[1], F_OK))
		nap_ms(1);

	sigpending(&pend);
	pending = sigismember(&pend, SIGUSR2) && sigismember(&pend, SIGWINCH) && !usr2 && !winch;
	before = ticks;
	nap_ms(200);
	raise(SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	printf("SIG pending=%d ticking=%d altstack=%d usr2=%d winch=%d\n", pending,
	       ticks > before, (int)on_alt, (int)usr2, (int)winch);
	fflush(stdout);
	return 0;
}
