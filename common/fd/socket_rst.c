/* Sockets, restore: the state kept from the open step to the late one
 * (fd_rst.sk): the sockets made, with a duplicate criu-lite keeps until
 * the late step, and an index of every socket entry, those of the tree's
 * fds and those in flight in a queue (a socket can be another's peer while
 * only a message holds it). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"

struct sk_rst *sk_rst_get(struct fd_rst *r)
{
	if (!r->sk)
		r->sk = calloc(1, sizeof(*r->sk));
	return r->sk;
}

enum { BY_OBJ, BY_ENT };

struct sk_obj *sk_obj_find(struct sk_rst *s, uint64_t ino)
{
	long at = s ? key_index_get(&s->index, BY_OBJ, ino) : -1;

	if (at != -2)
		return at >= 0 ? &s->obj[at] : NULL;
	for (size_t i = 0; i < s->nr_obj; i++)
		if (s->obj[i].ino == ino)
			return &s->obj[i];
	return NULL;
}

struct sk_obj *sk_obj_add(struct fd_rst *r, uint64_t ino, const FdEntry *e, int fd)
{
	struct sk_rst *s = sk_rst_get(r);
	struct fd_rst_obj *fo;
	struct sk_obj *o;

	if (!s)
		return NULL;
	if (s->nr_obj == s->cap_obj) {
		size_t cap = s->cap_obj ? s->cap_obj * 2 : 32;

		o = realloc(s->obj, cap * sizeof(*o));
		if (!o)
			return NULL;
		s->obj = o;
		s->cap_obj = cap;
	}
	fo = fd_rst_obj_add(r, FD_TYPE__FD_SOCKET, ino);
	if (!fo)
		return NULL;
	/* one fd for both: the table's (closed once the tree is forked) is
	 * ours until the late step, which closes it (a dup a socket was two
	 * more syscalls and one more fd at every fork) */
	fo->fds[0] = fd;
	fo->fd0_kept = true;
	key_index_put(&s->index, BY_OBJ, ino, s->nr_obj);
	o = &s->obj[s->nr_obj++];
	memset(o, 0, sizeof(*o));
	o->ino = ino;
	o->fd = fd;
	o->e = e;
	o->peer_fd = -1;
	o->table_fd = -1;
	return o;
}

/* The entry of socket ino among those indexed, or NULL. */
static const FdEntry *sk_entry_indexed(const struct sk_rst *s, uint64_t ino)
{
	long at = key_index_get(&s->index, BY_ENT, ino);

	if (at != -2)
		return at >= 0 ? s->ent[at] : NULL;
	for (size_t i = 0; i < s->nr_ent; i++)
		if (s->ent[i]->sock->ino == ino)
			return s->ent[i];
	return NULL;
}

static void add_entry(struct sk_rst *s, const FdEntry *e)
{
	const FdEntry **n;

	if (sk_entry_indexed(s, e->sock->ino))
		return;
	if (s->nr_ent == s->cap_ent) {
		size_t cap = s->cap_ent ? s->cap_ent * 2 : 64;

		if (!(n = realloc(s->ent, cap * sizeof(*n))))
			return;
		s->ent = n;
		s->cap_ent = cap;
	}
	key_index_put(&s->index, BY_ENT, e->sock->ino, s->nr_ent);
	s->ent[s->nr_ent++] = e;
}

static void walk(const FdEntry *e, void (*fn)(const FdEntry *e, void *arg), void *arg, int depth)
{
	const SocketInfo *si = e->sock;

	if (e->type != FD_TYPE__FD_SOCKET || !si)
		return;
	fn(e, arg);
	for (size_t q = 0; depth < 4 && q < si->n_queue; q++)
		for (size_t k = 0; k < si->queue[q]->n_rights; k++)
			walk(si->queue[q]->rights[k], fn, arg, depth + 1);
}

void sk_for_each_entry(const struct fd_rst *r, void (*fn)(const FdEntry *e, void *arg),
		       void *arg)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		for (size_t j = 0; j < r->procs[i].nr_fd; j++)
			walk(r->procs[i].fd[j], fn, arg, 0);
}

struct find {
	uint64_t ino;
	const FdEntry *found;
};

static void find_one(const FdEntry *e, void *arg)
{
	struct find *f = arg;

	if (!f->found && e->sock->ino == f->ino)
		f->found = e;
}

static void index_one(const FdEntry *e, void *arg)
{
	add_entry(arg, e);
}

const FdEntry *sk_entry(const struct fd_rst *r, uint64_t ino)
{
	struct find f = { .ino = ino };

	/* Restore indexes once; checks (dump's too) walk. */
	if (r->sk && r->sk->indexed)
		return sk_entry_indexed(r->sk, ino);
	sk_for_each_entry(r, find_one, &f);
	return f.found;
}

int sk_index(struct fd_rst *r)
{
	struct sk_rst *s = sk_rst_get(r);

	if (!s)
		return -ENOMEM;
	if (!s->indexed) {
		sk_for_each_entry(r, index_one, s);
		s->indexed = true;
	}
	return 0;
}

int sk_unlink_later(struct sk_rst *s, const char *path)
{
	char **n = realloc(s->unlink, (s->nr_unlink + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	s->unlink = n;
	if (!(s->unlink[s->nr_unlink] = strdup(path)))
		return -ENOMEM;
	s->nr_unlink++;
	return 0;
}

int sk_lock_note(struct sk_rst *s, const SocketInfo *si)
{
	const char *name = si->tcp ? si->tcp->lock : NULL;

	if (!name || !name[0])
		return 0;
	for (size_t i = 0; i < s->nr_locks; i++)
		if (!strcmp(s->locks[i], name))
			return 0;
	if (s->nr_locks == sizeof(s->locks) / sizeof(s->locks[0]))
		return -E2BIG;
	return (s->locks[s->nr_locks] = strdup(name)) ? (s->nr_locks++, 0) : -ENOMEM;
}

pid_t sk_real_pid(const struct fd_rst *r, uint32_t pid)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		if (r->procs[i].pid == pid && r->procs[i].real_pid > 0)
			return r->procs[i].real_pid;
	return (pid_t)pid;
}

/* The paths of unlinked names go once every client is connected. */
void sk_unlink_all(struct sk_rst *s)
{
	for (size_t i = 0; i < s->nr_unlink; i++) {
		unlink(s->unlink[i]);
		free(s->unlink[i]);
	}
	free(s->unlink);
	s->unlink = NULL;
	s->nr_unlink = 0;
}

void sk_rst_free(struct fd_rst *r)
{
	struct sk_rst *s = r->sk;
	size_t n = 0;
	int *fds;

	if (!s)
		return;
	sk_unlink_all(s);
	if ((fds = malloc((3 * s->nr_obj + 1) * sizeof(*fds)))) {
		for (size_t i = 0; i < s->nr_obj; i++) {
			fds[n++] = s->obj[i].fd;
			fds[n++] = s->obj[i].peer_fd;
			fds[n++] = s->obj[i].table_fd;
		}
		fd_close_all(fds, n);
		free(fds);
	} else {
		for (size_t i = 0; i < s->nr_obj; i++) {
			if (s->obj[i].fd >= 0)
				close(s->obj[i].fd);
			if (s->obj[i].peer_fd >= 0)
				close(s->obj[i].peer_fd);
			if (s->obj[i].table_fd >= 0)
				close(s->obj[i].table_fd);
		}
	}
	for (size_t i = 0; i < s->nr_rights; i++) {
		for (size_t k = 0; k < s->rights[i].n; k++)
			if (s->rights[i].fds[k] >= 0)
				close(s->rights[i].fds[k]);
		free(s->rights[i].fds);
	}
	free(s->rights);
	for (size_t i = 0; i < s->nr_locks; i++)
		free(s->locks[i]);
	for (size_t i = 0; i < s->nr_obj; i++)
		free(s->obj[i].reach);
	free(s->obj);
	free(s->ent);
	key_index_free(&s->index);
	free(s);
	r->sk = NULL;
}
