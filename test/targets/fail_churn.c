/* A target that keeps changing under the dumper, for the failure-path tests:
 *   fail_churn threads      threads are born and die all the time
 *   fail_churn fork         children (and grandchildren) are forked and exit
 *   fail_churn exec         a second thread spins while main execs itself
 *                           over and over (de_thread kills the spinner)
 *   fail_churn exit MS      several threads run; the process exits after MS ms
 *   fail_churn exit-traced  several threads run; one of them watches the
 *                           leader's TracerPid and exits the whole process
 *                           as soon as a tracer shows up, i.e. mid-seize
 *   fail_churn unmap        16 MiB regions are mapped, filled, partly
 *                           discarded (MADV_DONTNEED), moved (mremap) and
 *                           unmapped all the time: memory a snapshot has not
 *                           read yet disappears under it
 * Each prints READY once (the first image only, for exec) and then churns
 * until killed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static volatile uint64_t spins;

static void *spinner(void *arg)
{
	(void)arg;
	for (;;)
		spins++;
	return NULL;
}

static void *short_lived(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		spins++;
	usleep(200);
	return NULL;
}

static void churn_threads(void)
{
	target_ready("pid=%d mode=threads", getpid());
	for (;;) {
		pthread_t th[4];

		for (int i = 0; i < 4; i++)
			pthread_create(&th[i], NULL, short_lived, NULL);
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
	}
}

static void churn_fork(void)
{
	target_ready("pid=%d mode=fork", getpid());
	for (;;) {
		pid_t c = fork();

		if (c == 0) {
			/* Half the children fork a grandchild of their own first. */
			if ((getpid() & 1) && fork() == 0)
				_exit(0);
			usleep(500);
			while (wait(NULL) > 0)
				;
			_exit(0);
		}
		usleep(300);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

static void churn_exec(int round)
{
	pthread_t th;
	char arg[32];

	pthread_create(&th, NULL, spinner, NULL);
	if (round == 0)
		target_ready("pid=%d mode=exec", getpid());
	usleep(2000);
	snprintf(arg, sizeof(arg), "%d", round + 1);
	execl("/proc/self/exe", "fail_churn", "exec", arg, (char *)NULL);
	perror("exec");
	exit(1);
}

static void churn_exit(int ms)
{
	struct timespec t0, t;
	pthread_t th[3];

	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, spinner, NULL);
	target_ready("pid=%d mode=exit ms=%d", getpid(), ms);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		spins++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	exit(0);
}

static void *watch_tracer(void *arg)
{
	(void)arg;
	for (;;) {
		char buf[4096];
		FILE *f = fopen("/proc/self/status", "re");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		char *tp;

		if (f)
			fclose(f);
		buf[n] = '\0';
		tp = strstr(buf, "TracerPid:");
		if (tp && atoi(tp + 10) != 0)
			exit(3);
		usleep(50);
	}
	return NULL;
}

static void exit_when_traced(void)
{
	pthread_t th[4];

	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, spinner, NULL);
	pthread_create(&th[3], NULL, watch_tracer, NULL);
	target_ready("pid=%d mode=exit-traced", getpid());
	for (;;)
		spins++;
}

#define CHURN_LEN (16ul << 20)

static void churn_unmap(void)
{
	uint8_t *cur = mmap(NULL, CHURN_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);

	if (cur == MAP_FAILED)
		exit(2);
	memset(cur, 0x5a, CHURN_LEN);
	target_ready("pid=%d mode=unmap", getpid());
	for (unsigned n = 0;; n++) {
		uint8_t *next = mmap(NULL, CHURN_LEN, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (next == MAP_FAILED)
			exit(2);
		memset(next, (int)n, CHURN_LEN);
		madvise(cur, CHURN_LEN / 2, MADV_DONTNEED);
		if (n & 1) {
			uint8_t *moved = mremap(next, CHURN_LEN, CHURN_LEN, MREMAP_MAYMOVE | MREMAP_FIXED,
						cur);

			next = moved == MAP_FAILED ? next : moved;
			if (moved == MAP_FAILED)
				munmap(cur, CHURN_LEN);
		} else {
			munmap(cur, CHURN_LEN);
		}
		cur = next;
		usleep(2000);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "threads";

	if (!strcmp(mode, "fork"))
		churn_fork();
	else if (!strcmp(mode, "exec"))
		churn_exec(argc > 2 ? atoi(argv[2]) : 0);
	else if (!strcmp(mode, "exit-traced"))
		exit_when_traced();
	else if (!strcmp(mode, "unmap"))
		churn_unmap();
	else if (!strcmp(mode, "exit"))
		churn_exit(argc > 2 ? atoi(argv[2]) : 10);
	else
		churn_threads();
	return 0;
}
