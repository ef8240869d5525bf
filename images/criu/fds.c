/* FdEntry for each fd of a process: its fdinfo entry (number, FD_CLOEXEC,
 * file id) joined with the file object in files.img. Kinds criu-lite has
 * too become that kind, with what both record; the rest are FD_UNSUPPORTED
 * with the reason, as criu-lite's own dumper records what it cannot take.
 * A pipe's unread bytes go to the lowest fd of the process on that pipe,
 * as criu-lite stores them; a socket's queued bytes are counted (rqueue). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "images/criu/criu.h"
#include "images/log.h"

static const struct cpipe *pipe_find(const struct cpipe *v, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return &v[i];
	return NULL;
}

static int set_link(FdEntry *e, const char *link)
{
	e->link = strdup(link);
	return e->link ? 0 : -ENOMEM;
}

/* "pipe:[ino]", "socket:[ino]": as /proc/PID/fd shows them. */
static int put_link(FdEntry *e, const char *kind, uint32_t ino)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s:[%u]", kind, ino);
	return set_link(e, buf);
}

static int put_reg(const Criu__RegFileEntry *reg, FdEntry *e)
{
	int r;

	e->type = !reg->has_mode ? FD_TYPE__FD_REG : S_ISDIR(reg->mode) ? FD_TYPE__FD_DIR :
		  S_ISCHR(reg->mode) ? FD_TYPE__FD_CHR : FD_TYPE__FD_REG;
	e->flags = reg->flags & ~O_CLOEXEC;
	e->has_pos = 1;
	e->pos = reg->pos;
	e->file = cident_make(reg, &r);
	if (!r && !(e->link = strdup(reg->name)))
		r = -ENOMEM;
	return r;
}

/* The pipe's bytes, if this is the process's lowest fd on it. */
static int put_pipe(const struct cpipe *data, uint32_t id, bool first, FdEntry *e)
{
	PipeInfo *pi = malloc(sizeof(*pi));

	if (!pi)
		return -ENOMEM;
	pipe_info__init(pi);
	e->pipe = pi;
	pi->ino = id;
	if (data && data->size) {
		pi->has_pipe_size = 1;
		pi->pipe_size = data->size;
	}
	if (data && first && data->len) {
		pi->data.data = malloc(data->len);
		if (!pi->data.data)
			return -ENOMEM;
		memcpy(pi->data.data, data->data, data->len);
		pi->data.len = data->len;
		pi->has_data = 1;
	}
	return 0;
}

static SockAddr *unix_name(const ProtobufCBinaryData *name)
{
	SockAddr *a;

	if (!name->len)
		return NULL;
	a = malloc(sizeof(*a));
	if (!a)
		return NULL;
	sock_addr__init(a);
	/* An abstract name starts with a NUL; criu-lite spells it "@name". */
	a->path = malloc(name->len + 1);
	if (!a->path) {
		free(a);
		return NULL;
	}
	memcpy(a->path, name->data, name->len);
	a->path[name->len] = '\0';
	if (name->data[0] == '\0')
		a->path[0] = '@';
	return a;
}

static int put_unix(const struct cdump *cd, const Criu__UnixSkEntry *u, FdEntry *e)
{
	SocketInfo *si = malloc(sizeof(*si));

	if (!si)
		return -ENOMEM;
	socket_info__init(si);
	e->sock = si;
	e->type = FD_TYPE__FD_SOCKET;
	e->flags = u->flags;
	si->family = AF_UNIX;
	si->type = u->type;
	si->ino = u->ino;
	si->has_state = si->has_shutdown = 1;
	si->state = u->state;
	si->shutdown = u->has_shutdown ? u->shutdown : 0;
	si->has_backlog = u->backlog != 0;
	si->backlog = u->backlog;
	si->has_peer_ino = u->peer != 0;
	si->peer_ino = u->peer;
	for (size_t i = 0; i < cd->nr_skq; i++) {
		if (cd->skq[i].id == u->id) {
			si->has_rqueue = 1;
			si->rqueue = cd->skq[i].bytes;
		}
	}
	if (u->name.len && !(si->local = unix_name(&u->name)))
		return -ENOMEM;
	return put_link(e, "socket", u->ino);
}

static int put_timerfd(const Criu__TimerfdEntry *t, FdEntry *e)
{
	TimerfdInfo *ti = malloc(sizeof(*ti));

	if (!ti)
		return -ENOMEM;
	timerfd_info__init(ti);
	e->timerfd = ti;
	e->type = FD_TYPE__FD_TIMERFD;
	e->flags = t->flags;
	ti->clockid = t->clockid;
	ti->has_ticks = ti->has_settime_flags = ti->has_value_ns = ti->has_interval_ns = 1;
	ti->ticks = t->ticks;
	ti->settime_flags = t->settime_flags;
	ti->value_ns = t->vsec * 1000000000ull + t->vnsec;
	ti->interval_ns = t->isec * 1000000000ull + t->insec;
	return set_link(e, "anon_inode:[timerfd]");
}

static int put_epoll(const Criu__EventpollFileEntry *ep, FdEntry *e)
{
	size_t n = ep->n_tfd;

	e->type = FD_TYPE__FD_EPOLL;
	e->flags = ep->flags;
	e->epoll_tfds = calloc(n ? n : 1, sizeof(*e->epoll_tfds));
	e->epoll_events = calloc(n ? n : 1, sizeof(*e->epoll_events));
	e->epoll_data = calloc(n ? n : 1, sizeof(*e->epoll_data));
	if (!e->epoll_tfds || !e->epoll_events || !e->epoll_data)
		return -ENOMEM;
	e->n_epoll_tfds = e->n_epoll_events = e->n_epoll_data = n;
	for (size_t i = 0; i < n; i++) {
		e->epoll_tfds[i] = ep->tfd[i]->tfd;
		e->epoll_events[i] = ep->tfd[i]->events;
		e->epoll_data[i] = ep->tfd[i]->data;
	}
	return set_link(e, "anon_inode:[eventpoll]");
}

static int put_unsupported(FdEntry *e, Criu__FdTypes type)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&criu__fd_types__descriptor, type);
	char buf[128];

	e->type = FD_TYPE__FD_UNSUPPORTED;
	snprintf(buf, sizeof(buf), "CRIU file of kind %s, which criu-lite does not restore",
		 v ? v->name : "unknown");
	e->unsupported_reason = strdup(buf);
	return e->unsupported_reason ? set_link(e, v ? v->name : "?") : -ENOMEM;
}

static int put_file(const struct cdump *cd, const Criu__FileEntry *f, bool first, FdEntry *e)
{
	const Criu__FileEntry *reg;
	int r;

	if (f->type == CRIU__FD_TYPES__REG && f->reg)
		return put_reg(f->reg, e);
	if (f->type == CRIU__FD_TYPES__PIPE && f->pipe) {
		e->type = FD_TYPE__FD_PIPE;
		e->flags = f->pipe->flags;
		r = put_pipe(pipe_find(cd->pipes, cd->nr_pipes, f->pipe->pipe_id),
			     f->pipe->pipe_id, first, e);
		return r ? r : put_link(e, "pipe", f->pipe->pipe_id);
	}
	if (f->type == CRIU__FD_TYPES__FIFO && f->fifo && f->fifo->has_regf_id &&
	    (reg = cfile_find(cd, f->fifo->regf_id)) && reg->reg) {
		r = put_reg(reg->reg, e);
		e->type = FD_TYPE__FD_FIFO;
		return r ? r : put_pipe(pipe_find(cd->fifos, cd->nr_fifos, f->fifo->pipe_id),
					f->fifo->pipe_id, first, e);
	}
	if (f->type == CRIU__FD_TYPES__UNIXSK && f->usk)
		return put_unix(cd, f->usk, e);
	if (f->type == CRIU__FD_TYPES__EVENTFD && f->efd) {
		e->type = FD_TYPE__FD_EVENTFD;
		e->flags = f->efd->flags;
		e->has_eventfd_count = 1;
		e->eventfd_count = f->efd->counter;
		return set_link(e, "anon_inode:[eventfd]");
	}
	if (f->type == CRIU__FD_TYPES__SIGNALFD && f->sgfd) {
		e->type = FD_TYPE__FD_SIGNALFD;
		e->flags = f->sgfd->flags;
		e->has_signalfd_mask = 1;
		e->signalfd_mask = f->sgfd->sigmask;
		return set_link(e, "anon_inode:[signalfd]");
	}
	if (f->type == CRIU__FD_TYPES__TIMERFD && f->tfd)
		return put_timerfd(f->tfd, e);
	if (f->type == CRIU__FD_TYPES__EVENTPOLL && f->epfd)
		return put_epoll(f->epfd, e);
	return put_unsupported(e, f->type);
}

/* Whether no lower fd of the process is on the same pipe. */
static bool first_on_pipe(const struct cdump *cd, Criu__FdinfoEntry **fi, size_t i)
{
	const Criu__FileEntry *f = cfile_find(cd, fi[i]->id), *g;

	if (!f || (!f->pipe && !f->fifo))
		return true;
	for (size_t j = 0; j < i; j++) {
		g = cfile_find(cd, fi[j]->id);
		if (g && f->pipe && g->pipe && g->pipe->pipe_id == f->pipe->pipe_id)
			return false;
		if (g && f->fifo && g->fifo && g->fifo->pipe_id == f->fifo->pipe_id)
			return false;
	}
	return true;
}

static int cmp_fdinfo(const void *a, const void *b)
{
	uint32_t x = (*(Criu__FdinfoEntry *const *)a)->fd, y = (*(Criu__FdinfoEntry *const *)b)->fd;

	return x < y ? -1 : x > y;
}

static int files_id_of(const struct cdump *cd, uint32_t pid, uint32_t *id)
{
	Criu__TaskKobjIdsEntry *ids;
	int r;

	*id = pid;	/* images before fdinfo_per_id name fdinfo by pid */
	if (!cd->cinv->fdinfo_per_id)
		return 0;
	r = cimg_read_one(cd->src, CIMG_IDS, pid, true, (void **)&ids);
	if (r < 0)
		return r;
	*id = ids->files_id;
	cimg_free(ids);
	return 0;
}

int cfds_make(const struct cdump *cd, uint32_t pid, bool must_exist, FdEntry ***out, size_t *n)
{
	Criu__FdinfoEntry **fi = NULL;
	size_t nr = 0;
	uint32_t id;
	int r;

	*out = NULL;
	*n = 0;
	r = files_id_of(cd, pid, &id);
	if (!r)
		r = cimg_read_all(cd->src, CIMG_FDINFO, id, must_exist, (void ***)&fi, &nr);
	if (!r && !(*out = calloc(nr ? nr : 1, sizeof(**out))))
		r = -ENOMEM;
	if (!r)
		qsort(fi, nr, sizeof(*fi), cmp_fdinfo);
	for (size_t i = 0; !r && i < nr; i++) {
		const Criu__FileEntry *f = cfile_find(cd, fi[i]->id);
		FdEntry *e = malloc(sizeof(*e));

		if (!e) {
			r = -ENOMEM;
			break;
		}
		fd_entry__init(e);
		(*out)[(*n)++] = e;
		e->fd = fi[i]->fd;
		e->has_fd_flags = 1;
		e->fd_flags = fi[i]->flags;
		if (!f) {
			pr_err("%s: fd %u of %u names file %u, which files.img lacks",
			       cd->src->label, fi[i]->fd, pid, fi[i]->id);
			r = -EINVAL;
		} else {
			r = put_file(cd, f, first_on_pipe(cd, fi, i), e);
		}
	}
	cimg_free_all((void **)fi, nr);
	return r;
}
