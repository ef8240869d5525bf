/* The two dr_format backends: a CRIU image directory and a checkpoint
 * archive. Opening reads what the whole dump shares (inventory, pstree,
 * files, pipe data, socket queues) and looks at every thread's registers
 * once, for the XSAVE layout the dump needs; each process is then read on
 * demand (proc_load). What CRIU recorded that criu-lite's messages cannot
 * carry is collected into d->unrestorable (refusals.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "images/criu/criu.h"
#include "images/criu/criu_read.h"
#include "images/log.h"

static int check_inventory(const struct csrc *s, const Criu__InventoryEntry *ci)
{
	if (ci->img_version == CIMG_VERSION)
		return 0;
	if (ci->img_version > CIMG_VERSION)
		pr_err("%s: CRIU image version %u (compressed pages?) is newer than this reader's %d",
		       s->label, ci->img_version, CIMG_VERSION);
	else
		pr_err("%s: CRIU image version %u predates CRIU 1.x; not supported", s->label,
		       ci->img_version);
	return -EINVAL;
}

static int load_pstree(struct dump_read *d, struct cdump *cd)
{
	int r = cimg_read_all(cd->src, CIMG_PSTREE, 0, false, (void ***)&cd->cps, &cd->nr_ps);

	if (r == -ENOENT)
		pr_err("%s: no pstree.img: a CRIU pre-dump holds memory only; use the dump made "
		       "after it", cd->src->label);
	if (r < 0)
		return r;
	d->ps = calloc(cd->nr_ps ? cd->nr_ps : 1, sizeof(*d->ps));
	if (!d->ps)
		return -ENOMEM;
	for (size_t i = 0; i < cd->nr_ps; i++) {
		const Criu__PstreeEntry *c = cd->cps[i];
		PstreeEntry *p = malloc(sizeof(*p));

		if (!p)
			return -ENOMEM;
		pstree_entry__init(p);
		d->ps[d->nr_ps++] = p;
		p->pid = c->pid;
		p->ppid = c->ppid;
		p->pgid = c->pgid;
		p->sid = c->sid;
		if (c->n_threads) {
			p->threads = malloc(c->n_threads * sizeof(*p->threads));
			if (!p->threads)
				return -ENOMEM;
			memcpy(p->threads, c->threads, c->n_threads * sizeof(*p->threads));
			p->n_threads = c->n_threads;
		}
	}
	return 0;
}

/* Every thread's core image, once: the XSAVE components the dump uses
 * decide its layout; the leaders' say what restore cannot bring back. */
static int scan_cores(struct cdump *cd, uint64_t *features)
{
	int r = 0;

	*features = 0;
	for (size_t i = 0; i < cd->nr_ps && !r; i++) {
		const Criu__PstreeEntry *c = cd->cps[i];

		for (size_t t = 0; t < c->n_threads && !r; t++) {
			Criu__CoreEntry *core;

			r = cimg_read_one(cd->src, CIMG_CORE, c->threads[t], true, (void **)&core);
			if (r < 0)
				break;
			if (core->thread_info)
				*features |= cx_features(core->thread_info->fpregs);
			if (c->threads[t] == c->pid)
				r = crefuse_core(cd, c, core);
			cimg_free(core);
		}
	}
	return r;
}

static int make_inventory(struct dump_read *d, struct cdump *cd, uint64_t features)
{
	InventoryEntry *inv = malloc(sizeof(*inv));
	struct csrc *parent = NULL;
	int r;

	if (!inv)
		return -ENOMEM;
	inventory_entry__init(inv);
	d->inv = inv;
	inv->format_version = IMG_FORMAT_VERSION;
	inv->tool_version = strdup("CRIU (image version 2)");
	inv->kernel_release = strdup("");
	inv->arch = strdup("x86_64");
	if (!inv->tool_version || !inv->kernel_release || !inv->arch)
		return -ENOMEM;
	inv->root_pid = cd->cps[0]->pid;
	inv->page_size = CRIU_PAGE_SIZE;
	inv->has_kind = 1;
	inv->kind = INVENTORY_KIND_DUMP;
	r = csrc_parent(cd->src, &parent);
	if (!r && parent && !(inv->parent_dir = strdup("parent")))
		r = -ENOMEM;
	csrc_free(parent);
	return r ? r : cx_plan(features, inv, &cd->xl);
}

static void cdump_free(struct cdump *cd)
{
	if (!cd)
		return;
	cfiles_free(cd);
	cimg_free_all((void **)cd->cps, cd->nr_ps);
	cimg_free(cd->cinv);
	csrc_free(cd->src);
	free(cd->refusal);
	free(cd);
}

static int cdump_open(struct dump_read *d, struct csrc *src)
{
	struct cdump *cd = calloc(1, sizeof(*cd));
	uint64_t features;
	int r;

	if (!cd) {
		csrc_free(src);
		return -ENOMEM;
	}
	cd->src = src;
	d->priv = cd;
	r = cimg_read_one(src, CIMG_INVENTORY, 0, true, (void **)&cd->cinv);
	if (!r)
		r = check_inventory(src, cd->cinv);
	if (!r)
		r = load_pstree(d, cd);
	if (!r && !cd->nr_ps) {
		pr_err("%s: pstree.img lists no process", src->label);
		r = -EINVAL;
	}
	if (!r)
		r = cfiles_load(cd);
	if (!r)
		r = crefuse_dump(cd);
	if (!r)
		r = scan_cores(cd, &features);
	if (!r)
		r = make_inventory(d, cd, features);
	d->unrestorable = cd->refusal;
	return r;
}

static int open_dir(struct dump_read *d, const char *path)
{
	struct csrc *src;
	int r = csrc_open_dir(path, -1, &src);

	return r < 0 ? r : cdump_open(d, src);
}

static int open_archive(struct dump_read *d, const char *path)
{
	struct csrc *src;
	int r = csrc_open_archive(path, &src);

	return r < 0 ? r : cdump_open(d, src);
}

static void close_dump(struct dump_read *d)
{
	cdump_free(d->priv);
	d->priv = NULL;
	d->unrestorable = NULL;
}

static int probe_archive(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode) && csrc_probe_archive(path);
}

const struct dr_format criu_format_dir = {
	.name = "CRIU",
	.probe = csrc_probe_dir,
	.open = open_dir,
	.proc_load = cproc_load,
	.close = close_dump,
};

const struct dr_format criu_format_archive = {
	.name = "checkpoint archive",
	.probe = probe_archive,
	.open = open_archive,
	.proc_load = cproc_load,
	.close = close_dump,
};

const struct csrc_meta *criu_container(const struct dump_read *d)
{
	return d->fmt == &criu_format_dir || d->fmt == &criu_format_archive
		       ? ((const struct cdump *)d->priv)->src->meta : NULL;
}
