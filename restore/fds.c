/* The tree's fds. Every open file description is made once, in criu-lite,
 * before the first fork (rst_fds_open), by the kind that knows it
 * (common/fd/): every process of the tree then inherits the same objects,
 * so that a pipe, a socketpair or a listener several of them share stays
 * shared. All of them sit at or above fd_hi, above every number any process
 * had; each child dups its own into place, closes the rest, and lets the
 * kinds finish what only it can do (rst_fds_setup). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "images/log.h"
#include "restore/rst.h"

/* The kinds' view of the tree: each process's entries, by index. */
int rst_fds_prepare(struct rst_tree *t)
{
	t->fdr.procs = calloc(t->nr_procs ? t->nr_procs : 1, sizeof(*t->fdr.procs));
	if (!t->fdr.procs)
		return -ENOMEM;
	t->fdr.nr_procs = t->nr_procs;
	t->fdr.opts = t->opts.fd;
	t->fdr.kind_of = fd_kind_of;
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct fd_rst_proc *fp = &t->fdr.procs[i];

		fp->pid = t->procs[i].ps->pid;
		fp->fd = t->procs[i].fd;
		fp->nr_fd = t->procs[i].nr_fd;
	}
	return 0;
}

int rst_fds_check(struct rst_tree *t, struct rst_proc *p)
{
	char why[512];

	for (size_t i = 0; i < p->nr_fd; i++)
		if (fd_rst_check(&t->fdr, p->fd[i], why, sizeof(why)) < 0) {
			pr_err("cannot restore %u: fd %u: %s", p->ps->pid, p->fd[i]->fd, why);
			return -ENOTSUP;
		}
	return 0;
}

/* Above every dumped fd number and the mm files that follow them. */
static int fds_hi(struct rst_tree *t, size_t *total)
{
	int hi = 0;

	*total = 0;
	for (size_t i = 0; i < t->nr_procs; i++) {
		const struct rst_proc *p = &t->procs[i];
		int max = -1;

		for (size_t j = 0; j < p->nr_fd; j++)
			if ((int)p->fd[j]->fd > max)
				max = (int)p->fd[j]->fd;
		if (max + (int)p->nr_mf + 16 > hi)
			hi = max + (int)p->nr_mf + 16;
		*total += p->nr_fd;
	}
	return hi;
}

/* criu-lite holds every description of the tree at once, above fd_hi
 * (restore.c raised the soft limit to the hard one at the start). */
static int check_nofile(rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return pr_perror("getrlimit");
	if (rl.rlim_cur >= need)
		return 0;
	pr_err("the tree needs %llu fds open at once in criu-lite; the limit is %llu",
	       (unsigned long long)need, (unsigned long long)rl.rlim_cur);
	return -EMFILE;
}

static int open_one(struct rst_tree *t, size_t i, size_t j)
{
	struct fd_rst_proc *fp = &t->fdr.procs[i];
	const FdEntry *e = fp->fd[j];
	const struct fd_kind *k = fd_kind_of((int)e->type);
	char why[512] = "";
	int fd, hi;

	if (!k || !k->open) {
		pr_err("cannot restore %u: fd %u: no way to restore it", fp->pid, e->fd);
		return -ENOTSUP;
	}
	fd = k->open(&t->fdr, e, why, sizeof(why));
	if (fd < 0) {
		pr_err("cannot restore %u: fd %u: %s", fp->pid, e->fd, why[0] ? why : strerror(-fd));
		return fd;
	}
	hi = fcntl(fd, F_DUPFD_CLOEXEC, t->fd_hi);
	close(fd);
	if (hi < 0)
		return pr_perror("cannot move fd %u of %u above %d", e->fd, fp->pid, t->fd_hi);
	fp->src[j] = hi;
	return 0;
}

/* A step of every kind over the whole tree (link, late). */
static int kinds_step(struct rst_tree *t, int (*step)(struct fd_rst *, char *, size_t),
		      const char *what)
{
	char why[512] = "";
	int r = step(&t->fdr, why, sizeof(why));

	if (r < 0)
		pr_err("cannot restore the tree's files (%s them): %s", what,
		       why[0] ? why : strerror(-r));
	return r;
}

int rst_fds_open(struct rst_tree *t)
{
	size_t total;
	int r;

	t->fd_hi = fds_hi(t, &total);
	r = check_nofile((rlim_t)t->fd_hi + total + t->nr_procs + 64);
	for (size_t i = 0; !r && i < t->nr_procs; i++) {
		struct fd_rst_proc *fp = &t->fdr.procs[i];

		fp->src = malloc((fp->nr_fd ? fp->nr_fd : 1) * sizeof(int));
		if (!fp->src)
			return -ENOMEM;
		for (size_t j = 0; j < fp->nr_fd; j++)
			fp->src[j] = -1;
		for (size_t j = 0; !r && j < fp->nr_fd; j++)
			r = open_one(t, i, j);
	}
	if (!r)
		r = kinds_step(t, fd_kinds_link, "connecting");
	return r;
}

int rst_fds_late(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		t->fdr.procs[i].real_pid = t->procs[i].pid;
	return kinds_step(t, fd_kinds_late, "finishing");
}

void rst_fds_close(struct rst_tree *t)
{
	for (size_t i = 0; i < t->fdr.nr_procs; i++) {
		struct fd_rst_proc *fp = &t->fdr.procs[i];

		for (size_t j = 0; fp->src && j < fp->nr_fd; j++)
			if (fp->src[j] >= 0)
				close(fp->src[j]);
		free(fp->src);
		fp->src = NULL;
	}
	fd_rst_objs_close(&t->fdr);
}

void rst_fds_free(struct rst_tree *t)
{
	rst_fds_close(t);
	fd_kinds_rst_done(&t->fdr);
	free(t->fdr.procs);
	t->fdr.procs = NULL;
	t->fdr.nr_procs = 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every fd but the sorted `keep` ones. */
static void close_others(const int *keep, size_t n)
{
	unsigned int from = 0;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			syscall(SYS_close_range, from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

int rst_fds_setup(struct rst_tree *t, struct rst_proc *p, struct rst_status *st, int *status_fd)
{
	const struct fd_rst_proc *fp = &t->fdr.procs[p - t->procs];
	int max = -1, *keep;
	size_t i;

	for (i = 0; i < p->nr_fd; i++)
		if ((int)p->fd[i]->fd > max)
			max = (int)p->fd[i]->fd;
	keep = calloc(p->nr_fd + 1, sizeof(int));
	if (!keep)
		return rst_child_fail(st, ENOMEM, "out of memory");
	/* Sources all sit at or above fd_hi, above every dumped number: no
	 * dup2 below can overwrite one another needs. */
	*status_fd = fcntl(*status_fd, F_DUPFD_CLOEXEC, t->fd_hi);
	for (i = 0; i < p->nr_fd; i++) {
		const FdEntry *e = p->fd[i];

		if (dup2(fp->src[i], (int)e->fd) < 0) {
			free(keep);
			return rst_child_fail(st, errno, "cannot install fd %u: %s", e->fd,
					      strerror(errno));
		}
		fcntl((int)e->fd, F_SETFD, e->fd_flags & FD_CLOEXEC);
		keep[i] = (int)e->fd;
	}
	keep[p->nr_fd] = *status_fd;
	qsort(keep, p->nr_fd + 1, sizeof(int), cmp_int);
	close_others(keep, p->nr_fd + 1);
	free(keep);
	for (i = 0; i < p->nr_fd; i++) {
		const FdEntry *e = p->fd[i];
		const struct fd_kind *k = fd_kind_of((int)e->type);
		char why[400];
		int r;

		if (k && k->install && (r = k->install(e, why, sizeof(why))) < 0)
			return rst_child_fail(st, -r, "fd %u: %s", e->fd, why);
	}
	p->mm_fd_base = max + 1;
	return 0;
}
