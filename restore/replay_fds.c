/* restore --replay: the fds that would reach out of the replay whatever its
 * namespaces. A namespace fd is refused (setns would leave the replay). A
 * FIFO (its path leads to the host's readers and writers) and a character
 * device other than the harmless ones get /dev/null as a stand-in, passed
 * in the way --inherit-fd passes an fd, and each is listed on stderr.
 * A pipe on stdin, stdout or stderr whose other end is outside the tree
 * is, as restore makes it, the command's own (stdin: /dev/null): listed too.
 * Sockets need nothing here: the replay's network is its own (a unix
 * socket's peer outside the tree is refused by its kind, a TCP connection
 * comes back closed). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/log.h"
#include "restore/rst.h"

static bool harmless_dev(const char *path)
{
	static const char *const ok[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
					  "/dev/urandom" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(path, ok[i]))
			return true;
	return false;
}

/* The resource --inherit-fd would name e by, if it needs a stand-in. */
static const char *needs_stand_in(const FdEntry *e)
{
	if (!e->file || !e->file->path[0])
		return NULL;
	if (e->type == FD_TYPE__FD_FIFO ||
	    (e->type == FD_TYPE__FD_CHR && !harmless_dev(e->file->path)))
		return e->file->path;
	return NULL;
}

/* An end of pipe ino open for acc (O_RDONLY or O_WRONLY) in the tree? */
static bool tree_has_end(const struct rst_tree *t, uint64_t ino, int acc)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		for (size_t k = 0; k < t->procs[i].nr_fd; k++) {
			const FdEntry *e = t->procs[i].fd[k];
			int a = (int)(e->flags & O_ACCMODE);

			if (e->type == FD_TYPE__FD_PIPE && e->pipe && e->pipe->ino == ino &&
			    (a == acc || a == O_RDWR))
				return true;
		}
	return false;
}

static void say_stdio(const struct rst_tree *t, const struct rst_proc *p, const FdEntry *e)
{
	int acc = (int)(e->flags & O_ACCMODE);

	if (e->type != FD_TYPE__FD_PIPE || !e->pipe || e->fd > 2 || e->pipe->peer_gone ||
	    tree_has_end(t, e->pipe->ino, acc == O_RDONLY ? O_WRONLY : O_RDONLY))
		return;
	pr_warn("replay: fd %u of %u (%s, to outside the dump) is %s in the replay", e->fd,
		p->ps->pid, e->link ? e->link : "a pipe",
		e->fd == 0 ? "/dev/null" : e->fd == 1 ? "this command's stdout" :
		"this command's stderr");
}

static int stand_in(struct rst_tree *t, const char *res, int null)
{
	struct fd_rst_opts *o = &t->opts.fd;
	struct fd_rst_inherit *n;

	for (size_t i = 0; i < o->nr_inherit; i++)
		if (!strcmp(o->inherit[i].res, res))
			return 0;
	n = realloc(o->inherit, (o->nr_inherit + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	o->inherit = n;
	n[o->nr_inherit].fd = null;
	n[o->nr_inherit++].res = res;
	return 0;
}

int rst_replay_fds(struct rst_tree *t)
{
	int null = -1, r = 0;

	for (size_t i = 0; !r && i < t->nr_procs; i++) {
		const struct rst_proc *p = &t->procs[i];

		for (size_t k = 0; !r && k < p->nr_fd; k++) {
			const FdEntry *e = p->fd[k];
			const char *res = needs_stand_in(e);

			if (e->type == FD_TYPE__FD_NSFS) {
				pr_err("cannot replay %s: fd %u of %u is a namespace of the host "
				       "(setns would leave the replay)", t->dir, e->fd, p->ps->pid);
				return -ENOTSUP;
			}
			say_stdio(t, p, e);
			if (!res)
				continue;
			if (null < 0 && (null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
				return pr_perror("replay: cannot open /dev/null");
			pr_warn("replay: fd %u of %u (%s) is /dev/null in the replay", e->fd,
				p->ps->pid, res);
			r = stand_in(t, res, null);
		}
	}
	/* null stays open: restore dups it for every stand-in. */
	return r;
}
