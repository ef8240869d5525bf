#define _GNU_SOURCE
/* POSIX timers and interval timers that must survive a dump --kill and
 * restore. It makes:
 *   A  CLOCK_MONOTONIC, SIGRTMIN+1 to the process, sigev_value 0x1234,
 *      every 20 ms;
 *   (a timer made and deleted: a gap in the ids)
 *   B  CLOCK_REALTIME, SIGRTMIN+2 to the worker thread (SIGEV_THREAD_ID),
 *      sigev_value 77, every 30 ms;
 *   C  CLOCK_BOOTTIME, SIGEV_NONE, 50 s left, then every 7 s;
 *   D  CLOCK_PROCESS_CPUTIME_ID, SIGRTMIN+3, disarmed;
 *   E  CLOCK_MONOTONIC, SIGRTMIN+4 (blocked everywhere), first after 10 ms,
 *      then every 60 s: its signal stays pending. (Every 10 ms, as it was,
 *      the count below raced the timer: once the first signal is taken the
 *      kernel re-arms it, and a drain preempted past the next expiry on a
 *      loaded machine counted 2 though nothing was duplicated);
 * and ITIMER_VIRTUAL (100 s, every 3 s) and ITIMER_PROF (200 s). READY
 * once all run (A and B have fired). When the file argv[1] exists it
 * prints what it finds:
 *   "TIMERS a=<ticks ok> a_val=<sival ok> b=<ticks on the worker ok>
 *    c_left_ms=N c_int_ms=N d_off=1 e_queued=N virt_left_ms=N virt_int_ms=N
 *    prof_left_ms=N"
 * e_queued: how many of E's signals are queued (1: a restore that queued a
 * copy of the dumped one besides the timer's own would make it 2). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static volatile sig_atomic_t a_ticks, a_bad_val, b_ticks, b_wrong_thread;
static volatile pid_t worker_tid;

static void on_a(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	a_ticks++;
	if (si->si_value.sival_ptr != (void *)0x1234)
		a_bad_val++;
}

static void on_b(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	if (gettid() != worker_tid || si->si_value.sival_int != 77)
		b_wrong_thread++;
	else
		b_ticks++;
}

static void *worker(void *arg)
{
	(void)arg;
	worker_tid = gettid();
	for (;;)
		pause();
	return NULL;
}

static timer_t make(clockid_t clock, int notify, int signo, long val, pid_t tid)
{
	struct sigevent ev;
	timer_t t;

	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = notify;
	ev.sigev_signo = signo;
	ev.sigev_value.sival_ptr = (void *)val;
	ev._sigev_un._tid = tid;
	if (syscall(SYS_timer_create, clock, &ev, &t)) {
		perror("timer_create");
		_exit(1);
	}
	return t;
}

static void arm(timer_t t, long value_ms, long interval_ms)
{
	struct itimerspec its = {
		{ interval_ms / 1000, interval_ms % 1000 * 1000000 },
		{ value_ms / 1000, value_ms % 1000 * 1000000 },
	};

	timer_settime(t, 0, &its, NULL);
}

static void handle(int sig, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa = { .sa_sigaction = fn, .sa_flags = SA_SIGINFO | SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static long left_ms(timer_t t, long *interval_ms)
{
	struct itimerspec its;

	timer_gettime(t, &its);
	*interval_ms = its.it_interval.tv_sec * 1000 + its.it_interval.tv_nsec / 1000000;
	return its.it_value.tv_sec * 1000 + its.it_value.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	while (nanosleep(&ts, &ts))
		;
}

static int queued(int sig)
{
	struct timespec zero = { 0, 0 };
	sigset_t one;
	int n = 0;

	sigemptyset(&one);
	sigaddset(&one, sig);
	while (sigtimedwait(&one, NULL, &zero) == sig)
		n++;
	return n;
}

int main(int argc, char **argv)
{
	struct itimerval virt = { { 3, 0 }, { 100, 0 } }, prof = { { 0, 0 }, { 200, 0 } };
	timer_t a, b, c, d, e, gap;
	sigset_t blk;
	pthread_t th;
	long ci, ai;

	if (argc < 2)
		return 2;
	sigemptyset(&blk);
	sigaddset(&blk, SIGRTMIN + 4);
	sigprocmask(SIG_BLOCK, &blk, NULL);	/* the worker inherits it */
	handle(SIGRTMIN + 1, on_a);
	handle(SIGRTMIN + 2, on_b);
	pthread_create(&th, NULL, worker, NULL);
	while (!worker_tid)
		nap_ms(1);
	a = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 1, 0x1234, 0);
	gap = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
	b = make(CLOCK_REALTIME, SIGEV_THREAD_ID, SIGRTMIN + 2, 77, worker_tid);
	c = make(CLOCK_BOOTTIME, SIGEV_NONE, 0, 0, 0);
	d = make(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGRTMIN + 3, 5, 0);
	e = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 4, 9, 0);
	timer_delete(gap);
	arm(a, 20, 20);
	arm(b, 30, 30);
	arm(c, 50000, 7000);
	arm(e, 10, 60000);
	setitimer(ITIMER_VIRTUAL, &virt, NULL);
	setitimer(ITIMER_PROF, &prof, NULL);
	while (a_ticks < 2 || b_ticks < 2)
		nap_ms(5);
	target_ready("pid=%d worker=%d", getpid(), worker_tid);
	while (access(argv[1], F_OK))
		nap_ms(1);

	int a0 = a_ticks, b0 = b_ticks;
	nap_ms(400);	/* 20 and 13 expiries: > 3 of each even on a loaded machine */
	long c_left = left_ms(c, &ci), d_left = left_ms(d, &ai);
	getitimer(ITIMER_VIRTUAL, &virt);
	getitimer(ITIMER_PROF, &prof);
	printf("TIMERS a=%d a_val=%d b=%d c_left_ms=%ld c_int_ms=%ld d_off=%d e_queued=%d "
	       "virt_left_ms=%ld virt_int_ms=%ld prof_left_ms=%ld\n",
	       a_ticks > a0 + 3, !a_bad_val, b_ticks > b0 + 3 && !b_wrong_thread, c_left, ci,
	       d_left == 0 && ai == 0, queued(SIGRTMIN + 4),
	       virt.it_value.tv_sec * 1000 + virt.it_value.tv_usec / 1000,
	       virt.it_interval.tv_sec * 1000 + virt.it_interval.tv_usec / 1000,
	       prof.it_value.tv_sec * 1000 + prof.it_value.tv_usec / 1000);
	fflush(stdout);
	return 0;
}
