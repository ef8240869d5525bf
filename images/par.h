/* Work split over the calling thread and one more, item by item (an atomic
 * counter: whoever is free takes the next), for the many independent
 * pieces of a dump or restore of a big process (a server's connections,
 * its files image's entries): each a few syscalls or page touches of a
 * microsecond or so in a guest, and the machine has a second core. A
 * process's first thread costs 0.25 to 1.2 ms to start and join here
 * (later ones ~50 us): callers use it above a millisecond or so of work. */
#ifndef CRIU_LITE_PAR_H
#define CRIU_LITE_PAR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Is a second thread worth it now? CRIU_LITE_THREADS=1: never (the tests'
 * reference), 2: always; unset: when a CPU is free for it. */
bool par_two_threads(void);
/* fn(arg, i) for each i < n, on this thread and, when par_two_threads
 * says so, one more (every signal blocked there: they are the main
 * thread's); done(), if not NULL, the worker's last call (for what it kept
 * per thread). fn must touch only item i's own state and what no one
 * writes meanwhile, and must not log (the log's order is the caller's).
 * How many threads ran. */
int par_run(size_t n, void (*fn)(void *arg, size_t i), void (*done)(void), void *arg);
/* A worker of one's own, started with every signal blocked in it (as
 * par_run's), on another CPU than this thread's and, by the time this
 * returns, free to run on any this one may (par.c says why): false when
 * no thread could be had (errno says why). */
bool par_start(pthread_t *th, void *(*fn)(void *arg), void *arg);

/* Work a thread of one's own (par_start) runs alone while the main thread
 * does something else, and that the main thread joins once free, rather
 * than wait for it: a dump's reads of a server's connections beside its
 * memory dump. The worker posts each run of items (par_offer_run); the
 * main thread takes items of whatever is posted until the worker says
 * there will be no more (par_offer_help, par_offer_close). */
struct par;
struct par_offer {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct par *p;			/* the run posted, or NULL */
	unsigned gen;			/* runs posted so far */
	int helpers;			/* threads in p now */
	int helped;			/* threads that took part in p */
	bool closed;
};
#define PAR_OFFER_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, false }

/* fn(arg, i) for each i < n, on this thread and on any that helps
 * meanwhile; returns once every item is done. How many threads ran. */
int par_offer_run(struct par_offer *o, size_t n, void (*fn)(void *arg, size_t i), void *arg);
/* No run will be posted any more: par_offer_help returns. */
void par_offer_close(struct par_offer *o);
/* Items of each run posted, until o is closed. */
void par_offer_help(struct par_offer *o);

#endif
