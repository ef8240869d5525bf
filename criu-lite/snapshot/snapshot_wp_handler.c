/* --snapshot wp: the thread that answers the process's write faults and
 * watches its userfaultfd events (snapshot_wp.h says when it does what). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>

#include "criu-lite/snapshot/snapshot_wp.h"
#include "images/log.h"

#define PG 4096ull

static void set_broken(struct wp_proc *w, const char *what, uint64_t start, uint64_t end)
{
	if (w->broken)
		return;
	w->broken = true;
	snprintf(w->why, sizeof(w->why), "%s %#llx-%#llx before its pages were read", what,
		 (unsigned long long)start, (unsigned long long)end);
}

/* Does [start, end) hold a page of the snapshot not read yet? */
static bool hits_unread(struct wp_proc *w, uint64_t start, uint64_t end)
{
	uint64_t upto = atomic_load(&w->read_upto);
	size_t k;

	if (start < upto)
		start = upto;
	if (start >= end)
		return false;
	k = wp_run_first_after(w->runs, w->nr_runs, start);
	return k < w->nr_runs && w->runs[k].start < end;
}

/* A page saved once keeps the first copy: a second fault on it (another
 * thread, or a message read late) may come after the write went in. */
static bool saved_already(struct wp_proc *w, uint64_t a)
{
	return lseek(w->s.frozen_fd, (off_t)a, SEEK_DATA) == (off_t)a;
}

static void save_page(struct wp_proc *w, uint64_t a)
{
	static __thread uint8_t buf[PG] __attribute__((aligned(64)));

	if (saved_already(w, a))
		return;
	if (pread(w->mem_fd, buf, PG, (off_t)a) != (ssize_t)PG ||
	    pwrite(w->s.frozen_fd, buf, PG, (off_t)a) != (ssize_t)PG) {
		set_broken(w, "could not save the page at", a, a + PG);
		return;
	}
	w->saved++;
}

static void on_fault(struct wp_proc *w, const struct uffd_msg *m)
{
	uint64_t a = m->arg.pagefault.address & ~(PG - 1);
	struct uffdio_writeprotect wp = { .range = { a, PG }, .mode = 0 };

	pthread_mutex_lock(&w->mu);
	if (w->phase == WPP_SAVING)
		save_page(w, a);
	/* Unprotecting wakes the faulting thread; if the range is gone
	 * meanwhile, a plain wake still lets it go on. */
	if (ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp)) {
		struct uffdio_range r = { a, PG };

		ioctl(w->uffd, UFFDIO_WAKE, &r);
	}
	pthread_mutex_unlock(&w->mu);
}

static void on_event(struct wp_proc *w, const struct uffd_msg *m)
{
	uint64_t start, end;
	const char *what;

	switch (m->event) {
	case UFFD_EVENT_REMOVE:
		start = m->arg.remove.start, end = m->arg.remove.end, what = "discarded";
		break;
	case UFFD_EVENT_UNMAP:
		start = m->arg.remove.start, end = m->arg.remove.end, what = "unmapped";
		break;
	case UFFD_EVENT_REMAP:
		start = m->arg.remap.from, end = start + m->arg.remap.len, what = "moved";
		break;
	default:
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (w->phase == WPP_SAVING && hits_unread(w, start, end))
		set_broken(w, what, start, end);
	pthread_mutex_unlock(&w->mu);
}

/* Leaves on stop_fd, but only once the queue is empty: an event read late
 * would be an event missed. */
static void *handler_main(void *arg)
{
	struct wp_proc *w = arg;
	struct pollfd pf[2] = { { .fd = w->uffd, .events = POLLIN },
				{ .fd = w->stop_fd, .events = POLLIN } };
	struct uffd_msg msg[64];

	/* A thread of the process waits for each answer: the handler must get a
	 * CPU before anything else of ours, and before the process's other
	 * threads (root may; others keep their nice). */
	setpriority(PRIO_PROCESS, (id_t)gettid(), -20);
	for (;;) {
		ssize_t n;

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		n = read(w->uffd, msg, sizeof(msg));
		for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(msg[0]); i++) {
			if (msg[i].event == UFFD_EVENT_PAGEFAULT)
				on_fault(w, &msg[i]);
			else
				on_event(w, &msg[i]);
		}
		if (n > 0)
			continue;
		if (pf[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			pf[0].fd = -1;		/* nothing more will come */
		if (pf[1].revents & POLLIN)
			break;
	}
	return NULL;
}

int wp_handler_start(struct wp_proc *w)
{
	sigset_t all, old;
	int r;

	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0)
		return pr_perror("cannot create an eventfd");
	/* With every signal blocked: seize sleeps in sigtimedwait for the
	 * SIGCHLD of each stop, and a thread of ours that could take it would
	 * let it be discarded (a freeze then waited out its 10 s timeout). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&w->handler, NULL, handler_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		errno = r;
		return pr_perror("cannot start the write-fault handler");
	}
	w->handler_running = true;
	return 0;
}

void wp_handler_stop(struct wp_proc *w)
{
	uint64_t one = 1;

	if (!w->handler_running)
		return;
	if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("cannot stop the write-fault handler");
	pthread_join(w->handler, NULL);
	w->handler_running = false;
}
