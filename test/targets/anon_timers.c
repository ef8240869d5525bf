/* eventfd, timerfd and signalfd, each in a state a restore can get wrong:
 *  - an eventfd counting past 32 bits; a semaphore eventfd;
 *  - timerfd a: one-shot, 3 s relative; c: one-shot that expired unread;
 *    b: periodic 40 ms that expired unread (the kernel re-arms it at the
 *    read); d: absolute CLOCK_REALTIME date an hour ahead with
 *    TFD_TIMER_CANCEL_ON_SET; e: absolute CLOCK_MONOTONIC 4 s ahead;
 *  - a signalfd for SIGUSR1 and SIGUSR2 (both blocked) with SIGUSR1 pending.
 *
 * argv[1]: file to wait for. READY pid=P a=FD ... with each fd. After the
 * wait it prints one line:
 *   TIMERS big=<hex> sem=<n,n,n,n> a_left=<ms> c=<ticks> b=<ticks> b2=<ticks>
 *          d_left=<ms> e_left=<ms> sig=<signo>
 * (sem: four non-blocking reads, 0 for EAGAIN; b2: a blocking read after b),
 * then, once sent SIGUSR2, "SIG2 <signo>". */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static uint64_t rd(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

static long left_ms(int fd)
{
	struct itimerspec its;

	if (timerfd_gettime(fd, &its))
		return -1;
	return its.it_value.tv_sec * 1000 + its.it_value.tv_nsec / 1000000;
}

static int arm(int clock, int flags, long value_ms, long interval_ms)
{
	int fd = timerfd_create(clock, TFD_NONBLOCK);
	struct itimerspec its = {
		.it_interval = { interval_ms / 1000, interval_ms % 1000 * 1000000 },
		.it_value = { value_ms / 1000, value_ms % 1000 * 1000000 },
	};

	if (flags & TFD_TIMER_ABSTIME) {
		struct timespec now;

		clock_gettime(clock, &now);
		its.it_value.tv_sec += now.tv_sec;
		its.it_value.tv_nsec += now.tv_nsec;
		if (its.it_value.tv_nsec >= 1000000000) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= 1000000000;
		}
	}
	if (fd < 0 || timerfd_settime(fd, flags, &its, NULL))
		perror("timerfd");
	return fd;
}

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 }, settle = { 0, 100 * 1000 * 1000 };
	int big, sem, a, b, c, d, e, sfd;
	uint64_t add = 0x100000004ull, bticks, b2;
	struct signalfd_siginfo si;
	sigset_t set;
	int sig = 0;

	if (argc < 2)
		return 2;
	big = eventfd(1, EFD_NONBLOCK);
	if (write(big, &add, sizeof(add)) != sizeof(add))
		return 1;
	sem = eventfd(3, EFD_NONBLOCK | EFD_SEMAPHORE);
	a = arm(CLOCK_MONOTONIC, 0, 3000, 0);
	c = arm(CLOCK_MONOTONIC, 0, 10, 0);
	b = arm(CLOCK_MONOTONIC, 0, 40, 40);
	d = arm(CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, 3600 * 1000, 0);
	e = arm(CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, 4000, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK);
	kill(getpid(), SIGUSR1);
	nanosleep(&settle, NULL);	/* c and b expire, unread */
	target_ready("pid=%d big=%d sem=%d a=%d b=%d c=%d d=%d e=%d sfd=%d", getpid(), big, sem,
		     a, b, c, d, e, sfd);
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);

	printf("TIMERS big=%#llx sem=", (unsigned long long)rd(big));
	for (int i = 0; i < 4; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)rd(sem));
	printf(" a_left=%ld c=%llu", left_ms(a), (unsigned long long)rd(c));
	bticks = rd(b);
	/* the period goes on: the next expiry comes within a second */
	for (int i = 0; i < 1000 && !(b2 = rd(b)) && errno == EAGAIN; i++)
		nanosleep(&ms, NULL);
	printf(" b=%llu b2=%llu", (unsigned long long)bticks, (unsigned long long)b2);
	printf(" d_left=%ld e_left=%ld", left_ms(d), left_ms(e));
	if (read(sfd, &si, sizeof(si)) == sizeof(si))
		sig = (int)si.ssi_signo;
	printf(" sig=%d\n", sig);
	fflush(stdout);
	for (sig = 0; !sig;) {
		if (read(sfd, &si, sizeof(si)) == sizeof(si))
			sig = (int)si.ssi_signo;
		else
			nanosleep(&ms, NULL);
	}
	printf("SIG2 %d\n", sig);
	fflush(stdout);
	return 0;
}
