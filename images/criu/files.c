/* The files of a CRIU dump. files.img holds every open file object of the
 * tree once, by id (CRIU 3.11 and later; before, each kind had an image of
 * its own, read here into the same shape); fdinfo-ID.img lists the fds of
 * one files table (ids-PID.img says which table a process uses); pipe and
 * FIFO contents and socket queues are in pipes-data.img, fifo-data.img and
 * sk-queues.img. Loaded once per dump; FdEntry per process in fds.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/criu/criu.h"
#include "images/image.h"
#include "images/log.h"

static int cmp_file(const void *a, const void *b)
{
	uint32_t x = (*(Criu__FileEntry *const *)a)->id, y = (*(Criu__FileEntry *const *)b)->id;

	return x < y ? -1 : x > y;
}

/* An entry of an older per-kind image, as the files.img entry it became. */
static Criu__FileEntry *wrap(Criu__FdTypes type, void *msg)
{
	Criu__FileEntry *f = malloc(sizeof(*f));

	if (!f)
		return NULL;
	criu__file_entry__init(f);
	f->type = type;
	switch (type) {
	case CRIU__FD_TYPES__REG: f->reg = msg; f->id = f->reg->id; break;
	case CRIU__FD_TYPES__PIPE: f->pipe = msg; f->id = f->pipe->id; break;
	case CRIU__FD_TYPES__UNIXSK: f->usk = msg; f->id = f->usk->id; break;
	default: f->fifo = msg; f->id = f->fifo->id; break;
	}
	return f;
}

static int load_legacy(struct cdump *cd)
{
	static const struct { enum cimg_kind k; Criu__FdTypes t; } kinds[] = {
		{ CIMG_REG_FILES, CRIU__FD_TYPES__REG }, { CIMG_PIPES, CRIU__FD_TYPES__PIPE },
		{ CIMG_UNIXSK, CRIU__FD_TYPES__UNIXSK }, { CIMG_FIFO, CRIU__FD_TYPES__FIFO },
	};
	int r = 0;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && !r; i++) {
		void **v;
		size_t n;
		Criu__FileEntry **all;

		r = cimg_read_all(cd->src, kinds[i].k, 0, false, &v, &n);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		all = r ? NULL : realloc(cd->files, (cd->nr_files + n) * sizeof(*all));
		if (!r && !all)
			r = -ENOMEM;
		for (size_t j = 0; j < n; j++) {
			Criu__FileEntry *f = r ? NULL : wrap(kinds[i].t, v[j]);

			if (!f) {
				cimg_free(v[j]);
				r = r ? r : -ENOMEM;
				continue;
			}
			cd->files = all;
			cd->files[cd->nr_files++] = f;
		}
		free(v);
	}
	return r;
}

static int load_files(struct cdump *cd)
{
	int r = cimg_read_all(cd->src, CIMG_FILES, 0, false, (void ***)&cd->files, &cd->nr_files);

	if (r == -ENOENT)
		r = load_legacy(cd);
	if (r < 0)
		return r;
	qsort(cd->files, cd->nr_files, sizeof(*cd->files), cmp_file);
	for (size_t i = 1; i < cd->nr_files; i++) {
		if (cd->files[i]->id == cd->files[i - 1]->id) {
			pr_err("%s: files.img: file id %u twice", cd->src->label, cd->files[i]->id);
			return -EINVAL;
		}
	}
	return 0;
}

/* pipes-data.img or fifo-data.img: each pipe's bytes, kept. */
static int load_pipes(struct cdump *cd, enum cimg_kind k, struct cpipe **out, size_t *n)
{
	struct cimg *im;
	const uint8_t *data;
	size_t len, cap = 0;
	void *msg;
	int r;

	r = cimg_open(cd->src, k, 0, false, &im);
	if (r == -ENOENT)
		return 0;
	while (r >= 0 && (r = cimg_next(im, &msg, &data, &len)) > 0) {
		const Criu__PipeDataEntry *e = msg;
		struct cpipe *p;

		if (*n == cap) {
			p = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(*p));
			if (!p) {
				cimg_free(msg);
				r = -ENOMEM;
				break;
			}
			*out = p;
		}
		p = &(*out)[(*n)++];
		p->id = e->pipe_id;
		p->size = e->has_size ? e->size : 0;
		p->len = len;
		p->data = malloc(len ? len : 1);
		if (p->data)
			memcpy(p->data, data, len);
		cimg_free(msg);
		if (!p->data)
			r = -ENOMEM;
	}
	cimg_close(im);
	return r;
}

static struct cskq *skq_slot(struct cdump *cd, uint32_t id, size_t *cap)
{
	for (size_t i = 0; i < cd->nr_skq; i++)
		if (cd->skq[i].id == id)
			return &cd->skq[i];
	if (cd->nr_skq == *cap) {
		struct cskq *n = realloc(cd->skq, (*cap ? *cap * 2 : 8) * sizeof(*n));

		if (!n)
			return NULL;
		cd->skq = n;
		*cap = *cap ? *cap * 2 : 8;
	}
	cd->skq[cd->nr_skq] = (struct cskq){ .id = id };
	return &cd->skq[cd->nr_skq++];
}

/* sk-queues.img: how much waits in each socket's receive queue. */
static int load_queues(struct cdump *cd)
{
	struct cimg *im;
	size_t cap = 0;
	void *msg;
	int r;

	r = cimg_open(cd->src, CIMG_SK_QUEUES, 0, false, &im);
	if (r == -ENOENT)
		return 0;
	while (r >= 0 && (r = cimg_next(im, &msg, NULL, NULL)) > 0) {
		const Criu__SkPacketEntry *e = msg;
		struct cskq *q = skq_slot(cd, e->id_for, &cap);

		if (q) {
			q->packets++;
			q->bytes += e->length;
		}
		cimg_free(msg);
		if (!q)
			r = -ENOMEM;
	}
	cimg_close(im);
	return r;
}

int cfiles_load(struct cdump *cd)
{
	int r = load_files(cd);

	if (!r)
		r = load_pipes(cd, CIMG_PIPES_DATA, &cd->pipes, &cd->nr_pipes);
	if (!r)
		r = load_pipes(cd, CIMG_FIFO_DATA, &cd->fifos, &cd->nr_fifos);
	if (!r)
		r = load_queues(cd);
	return r;
}

void cfiles_free(struct cdump *cd)
{
	cimg_free_all((void **)cd->files, cd->nr_files);
	for (size_t i = 0; i < cd->nr_pipes; i++)
		free(cd->pipes[i].data);
	for (size_t i = 0; i < cd->nr_fifos; i++)
		free(cd->fifos[i].data);
	free(cd->pipes);
	free(cd->fifos);
	free(cd->skq);
}

const Criu__FileEntry *cfile_find(const struct cdump *cd, uint32_t id)
{
	size_t lo = 0, hi = cd->nr_files;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cd->files[mid]->id < id)
			lo = mid + 1;
		else if (cd->files[mid]->id > id)
			hi = mid;
		else
			return cd->files[mid];
	}
	return NULL;
}

FileIdentity *cident_make(const Criu__RegFileEntry *reg, int *r)
{
	FileIdentity *fi = malloc(sizeof(*fi));

	*r = -ENOMEM;
	if (!fi)
		return NULL;
	file_identity__init(fi);
	fi->path = strdup(reg->name);
	fi->has_size = reg->has_size;
	fi->size = reg->size;
	fi->has_mode = reg->has_mode;
	fi->mode = reg->mode;
	/* CRIU keeps the build-id as 32-bit words, little-endian. */
	if (reg->n_build_id && (fi->build_id.data = malloc(reg->n_build_id * 4))) {
		memcpy(fi->build_id.data, reg->build_id, reg->n_build_id * 4);
		fi->build_id.len = reg->n_build_id * 4;
		fi->has_build_id = 1;
	}
	if (!fi->path || (reg->n_build_id && !fi->has_build_id)) {
		img_free(fi);
		return NULL;
	}
	*r = 0;
	return fi;
}
