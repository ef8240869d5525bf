/* epoll in every shape a program leaves it: level and edge triggered,
 * one-shot fired and armed, EPOLLEXCLUSIVE, a dup registered under both
 * numbers, a number closed while its file lives on elsewhere (and then
 * reused for another watched file), a nested epoll, and an epoll shared
 * with a child that alone still holds one watched file.
 *
 * argv[1]: file to wait for. READY pid=P child=C once all is set. After the
 * wait each process prints what its next epoll_waits return, as sorted
 * event data (hex), after writing to the armed one-shot's eventfd:
 *   "EP1 <data...>"  "EP2 <data...>"   (parent, two waits in a row)
 *   "EPC <data...>"                     (child, its own epoll) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static void add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		perror("epoll_ctl");
		exit(1);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void report(const char *tag, int ep)
{
	struct epoll_event ev[32];
	uint64_t d[32];
	int n = epoll_wait(ep, ev, 32, 0);

	for (int i = 0; i < n; i++)
		d[i] = ev[i].data.u64;
	qsort(d, n > 0 ? n : 0, sizeof(*d), cmp_u64);
	printf("%s", tag);
	for (int i = 0; i < n; i++)
		printf(" %llx", (unsigned long long)d[i]);
	printf("\n");
	fflush(stdout);
}

static void wait_go(const char *go)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (access(go, F_OK))
		nanosleep(&ms, NULL);
}

/* Lives until the parent has reported: it keeps the file of watch 0xaa. */
static int child_main(const char *go, int shared, int hold)
{
	int ep = epoll_create1(0), ev = eventfd(1, 0);
	char c;

	add(ep, ev, EPOLLIN, 0xc1);
	add(ep, shared, EPOLLIN, 0xc2);	/* the shared epoll, nested in ours */
	wait_go(go);
	report("EPC", ep);
	return read(hold, &c, 1) < 0;
}

int main(int argc, char **argv)
{
	int ep, lt, p[2], hold[2], shot, armed, ex, dupa, dupb, moved, reused, inner, keep;
	uint64_t one = 1;
	pid_t child;

	if (argc < 2)
		return 2;
	ep = epoll_create1(EPOLL_CLOEXEC);
	lt = eventfd(3, 0);
	add(ep, lt, EPOLLIN, 0x11);			/* level, ready */
	if (pipe(p))
		return 1;
	add(ep, p[0], EPOLLIN | EPOLLET, 0x22);		/* edge, not taken yet */
	if (write(p[1], "x", 1) != 1)
		return 1;
	shot = eventfd(1, 0);
	add(ep, shot, EPOLLIN | EPOLLONESHOT, 0x33);	/* fires below: disarmed */
	armed = eventfd(0, 0);
	add(ep, armed, EPOLLIN | EPOLLONESHOT, 0x34);	/* armed, fires after restore */
	ex = eventfd(1, 0);
	add(ep, ex, EPOLLIN | EPOLLEXCLUSIVE, 0x77);
	dupa = eventfd(1, 0);
	dupb = dup(dupa);
	add(ep, dupa, EPOLLIN, 0x44);
	add(ep, dupb, EPOLLIN, 0x45);
	moved = eventfd(1, 0);
	add(ep, moved, EPOLLIN, 0x55);
	keep = dup(moved);				/* the file lives on here... */
	close(moved);					/* ...its number is gone */
	reused = eventfd(0, 0);				/* and taken by another file */
	if (reused != moved)
		dup2(reused, moved), close(reused), reused = moved;
	add(ep, reused, EPOLLIN, 0x66);
	inner = epoll_create1(0);
	add(inner, lt, EPOLLIN, 0x99);
	add(ep, inner, EPOLLIN, 0x88);			/* nested */
	{
		/* the one-shot fires now: it must stay disarmed after restore */
		struct epoll_event evs[32];
		int n = epoll_wait(ep, evs, 32, 0), fired = 0;

		for (int i = 0; i < n; i++)
			fired |= evs[i].data.u64 == 0x33;
		/* the edge-triggered pipe was taken too: write a new edge */
		if (!fired || write(p[1], "y", 1) != 1)
			return 1;
	}
	/* shared with the child: it alone keeps the file of this watch */
	{
		int s = eventfd(1, 0);

		add(ep, s, EPOLLIN, 0xaa);
		if (pipe(hold))
			return 1;
		child = fork();
		if (child == 0) {
			close(hold[1]);
			return child_main(argv[1], ep, hold[0]);
		}
		close(s);
		close(hold[0]);
	}
	target_ready("pid=%d child=%d keep=%d", getpid(), child, keep);
	wait_go(argv[1]);
	if (write(armed, &one, sizeof(one)) != sizeof(one))
		return 1;
	report("EP1", ep);
	report("EP2", ep);
	close(hold[1]);
	waitpid(child, NULL, 0);
	return 0;
}
