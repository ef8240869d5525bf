/* Read a whole dump into memory through images/dump_read.h: inventory,
 * pstree, and per process its proc, threads, mm, page runs (with the
 * pre-dumps behind them) and files. Everything is read and checked before
 * any process is created, so that a malformed image refuses the restore
 * while nothing has happened yet. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/log.h"
#include "restore/rst.h"

/* Where the child opens a pages source: its file in the dump directory, or
 * for one that has no path of its own (a member of a checkpoint archive,
 * read in place or unpacked in memory) the very file we hold, through
 * /proc: the child is forked from us and opens it as root. */
static int src_path(const struct dr_pages *pg, char **out)
{
	struct stat a, b;
	int n;

	n = asprintf(out, "%s/%s", pg->dir, pg->pages_file);
	if (n >= 0 && pg->pages_fd >= 0 && !fstat(pg->pages_fd, &a) &&
	    (stat(*out, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)) {
		free(*out);
		n = asprintf(out, "/proc/%d/fd/%d", getpid(), pg->pages_fd);
	}
	if (n < 0)
		*out = NULL;
	return n < 0 ? -ENOMEM : 0;
}

/* A process's images, moved into p (their owner from now on: rst_free). */
static int load_proc(struct rst_tree *t, size_t idx, struct rst_proc *p)
{
	struct dr_proc d;
	int r = dr_proc_load(&t->dr, idx, DR_ALL, &d);

	if (r < 0)
		return r;
	p->ps = d.ps;
	p->pe = d.pe;
	p->th = d.th;
	p->nr_th = d.nr_th;
	p->vma = d.vma;
	p->nr_vma = d.nr_vma;
	p->fd = d.fd;
	p->nr_fd = d.nr_fd;
	p->pages = d.pages;
	p->arena = d.arena;
	for (struct dr_pages *pg = p->pages; pg; pg = pg->parent) {
		if (src_path(pg, &p->src_path[p->nr_src]))
			return -ENOMEM;
		p->src[p->nr_src++] = pg;
	}
	p->tids = calloc(p->nr_th, sizeof(*p->tids));
	return p->tids ? 0 : -ENOMEM;
}

/* Processes are in the dump's order, parents first; each knows its parent. */
static int load_tree(struct rst_tree *t)
{
	t->procs = calloc(t->dr.nr_ps, sizeof(*t->procs));
	if (!t->procs)
		return -ENOMEM;
	t->nr_procs = t->dr.nr_ps;
	t->root = (int)t->dr.root;
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];

		p->exe_mf = p->zero_mf = -1;
		p->ps = t->dr.ps[i];
		p->parent = (int)i == t->root ? -1 : (int)dr_find(&t->dr, p->ps->ppid);
	}
	return 0;
}

int rst_load(struct rst_tree *t)
{
	char dir[PATH_MAX];
	int r;

	if (!realpath(t->opts.dir, dir))
		return pr_perror("cannot open the image directory %s", t->opts.dir);
	r = dr_open(dir, DR_PAGES_SUM_LATER, &t->dr);
	if (r < 0)
		return r;
	t->dir = t->dr.dir;
	t->inv = t->dr.inv;
	r = load_tree(t);
	for (size_t i = 0; !r && i < t->nr_procs; i++)
		r = load_proc(t, i, &t->procs[i]);
	return r ? r : rst_trust_images(t);
}

void rst_free(struct rst_tree *t)
{
	/* First: the ghosts it removes are removed as their process, whose
	 * creds are freed below. */
	rst_fds_free(t);
	for (size_t i = 0; t->procs && i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];
		struct dr_proc d = {
			.pe = p->pe, .th = p->th, .nr_th = p->nr_th, .vma = p->vma,
			.nr_vma = p->nr_vma, .fd = p->fd, .nr_fd = p->nr_fd, .pages = p->pages,
			.arena = p->arena,
		};

		dr_proc_free(&d);
		for (size_t s = 0; s < p->nr_src; s++)
			free(p->src_path[s]);
		free(p->mf);
		free(p->exe_memfd);
		free(p->src_mf);
		free(p->attached);
		free(p->tids);
	}
	free(t->procs);
	free(t->shm);
	free(t->replay_rw);
	dr_close(&t->dr);
}

struct rst_proc *rst_find_proc(struct rst_tree *t, uint32_t dumped_pid)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		if (t->procs[i].ps->pid == dumped_pid)
			return &t->procs[i];
	return NULL;
}

pid_t rst_real_pid(struct rst_tree *t, uint32_t pid)
{
	struct rst_proc *p = rst_find_proc(t, pid);

	return p ? p->pid : 0;
}
