/* Two threads parked in syscalls that hold a temporary signal mask in the
 * kernel (issue 15, test_survive.c): one in rt_sigsuspend, one in ppoll,
 * each with SIGPROF blocked as its own (real) mask and SIGUSR1 blocked in
 * the temporary one. SIGUSR2 (a handler that does nothing) wakes either;
 * it then prints "MASK sus|ppoll HEX", the mask it holds once the syscall
 * has returned (the real one, if nothing went wrong), and parks again.
 * READY tells both thread ids. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "target.h"

static pid_t tids[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void on_usr2(int sig)
{
	(void)sig;
}

static void report(const char *tag)
{
	sigset_t cur;
	uint64_t bits = 0;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (int s = 1; s < 64; s++)
		if (sigismember(&cur, s) == 1)
			bits |= 1ull << (s - 1);
	pthread_mutex_lock(&lock);
	printf("MASK %s %llx\n", tag, (unsigned long long)bits);
	fflush(stdout);
	pthread_mutex_unlock(&lock);
}

static void *parked(void *arg)
{
	long which = (long)arg;
	sigset_t real, temp;

	sigemptyset(&real);
	sigaddset(&real, SIGPROF);
	pthread_sigmask(SIG_SETMASK, &real, NULL);
	sigemptyset(&temp);
	sigaddset(&temp, SIGUSR1);
	__atomic_store_n(&tids[which], (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	for (;;) {
		if (which == 0)
			sigsuspend(&temp);
		else
			ppoll(NULL, 0, NULL, &temp);
		report(which == 0 ? "sus" : "ppoll");
	}
	return NULL;
}

int main(void)
{
	struct sigaction sa;
	pthread_t th[2];
	sigset_t all;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	/* the main thread takes no signal: only the parked ones are woken */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (long i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, parked, (void *)i);
	while (!__atomic_load_n(&tids[0], __ATOMIC_SEQ_CST) ||
	       !__atomic_load_n(&tids[1], __ATOMIC_SEQ_CST))
		usleep(1000);
	target_ready("sus=%d ppoll=%d", tids[0], tids[1]);
	for (;;)
		pause();
}
