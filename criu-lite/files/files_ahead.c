/* Reading ahead of a process's files walk, while its memory is dumped.
 *
 * The walk needs, before its first socket, the sock_diag tables of the
 * process's network namespace: one walk of the kernel's socket tables,
 * every socket of the namespace (a local server's clients too, and each
 * TIME_WAIT entry passed over), 4-10 ms for a server with a thousand
 * connections. Nothing in them depends on the memory dump, which keeps
 * only the main thread busy for several milliseconds, so for a process
 * with many sockets the tables are read on a second thread meanwhile
 * (par_start: only when a CPU is free, par_two_threads).
 *
 * Whether the process has many sockets its fds' links say, read first on
 * the calling thread (the walk reads them anyway; this only moves them
 * before the memory). A process with many fds (the size of /proc/PID/fd,
 * since Linux 6.2) has them listed and the tables read by the thread from
 * the start, while the calling thread goes on to the process's threads
 * (its injections create no fd): for one whose fds turn out not to be
 * sockets, the second CPU walked the tables for nothing.
 *
 * With the tables read, the same thread locks the process's connections
 * and reads them (fd_dump_prefetch: the lock, the BPF iterator's records,
 * a copy of each socket, its options), which needs nothing of the memory
 * dump either: 1,000 connections took the walk 6-8 ms after the memory.
 * It starts once the main thread no longer injects code into the process
 * (files_ahead_go): the reads may stop criu-lite for good (a fault, a
 * connection the kernel refuses...), and the guardian takes a process
 * back from its journal at its steps, not from any moment mid-injection.
 * The main thread, done with the memory, takes its part of what is left
 * of those reads (par_offer) rather than wait for them. The thread logs
 * into a buffer, printed when the walk takes the tables, where the walk
 * would have logged the same lines. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "common/procfs.h"
#include "criu-lite/files/fd_list.h"
#include "criu-lite/files/files_ahead.h"
#include "images/heap.h"
#include "images/log.h"
#include "images/par.h"

/* Sockets from which the tables are worth a thread (starting one is
 * 0.25-1.2 ms; the walk of the tables a few ms), and fds from which they
 * are read before the sockets are known to be there. */
#define AHEAD_MIN_SOCKETS 32
#define AHEAD_MIN_FDS 256
/* What the thread allocates, its own arena's (images/heap.c): the tables'
 * records and its part of the connections' reads, 1.3 KiB an fd measured
 * (malloc_info) on a server with 1,000 connections. */
#define AHEAD_HEAP_PER_FD 2048

enum listing { LISTING, LISTED, UNLISTED };

struct files_ahead {
	pid_t pid;
	size_t nr_expected;		/* the process's fds, as the thread starts */
	int *fds;
	size_t nr;
	char **links;
	pthread_mutex_t lock;
	pthread_cond_t listed;
	enum listing listing;		/* fds, nr and links: the thread's to read once LISTED */
	bool lists;			/* the thread lists them (else the caller did) */
	enum { HOLD, GO, STOP } reads;	/* the connections' reads: may they start */
	pthread_t th;
	bool reading;			/* th runs, until joined */
	int r;				/* th's: the tables' load, then the reads' */
	struct sk_cache *sk;
	struct par_offer offer;		/* the connections' reads, for the walk's thread to join */
	char *log;			/* th's log lines */
	size_t log_len;
};

/* The fds listed, by the caller or this thread (or not: the walk lists
 * them). */
static bool wait_listed(struct files_ahead *fa)
{
	enum listing l;

	pthread_mutex_lock(&fa->lock);
	while ((l = fa->listing) == LISTING)
		pthread_cond_wait(&fa->listed, &fa->lock);
	pthread_mutex_unlock(&fa->lock);
	return l == LISTED;
}

static void set_listing(struct files_ahead *fa, enum listing l)
{
	pthread_mutex_lock(&fa->lock);
	fa->listing = l;
	pthread_cond_broadcast(&fa->listed);
	pthread_mutex_unlock(&fa->lock);
}

/* The main thread done injecting into the process (or gone on without the
 * reads): whether they may start. */
static bool wait_go(struct files_ahead *fa)
{
	bool go;

	pthread_mutex_lock(&fa->lock);
	while (fa->reads == HOLD)
		pthread_cond_wait(&fa->listed, &fa->lock);
	go = fa->reads == GO;
	pthread_mutex_unlock(&fa->lock);
	return go;
}

static void set_reads(struct files_ahead *fa, int reads)
{
	pthread_mutex_lock(&fa->lock);
	if (fa->reads == HOLD)
		fa->reads = reads;
	pthread_cond_broadcast(&fa->listed);
	pthread_mutex_unlock(&fa->lock);
}

void files_ahead_go(struct files_ahead *fa)
{
	if (fa)
		set_reads(fa, GO);
}

/* The network lock over the process's connections and their reads
 * (fd_dump_prefetch), from this thread's view of the process: they need
 * nothing of the memory dump either, and were the longest part of the
 * walk. */
static void read_connections(struct files_ahead *fa)
{
	struct fd_dump c = { .pid = fa->pid, .fds = fa->fds, .links = fa->links, .nr_fds = fa->nr,
			     .sk = fa->sk, .sk_loaded = true };

	c.pidfd = (int)syscall(SYS_pidfd_open, fa->pid, 0);
	if (c.pidfd < 0)
		return;		/* (the walk reads them, and says why) */
	fa->r = fd_dump_prefetch_beside(&c, &fa->offer);
	close(c.pidfd);
}

static void *read_tables(void *arg)
{
	struct files_ahead *fa = arg;
	FILE *log = open_memstream(&fa->log, &fa->log_len);

	/* without a buffer the lines go to the log as they come */
	log_thread_to(log);
	if (fa->lists)
		set_listing(fa, fd_list_read(fa->pid, &fa->fds, &fa->nr, &fa->links) ? UNLISTED :
									       LISTED);
	fa->r = fd_dump_sk_load(fa->pid, &fa->sk);
	/* with many connections, the BPF iterator that reads them */
	sk_bpf_preload(fa->sk);
	/* the reads' records from this thread's own arena, made ready while
	 * the main thread still injects (where dump.c warmed the heap) */
	if (fa->r >= 0 && fa->sk)
		heap_warm_thread(fa->nr_expected * AHEAD_HEAP_PER_FD);
	if (fa->r >= 0 && fa->sk && wait_listed(fa) && wait_go(fa))
		read_connections(fa);
	par_offer_close(&fa->offer);
	log_thread_to(NULL);
	if (log)
		fclose(log);
	return NULL;
}

struct files_ahead *files_ahead_start(pid_t pid)
{
	struct files_ahead *fa = calloc(1, sizeof(*fa));

	if (!fa)
		return NULL;
	fa->pid = pid;
	pthread_mutex_init(&fa->lock, NULL);
	pthread_cond_init(&fa->listed, NULL);
	fa->offer = (struct par_offer)PAR_OFFER_INIT;
	fa->nr_expected = procfs_nr_fds(pid);
	/* many fds: the thread lists them too, while this one injects */
	if (fa->nr_expected >= AHEAD_MIN_FDS && par_two_threads()) {
		fa->lists = true;
		if ((fa->reading = par_start(&fa->th, read_tables, fa)))
			return fa;
		fa->lists = false;
	}
	if (fd_list_read(pid, &fa->fds, &fa->nr, &fa->links)) {
		files_ahead_free(fa);
		return NULL;
	}
	set_listing(fa, LISTED);
	if (!fa->reading && fd_links_sockets(fa->links, fa->nr) >= AHEAD_MIN_SOCKETS &&
	    par_two_threads())
		fa->reading = par_start(&fa->th, read_tables, fa);
	return fa;
}

/* The thread's end; its lines printed when the tables are the walk's
 * (use), dropped when they are not (they would speak of tables no socket
 * needed: the walk of a process without sockets never reads them). */
static void join(struct files_ahead *fa, bool use)
{
	if (!fa->reading)
		return;
	pthread_join(fa->th, NULL);
	fa->reading = false;
	if (use) {
		log_lines(fa->log, fa->log ? fa->log_len : 0);
		pr_debug("pid %d: socket tables read on a second thread beside the memory dump",
			 fa->pid);
	} else {
		fd_dump_sk_free(fa->sk);
		fa->sk = NULL;
	}
	free(fa->log);
	fa->log = NULL;
}

int files_ahead_take(struct files_ahead *fa, int **fds, size_t *nr, char ***links,
		     struct sk_cache **sk, bool *sk_loaded)
{
	bool tables;

	/* (its listing failed: the walk's own says why) */
	if (fa->lists && !wait_listed(fa))
		return -EAGAIN;
	tables = fa->reading && fd_links_sockets(fa->links, fa->nr) > 0;

	/* the connections' reads under way: this thread takes its part */
	set_reads(fa, GO);
	if (tables)
		fd_dump_prefetch_help(&fa->offer);
	join(fa, tables);
	if (tables && fa->r < 0)
		return fa->r;
	*fds = fa->fds;
	*nr = fa->nr;
	*links = fa->links;
	fa->fds = NULL;
	fa->links = NULL;
	fa->nr = 0;
	if (!tables)
		return 0;
	*sk = fa->sk;
	*sk_loaded = true;
	fa->sk = NULL;
	return 0;
}

void files_ahead_free(struct files_ahead *fa)
{
	if (!fa)
		return;
	set_reads(fa, STOP);
	join(fa, false);
	fd_dump_sk_free(fa->sk);
	fd_list_free(fa->links, fa->nr);
	free(fa->fds);
	pthread_cond_destroy(&fa->listed);
	pthread_mutex_destroy(&fa->lock);
	free(fa);
}
