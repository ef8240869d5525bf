/* The tree's fds. Every open file description is made once, in criu-lite,
 * before the first fork (rst_fds_open), by the kind that knows it
 * (common/fd/): every process of the tree then inherits the same objects,
 * so that a pipe, a socketpair or a listener several of them share stays
 * shared. All of them sit at or above fd_hi, above every number any process
 * had; each child puts its own in place (fds_place.c), closes the rest, and
 * lets the kinds finish what only it can do (rst_fds_setup). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "images/arena.h"
#include "images/log.h"
#include "restore/rst.h"

/* Paths its images name are looked up as the process will be: its fsuid,
 * fsgid, groups and effective capabilities once restored (trust.c made
 * them the owner's when the images are not root's alone). */
static void fill_fsc(struct rst_proc *p)
{
	const CredsEntry *c = p->pe->creds;

	p->has_fsc = c != NULL;
	if (!c)
		return;
	p->fsc = (struct fscreds){ .uid = c->fsuid, .gid = c->fsgid, .groups = c->groups,
				   .n_groups = c->n_groups, .cap_eff = c->cap_eff };
}

int rst_as_proc(const struct rst_proc *p, const struct fscreds **prev)
{
	int r = fscreds_enter(p->has_fsc ? &p->fsc : NULL, prev);

	if (r)
		pr_err("cannot restore %u: cannot take its credentials: %s", p->ps->pid,
		       strerror(-r));
	return r;
}

/* The kinds' view of the tree: each process's entries, by index. */
int rst_fds_prepare(struct rst_tree *t)
{
	t->fdr.procs = calloc(t->nr_procs ? t->nr_procs : 1, sizeof(*t->fdr.procs));
	if (!t->fdr.procs)
		return -ENOMEM;
	t->fdr.nr_procs = t->nr_procs;
	t->fdr.opts = t->opts.fd;
	t->fdr.dirfd = t->dr.dirfd;
	t->fdr.kind_of = fd_kind_of;
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct fd_rst_proc *fp = &t->fdr.procs[i];

		fp->pid = t->procs[i].ps->pid;
		fp->fd = t->procs[i].fd;
		fp->nr_fd = t->procs[i].nr_fd;
		fp->ctty = t->procs[i].pe->tty_nr;
		fill_fsc(&t->procs[i]);
		fp->creds = t->procs[i].has_fsc ? &t->procs[i].fsc : NULL;
	}
	return 0;
}

int rst_fds_check(struct rst_tree *t, struct rst_proc *p)
{
	char why[512];

	if (fd_rst_check_proc(&t->fdr, &t->fdr.procs[p - t->procs], why, sizeof(why)) < 0) {
		pr_err("cannot restore %u: %s", p->ps->pid, why);
		return -ENOTSUP;
	}
	if (rst_fds_check_shares(t, p))
		return -ENOTSUP;
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
	rst_fds_sharers_mm_base(t);
	for (size_t i = 0; i < t->nr_procs; i++) {
		const struct rst_proc *p = &t->procs[i];
		int max = -1;

		for (size_t j = 0; j < p->nr_fd; j++)
			if ((int)p->fd[j]->fd > max)
				max = (int)p->fd[j]->fd;
		if (max + (int)p->nr_mf + 16 > hi)
			hi = max + (int)p->nr_mf + 16;
		if (p->mm_fd_base + (int)p->nr_mf + 16 > hi)
			hi = p->mm_fd_base + (int)p->nr_mf + 16;
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

/* A new description for e: passed in by --inherit-fd, or made by its kind. */
static int open_new(struct rst_tree *t, const FdEntry *e, char *why, size_t len)
{
	const struct fd_kind *k = fd_kind_of((int)e->type);
	int fd = fd_rst_inherited(&t->fdr, e, why, len);

	if (fd != -ENOENT)
		return fd;
	if (!k || !k->open)
		return fd_rst_fail(why, len, ENOTSUP, "no way to restore it");
	return k->open(&t->fdr, e, why, len);
}

static int open_one(struct rst_tree *t, size_t i, size_t j)
{
	struct fd_rst_proc *fp = &t->fdr.procs[i];
	const FdEntry *e = fp->fd[j];
	char why[512] = "";
	int fd, hi, r;
	bool made = false;

	/* A description shared with an fd opened before: the same one. */
	fd = fd_rst_desc_dup(&t->fdr, e, why, sizeof(why));
	if (fd == -ENOENT) {
		fd = open_new(t, e, why, sizeof(why));
		made = true;
	}
	if (fd < 0) {
		pr_err("cannot restore %u: fd %u: %s", fp->pid, e->fd, why[0] ? why : strerror(-fd));
		return fd;
	}
	/* kinds that know fd_hi make it there: no dup and close */
	hi = fd >= t->fd_hi ? fd : fcntl(fd, F_DUPFD_CLOEXEC, t->fd_hi);
	if (hi != fd)
		close(fd);
	if (hi < 0)
		return pr_perror("cannot move fd %u of %u above %d", e->fd, fp->pid, t->fd_hi);
	fp->src[j] = hi;
	if (made && (r = fd_rst_desc_made(&t->fdr, e, hi, why, sizeof(why))) < 0) {
		pr_err("cannot restore %u: fd %u: %s", fp->pid, e->fd, why);
		return r;
	}
	return 0;
}

/* The memfd or deleted file an fd of the tree restored, for its mappings
 * (mm.c) to map that very object: kept by criu-lite until the tree is
 * rebuilt, at or above fd_hi. */
static int shm_add(struct rst_tree *t, const FdEntry *e, int fd)
{
	struct rst_shmem *n;

	for (size_t i = 0; i < t->nr_shm; i++)
		if (t->shm[i].dev == e->file->dev && t->shm[i].ino == e->file->ino)
			return 0;
	n = realloc(t->shm, (t->nr_shm + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->shm = n;
	fd = fd < 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, t->fd_hi);
	if (fd < 0)
		return pr_perror("cannot keep %s for its mappings", e->link ? e->link : "a file");
	t->shm[t->nr_shm++] = (struct rst_shmem){ e->file->dev, e->file->ino, getpid(), 0, 0, fd };
	return 0;
}

static int shm_objects(struct rst_tree *t)
{
	int r = 0;

	for (size_t i = 0; !r && i < t->nr_procs; i++)
		for (size_t j = 0; !r && j < t->procs[i].nr_fd; j++) {
			const FdEntry *e = t->procs[i].fd[j];
			const struct fd_rst_obj *o;

			if (!e->file || !e->file->has_dev || !e->has_ghost_id)
				continue;
			if (e->type == FD_TYPE__FD_MEMFD) {
				o = fd_rst_obj_find(&t->fdr, FD_TYPE__FD_MEMFD, e->file->ino);
				r = o ? shm_add(t, e, o->fds[0]) : 0;
			} else if (e->type == FD_TYPE__FD_REG) {
				r = shm_add(t, e, t->fdr.procs[i].src[j]);
			}
		}
	return r;
}

/* A deleted working directory is made again, empty, for the child to
 * enter (child.c), and goes once it has (rst_fds_ready). */
static int ghost_cwds(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct arena *a = t->procs[i].arena;
		ProcEntry *pe = t->procs[i].pe;
		const char *path;
		char why[512], *dup;

		const struct fscreds *prev;

		if (!pe->cwd || !fd_link_deleted(pe->cwd))
			continue;
		if (rst_as_proc(&t->procs[i], &prev))
			return -EPERM;
		path = fd_rst_ghost_path(&t->fdr, 0, pe->cwd, S_IFDIR | 0755, why, sizeof(why));
		fscreds_leave(prev);
		if (!path) {
			pr_err("cannot restore %u: its working directory: %s", pe->pid, why);
			return -ENOENT;
		}
		if (!(dup = arena_strdup(a, path)))
			return -ENOMEM;
		arena_release(a, pe->cwd);
		pe->cwd = dup;
	}
	return 0;
}

/* A process run from a memfd gets one with the same contents as its
 * executable (PR_SET_MM_MAP's exe_fd), which the child opens through
 * criu-lite's fd (mfiles). */
static int memfd_exes(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];
		const char *path;
		char why[512];

		if (!p->ps->has_exe_ghost_id || !p->ps->exe_ghost_id || p->exe_mf < 0)
			continue;
		path = fd_rst_ghost_memfd(&t->fdr, p->ps->exe_ghost_id, p->pe->exe->path, why,
					  sizeof(why));
		if (!path) {
			pr_err("cannot restore %u: its executable %s: %s", p->ps->pid,
			       p->pe->exe->path, why);
			return -ENOENT;
		}
		/* Ours: the memfd's path goes with the ghosts once the tree
		 * is up, and the mm restore still looks its files up after. */
		p->exe_memfd = strdup(path);
		if (!p->exe_memfd)
			return -ENOMEM;
		p->mf[p->exe_mf].path = p->exe_memfd;
		p->mf[p->exe_mf].id = NULL;
		p->mf[p->exe_mf].named = false;
	}
	return 0;
}

/* Once every description exists: what ties them together (fd.h, link). */
static int link_all(struct rst_tree *t)
{
	for (size_t i = 0; i < t->fdr.nr_procs; i++) {
		struct fd_rst_proc *fp = &t->fdr.procs[i];

		for (size_t j = 0; j < fp->nr_fd; j++) {
			const FdEntry *e = fp->fd[j];
			const struct fd_kind *k = fd_kind_of((int)e->type);
			char why[512] = "";
			int r;

			if (!k || !k->link)
				continue;
			r = k->link(&t->fdr, e, fp->src[j], why, sizeof(why));
			if (r < 0) {
				pr_err("cannot restore %u: fd %u: %s", fp->pid, e->fd,
				       why[0] ? why : strerror(-r));
				return r;
			}
		}
	}
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

static int cmp_place(const void *a, const void *b)
{
	const struct rst_fd_place *x = a, *y = b;

	return x->fd - y->fd;
}

/* What each child reads to put its fds in place (struct rst_fd_place), in
 * fd order. */
static int plan(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];
		const int *src = t->fdr.procs[i].src;

		p->place = calloc(p->nr_fd ? p->nr_fd : 1, sizeof(*p->place));
		if (!p->place)
			return -ENOMEM;
		for (size_t j = 0; j < p->nr_fd; j++) {
			const FdEntry *e = p->fd[j];
			const struct fd_kind *k = fd_kind_of((int)e->type);

			p->place[j] = (struct rst_fd_place){
				.fd = (int)e->fd, .src = src[j], .idx = (uint32_t)j,
				.cloexec = e->fd_flags & FD_CLOEXEC,
				.locks = (k && k->install) || e->n_locks,
			};
			fd_rst_owner_of(e, &p->place[j].owner);
		}
		qsort(p->place, p->nr_fd, sizeof(*p->place), cmp_place);
	}
	return 0;
}

int rst_fds_open(struct rst_tree *t)
{
	const struct fscreds *prev;
	size_t total;
	int r;

	t->fd_hi = t->fdr.fd_hi = fds_hi(t, &total);
	r = check_nofile((rlim_t)t->fd_hi + total + t->nr_procs + 64);
	if (!r)
		r = ghost_cwds(t);
	if (!r)
		r = memfd_exes(t);
	for (size_t i = 0; !r && i < t->nr_procs; i++) {
		struct fd_rst_proc *fp = &t->fdr.procs[i];

		fp->src = malloc((fp->nr_fd ? fp->nr_fd : 1) * sizeof(int));
		if (!fp->src)
			return -ENOMEM;
		for (size_t j = 0; j < fp->nr_fd; j++)
			fp->src[j] = -1;
		/* Made as its process: a path it could not open stays shut. Taken
		 * once per process, not per fd: even a switch that changes nothing
		 * reads criu-lite's own ids and capabilities (4 syscalls a fd). */
		if (fp->nr_fd && (r = rst_as_proc(&t->procs[i], &prev)))
			break;
		if (fp->nr_fd)
			fd_kinds_open_proc(&t->fdr, i);
		for (size_t j = 0; !r && j < fp->nr_fd; j++)
			r = open_one(t, i, j);
		if (fp->nr_fd)
			fscreds_leave(prev);
	}
	if (!r)
		r = shm_objects(t);
	if (!r)
		r = kinds_step(t, fd_kinds_link_tree, "connecting");
	/* Last: epoll watches on what the others made. */
	if (!r)
		r = link_all(t);
	return r ? r : plan(t);
}

int rst_fds_tree_late(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		t->fdr.procs[i].real_pid = t->procs[i].pid;
	return kinds_step(t, fd_kinds_late_tree, "finishing");
}

int rst_fds_settle(struct rst_tree *t)
{
	return kinds_step(t, fd_kinds_settle, "finishing");
}

void rst_fds_close(struct rst_tree *t)
{
	for (size_t i = 0; i < t->fdr.nr_procs; i++) {
		struct fd_rst_proc *fp = &t->fdr.procs[i];

		if (fp->src)
			fd_close_all(fp->src, fp->nr_fd);
		free(fp->src);
		fp->src = NULL;
		free(t->procs[i].place);
		t->procs[i].place = NULL;
	}
	fd_rst_desc_forget(&t->fdr);
	fd_rst_objs_close(&t->fdr);
}

void rst_fds_ready(struct rst_tree *t)
{
	fd_rst_ghosts_remove(&t->fdr);
}

void rst_fds_free(struct rst_tree *t)
{
	rst_fds_close(t);
	fd_rst_ghosts_remove(&t->fdr);
	for (size_t i = 0; i < t->nr_shm; i++)
		if (t->shm[i].fd >= 0) {
			close(t->shm[i].fd);
			t->shm[i].fd = -1;
		}
	fd_kinds_rst_done(&t->fdr);
	free(t->fdr.procs);
	t->fdr.procs = NULL;
	t->fdr.nr_procs = 0;
}

struct lock_ctx {
	const struct rst_tree *t;
	const struct rst_proc *p;
};

static const struct rst_proc *holder_of(const struct rst_tree *t, uint32_t desc, int32_t pid)
{
	const struct rst_proc *first = NULL;

	for (size_t i = 0; i < t->nr_procs; i++)
		for (size_t j = 0; j < t->procs[i].nr_fd; j++) {
			const FdEntry *e = t->procs[i].fd[j];

			if (!e->has_desc_id || e->desc_id != desc)
				continue;
			if ((int32_t)t->procs[i].ps->pid == pid)
				return &t->procs[i];
			if (!first)
				first = &t->procs[i];
		}
	return first;
}

/* A lock owned by a description (flock, OFD lock, lease) is taken once, by
 * the process of the tree that took it, else by the first one holding the
 * description; POSIX locks are the process's own. */
static bool lock_mine(const FdEntry *e, const FileLock *l, const void *arg)
{
	const struct lock_ctx *c = arg;

	if (l->kind == FILE_LOCK_KIND__FILE_LOCK_POSIX || !e->has_desc_id)
		return true;
	return holder_of(c->t, e->desc_id, l->has_pid ? l->pid : -1) == c->p;
}

int rst_fds_setup(struct rst_tree *t, struct rst_proc *p, struct rst_status *st, int *status_fd)
{
	const struct lock_ctx lc = { t, p };
	const pid_t me[2] = { getpid(), getpgrp() };
	int r;

	/* One sharing its parent's table finds it set up. */
	if (!rst_fds_shares_table(t, p) && (r = rst_fds_place(t, p, st, status_fd)))
		return r;
	for (size_t i = 0; i < p->nr_fd; i++) {
		const struct rst_fd_place *pl = &p->place[i];
		const FdEntry *e = p->fd[pl->idx];
		const struct fd_kind *k = pl->locks ? fd_kind_of((int)e->type) : NULL;
		char why[400];

		if (k && k->install && (r = k->install(e, why, sizeof(why))) < 0)
			return rst_child_fail(st, -r, "fd %d: %s", pl->fd, why);
		if (pl->locks && (r = fd_rst_locks_take(e, lock_mine, &lc, why, sizeof(why))) < 0)
			return rst_child_fail(st, -r, "fd %d: %s", pl->fd, why);
		if ((r = fd_rst_owner_set(pl->fd, &pl->owner, me, why, sizeof(why))) < 0)
			return rst_child_fail(st, -r, "fd %d: %s", pl->fd, why);
	}
	return 0;
}

/* POSIX locks, in the process once its address space is rebuilt: restore
 * opened and closed the files it maps, and a close drops the closer's
 * POSIX locks on the file. */
int rst_fds_posix_locks(struct rst_proc *p, struct rst_inj *j)
{
	for (size_t i = 0; i < p->nr_fd; i++) {
		const FdEntry *e = p->fd[i];

		for (size_t k = 0; k < e->n_locks; k++) {
			struct flock fl;
			uint64_t ret;
			char why[400], path[64];
			int r, fd;

			if (!fd_rst_lock_posix(e->locks[k], &fl))
				continue;
			r = rst_poke(j, j->data, &fl, sizeof(fl));
			if (!r)
				r = rst_sys(j, __NR_fcntl, &ret, e->fd, F_SETLK, j->data, 0, 0, 0);
			if (r)
				return r;
			if ((int64_t)ret >= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fd/%u", p->pid, e->fd);
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			fd_rst_lock_fail(fd, e, e->locks[k], (int)-(int64_t)ret, why, sizeof(why));
			if (fd >= 0)
				close(fd);
			pr_err("cannot restore %u: fd %u: %s", p->ps->pid, e->fd, why);
			return (int)(int64_t)ret;
		}
	}
	return 0;
}
