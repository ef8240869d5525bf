/* Main thread blocks in read() on a pipe most of the time; a helper thread
 * writes one byte every 20 ms. Every byte is echoed as "TICK n"; a read that
 * returns anything but one byte prints "ERR ...". A dumper that borrows the
 * main thread while it sits in read() must leave the read to restart, so the
 * test sees TICKs and never ERR after the dump. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static int pfd[2];

static void *writer(void *arg)
{
	unsigned char c = 0;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	(void)arg;
	for (;;) {
		nanosleep(&ts, NULL);
		c++;
		if (write(pfd[1], &c, 1) != 1)
			return NULL;
	}
}

int main(void)
{
	pthread_t th;

	if (pipe(pfd))
		return 1;
	pthread_create(&th, NULL, writer, NULL);
	target_ready("pid=%d", getpid());
	for (;;) {
		unsigned char c;
		ssize_t n = read(pfd[0], &c, 1);

		if (n == 1)
			printf("TICK %u\n", c);
		else
			printf("ERR n=%zd errno=%d\n", n, errno);
		fflush(stdout);
	}
}
