/* Creates short-lived threads without pause (each exits at once, up to 4
 * alive at a time), and forks a short-lived child every few ms, so a dumper
 * must catch threads and children born while it seizes. Prints "SPAWNED n"
 * every 50 ms. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "target.h"

static atomic_ulong spawned;

static void *short_life(void *arg)
{
	(void)arg;
	atomic_fetch_add(&spawned, 1);
	return NULL;
}

static void *spawn_loop(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_t th;

		if (!pthread_create(&th, NULL, short_life, NULL))
			pthread_join(th, NULL);
	}
	return NULL;
}

static void *fork_loop(void *arg)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	(void)arg;
	for (;;) {
		pid_t p = fork();

		if (p == 0) {
			nanosleep(&ts, NULL);
			_exit(0);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
	}
	return NULL;
}

int main(void)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	pthread_t th;

	for (int i = 0; i < 3; i++)
		pthread_create(&th, NULL, spawn_loop, NULL);
	pthread_create(&th, NULL, fork_loop, NULL);
	target_ready("pid=%d", getpid());
	for (;;) {
		nanosleep(&ts, NULL);
		printf("SPAWNED %lu\n", atomic_load(&spawned));
		fflush(stdout);
	}
}
