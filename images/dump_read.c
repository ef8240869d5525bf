/* The one reader of a dump (see dump_read.h): finds the backend that reads
 * the path, then holds what it returns to the rules of dump_read.h, the
 * same whatever the format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/arena.h"
#include "images/dump_read_backend.h"
#include "images/log.h"

static const struct dr_format *find_format(const char *path, int *err)
{
	struct stat st;

	*err = 0;
	for (size_t i = 0; dr_formats[i]; i++) {
		int r = dr_formats[i]->probe(path);

		if (r < 0) {
			*err = r;
			return NULL;
		}
		if (r > 0)
			return dr_formats[i];
	}
	if (stat(path, &st))
		*err = pr_perror("cannot open dump %s", path);
	else {
		pr_err("%s is not a dump: no inventory.img or pstree.img", path);
		*err = -EINVAL;
	}
	return NULL;
}

int dr_open(const char *path, unsigned flags, struct dump_read *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->dirfd = -1;
	d->fmt = find_format(path, &r);
	if (!d->fmt)
		return r;
	d->flags = flags;
	d->dir = strdup(path);
	if (!d->dir) {
		d->fmt = NULL;
		return -ENOMEM;
	}
	r = d->fmt->open(d, path);
	if (!r)
		r = dr_check_inventory(d->inv, d->dir, flags);
	if (!r)
		r = dr_check_pstree(d);
	if (r)
		dr_close(d);
	return r;
}

void dr_close(struct dump_read *d)
{
	if (!d->fmt)
		return;
	/* its thread reads d->inv and d->dirfd: done before they go */
	if (d->sum_bg)
		dr_pages_sum_wait(d);
	d->fmt->close(d);
	img_free_all((void **)d->ps, d->nr_ps);
	img_free(d->inv);
	if (d->dirfd >= 0)
		close(d->dirfd);
	free(d->dir);
	memset(d, 0, sizeof(*d));
	d->dirfd = -1;
}

ssize_t dr_find(const struct dump_read *d, uint32_t pid)
{
	for (size_t i = 0; i < d->nr_ps; i++)
		if (d->ps[i]->pid == pid)
			return (ssize_t)i;
	return -1;
}

/* The userfaultfd a --track-mem pre-dump left in the process is criu-lite's
 * own, not the program's: no reader sees it. */
static void drop_track_fd(struct dr_proc *p)
{
	size_t k = 0;

	if (!p->ps->has_track_fd || p->ps->track_fd < 0)
		return;
	for (size_t i = 0; i < p->nr_fd; i++) {
		if ((int32_t)p->fd[i]->fd == p->ps->track_fd) {
			if (!p->arena)
				img_free(p->fd[i]);
			continue;
		}
		p->fd[k++] = p->fd[i];
	}
	p->nr_fd = k;
}

int dr_proc_load(struct dump_read *d, size_t idx, unsigned what, struct dr_proc *p)
{
	int r;

	memset(p, 0, sizeof(*p));
	if (idx >= d->nr_ps)
		return -EINVAL;
	p->ps = d->ps[idx];
	if (d->inv->has_kind && d->inv->kind == INVENTORY_KIND_PREDUMP)
		what &= ~(DR_PROC | DR_THREADS | DR_FDS);
	r = d->fmt->proc_load(d, idx, what, p);
	if (!r)
		r = dr_check_proc(d, p);
	if (r)
		dr_proc_free(p);
	else
		drop_track_fd(p);
	return r;
}

void dr_proc_free(struct dr_proc *p)
{
	dr_pages_free(p->pages);
	if (p->arena) {
		free(p->fd);
		free(p->vma);
		free(p->th);
		arena_free(p->arena);
	} else {
		img_free_all((void **)p->fd, p->nr_fd);
		img_free_all((void **)p->vma, p->nr_vma);
		img_free_all((void **)p->th, p->nr_th);
		img_free(p->pe);
	}
	memset(p, 0, sizeof(*p));
}
