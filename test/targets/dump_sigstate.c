/* Signal and scheduling state for the dumper to capture, all reported in
 * READY: handlers with flags and masks, an ignored signal, two itimers, a
 * sigaltstack, a process-wide queued SIGUSR2 (value 4660) and a
 * thread-private queued SIGUSR1 (value 22136) both blocked, SIGTRAP ignored
 * (the dumper's injected code must not disturb that), a worker thread
 * with nice 5 and SCHED_BATCH. Once the file argv[1] exists the signals are
 * unblocked and each delivery prints "GOT sig value", proving the dump
 * peeked at the queues without consuming them. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "target.h"

static const char *go_path;
static char altstack[65536];
static pthread_barrier_t ready;
static volatile pid_t worker_tid;

static void on_usr(int sig, siginfo_t *si, void *uc)
{
	char buf[64];
	int n;

	(void)uc;
	n = snprintf(buf, sizeof(buf), "GOT %d %d\n", sig, si->si_value.sival_int);
	(void)!write(1, buf, n);
}

static void wait_for_go(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	while (access(go_path, F_OK))
		nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
	struct sched_param sp = { 0 };
	sigset_t usr1;

	(void)arg;
	worker_tid = syscall(SYS_gettid);
	setpriority(PRIO_PROCESS, worker_tid, 5);
	sched_setscheduler(worker_tid, SCHED_BATCH, &sp);
	pthread_barrier_wait(&ready);
	wait_for_go();
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	struct itimerval real = { { 50, 0 }, { 100, 0 } }, virt = { { 7, 0 }, { 9, 0 } };
	struct sigaction sa;
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	union sigval v;
	sigset_t both;
	pthread_t th;

	if (argc < 2)
		return 2;
	go_path = argv[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTRAP, SIG_IGN);	/* a forced SIGTRAP would reset this */
	signal(SIGALRM, SIG_IGN);
	setitimer(ITIMER_REAL, &real, NULL);
	setitimer(ITIMER_VIRTUAL, &virt, NULL);
	sigaltstack(&ss, NULL);

	sigemptyset(&both);
	sigaddset(&both, SIGUSR1);
	sigaddset(&both, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &both, NULL);	/* inherited by the worker */
	pthread_barrier_init(&ready, NULL, 2);
	pthread_create(&th, NULL, worker, NULL);
	pthread_barrier_wait(&ready);
	v.sival_int = 4660;
	sigqueue(getpid(), SIGUSR2, v);
	v.sival_int = 22136;
	pthread_sigqueue(th, SIGUSR1, v);
	target_ready("pid=%d worker=%d on_usr=%p altstack=%p altstack_size=%zu", getpid(), worker_tid,
		     (void *)on_usr, (void *)altstack, sizeof(altstack));
	wait_for_go();
	sigdelset(&both, SIGUSR1);	/* SIGUSR1 is the worker's to take */
	pthread_sigmask(SIG_UNBLOCK, &both, NULL);
	for (;;)
		pause();
}
