/* Every open fd of a stopped process into files-PID.img, in fd order.
 *
 * What every fd has comes from /proc: the link (readlink of /proc/PID/fd/N),
 * a stat through that magic link, and fdinfo (pos, flags in octal, mnt_id,
 * then lines that depend on the kind of file). The kind (common/fd/: the
 * table of kinds, dump and restore side by side) fills the rest. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "common/procfs.h"
#include "criu-lite/files/fcopy.h"
#include "criu-lite/files/fd_list.h"
#include "criu-lite/files/files_ahead.h"
#include "criu-lite/files/files.h"
#include "images/log.h"

/* Read link (unless given), stat and fdinfo (unless read ahead). -ENOENT
 * means the fd is gone. */
static int fd_desc_read(struct fd_dump *c, struct fd_desc *d, const char *link)
{
	pid_t pid = c->pid;
	char path[64];
	ssize_t n;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, d->fd);
	if (link) {
		snprintf(d->link, sizeof(d->link), "%s", link);
	} else {
		n = readlink(path, d->link, sizeof(d->link) - 1);
		if (n < 0)
			return errno == ENOENT ? -ENOENT : pr_perror("cannot read link %s", path);
		d->link[n] = '\0';
	}
	if (fd_dump_pre_desc(c, d->fd, &d->st, &d->fdinfo))
		return 0;
	if (stat(path, &d->st))
		return errno == ENOENT ? -ENOENT : pr_perror("cannot stat %s", path);
	r = fd_dump_read_fdinfo(pid, d->fd, &d->fdinfo);
	if (r == -ESRCH)
		return procfs_log_err(pid, "fdinfo", r);
	if (r < 0 && r != -ENOENT) {
		errno = -r;
		return pr_perror("cannot read fdinfo of fd %d of %d", d->fd, pid);
	}
	return r;
}

static int fill_common(const struct fd_desc *d, FdEntry *e)
{
	const char *v;

	e->fd = d->fd;
	e->link = fd_dump_strdup(d->link);
	if (!e->link)
		return -ENOMEM;
	v = fdinfo_field(d->fdinfo, "flags");
	e->flags = v ? (uint32_t)strtoul(v, NULL, 8) : 0;
	/* O_CLOEXEC belongs to the fd, not to the open file: the kernel shows it
	 * among the flags, we keep it where restore applies it (F_SETFD). */
	e->has_fd_flags = true;
	e->fd_flags = e->flags & O_CLOEXEC ? FD_CLOEXEC : 0;
	e->flags &= ~O_CLOEXEC;
	if ((v = fdinfo_field(d->fdinfo, "pos"))) {
		e->has_pos = true;
		e->pos = (uint64_t)strtoll(v, NULL, 10);
	}
	if ((v = fdinfo_field(d->fdinfo, "mnt_id"))) {
		e->has_mnt_id = true;
		e->mnt_id = strtoull(v, NULL, 10);
	}
	return 0;
}

static int dump_one(struct fd_dump *ctx, int fd, const char *link, FdEntry **out)
{
	struct fd_desc *d = calloc(1, sizeof(*d));
	FdEntry *e = malloc(sizeof(*e));
	int r = -ENOMEM;

	if (!d || !e)
		goto out;
	fd_entry__init(e);
	d->fd = fd;
	r = fd_desc_read(ctx, d, link);
	if (r < 0)
		goto out;
	r = fill_common(d, e);
	if (!r)
		r = fd_kind_for_dump(d)->dump(ctx, d, e);
	if (!r)
		r = fd_dump_desc_id(ctx, d, &e->desc_id);
	e->has_desc_id = e->desc_id != 0;
	if (!r)
		r = fd_dump_locks(ctx, d, e);
	if (!r) {
		*out = e;
		e = NULL;
	}
out:
	fd_dump_return(ctx);
	if (d)
		free(d->fdinfo);
	free(d);
	img_free(e);
	return r;
}

/* Files criu-lite itself holds for c (files in flight it received while
 * peeking a socket of c->pid): dumped as fds of criu-lite, with c's socket
 * tables (the sockets live in the target's netns). */
static int dump_own(struct fd_dump *c, const int *fds, size_t n, FdEntry **out)
{
	/* A tree of their own: criu-lite's fd numbers are reused once these
	 * are closed, so they must not enter the tree's table of descriptions
	 * (kcmp by pid and fd); ghost ids go on from the tree's. */
	struct fd_dump_tree own = { .dirfd = c->tree->dirfd, .ghost_limit = c->tree->ghost_limit,
				    .next_ghost_id = c->tree->next_ghost_id };
	struct fd_dump self = { .pid = getpid(), .own = true, .tree = &own, .sk = c->sk,
				.sk_loaded = c->sk_loaded, .dump_own = dump_own };
	int r = 0;

	self.tree_pids = &self.pid;
	self.nr_tree_pids = 1;

	self.pidfd = (int)syscall(SYS_pidfd_open, self.pid, 0);
	for (size_t i = 0; i < n && !r; i++)
		r = dump_one(&self, fds[i], NULL, &out[i]);
	self.sk = NULL;		/* c's */
	fd_dump_done(&self);
	if (self.pidfd >= 0)
		close(self.pidfd);
	c->tree->next_ghost_id = own.next_ghost_id;
	fd_dump_tree_free(&own);
	return r;
}

/* Every fd into img, each entry kept in *w once written (its array sized
 * for them all first: nr entries at most). */
static int dump_fds(struct fd_dump *ctx, struct img *img, const int *fds, size_t nr,
		    struct fcopy_set *fc, struct fd_rst_proc *w)
{
	bool vanished = false;
	int r = 0;

	w->pid = (uint32_t)ctx->pid;
	if (!(w->fd = calloc(nr ? nr : 1, sizeof(*w->fd))))
		return -ENOMEM;

	for (size_t i = 0; i < nr && r >= 0; i++) {
		FdEntry *e = NULL;

		r = dump_one(ctx, fds[i], ctx->links ? ctx->links[i] : NULL, &e);
		if (r == -ENOENT) {
			/* Only a task sharing the table (CLONE_FILES) outside the
			 * frozen tree can close it now; it is gone from the dump. */
			pr_warn("pid %d: fd %d closed while being dumped", ctx->pid, fds[i]);
			vanished = true;
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		w->fd[w->nr_fd++] = e;
		r = img_write(img, e);
		if (!r)
			r = fcopy_note_fd(fc, ctx->pid, e);
	}
	/* fds that vanish because the process died would make a quietly
	 * incomplete image: refuse instead. */
	if (!r && vanished && kill(ctx->pid, 0) && errno == ESRCH) {
		pr_err("process %d exited while its fds were dumped", ctx->pid);
		r = -ESRCH;
	}
	return r;
}

/* The entries written, the tree's now for the dump's check (fd.h). */
static int keep_written(struct fd_dump_tree *t, struct fd_rst_proc *w)
{
	struct fd_rst_proc *n = realloc(t->written, (t->nr_written + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	t->written = n;
	t->written[t->nr_written++] = *w;
	*w = (struct fd_rst_proc){ 0 };
	return 0;
}

int files_dump(int dirfd, pid_t pid, struct fd_dump_tree *tree)
{
	return files_dump_ahead(dirfd, pid, tree, NULL, NULL);
}

int files_dump_ahead(int dirfd, pid_t pid, struct fd_dump_tree *tree, struct fcopy_set *fc,
		     struct files_ahead *fa)
{
	struct fd_dump_tree own = { .dirfd = dirfd, .ghost_limit = FD_GHOST_LIMIT_DEFAULT };
	struct fd_dump ctx = { .pid = pid, .pidfd = -1, .tree = tree ? tree : &own,
			       .dump_own = dump_own,
			       .tree_pids = tree && tree->nr_pids ? tree->pids : &pid,
			       .nr_tree_pids = tree && tree->nr_pids ? tree->nr_pids : 1 };
	struct fd_rst_proc w = { 0 };
	struct img *img;
	size_t nr = 0;
	int *fds = NULL;
	int r;

	char **links = NULL;

	r = fd_dump_tree_proc(ctx.tree, pid);
	/* listed ahead (the tables too, maybe), or now */
	if (!r && fa)
		r = files_ahead_take(fa, &fds, &nr, &links, &ctx.sk, &ctx.sk_loaded);
	if ((!r && !fa) || r == -EAGAIN)
		r = fd_list_read(pid, &fds, &nr, &links);
	if (r < 0)
		return r;
	ctx.fds = fds;
	ctx.links = links;
	ctx.nr_fds = nr;
	ctx.pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (ctx.pidfd < 0)
		pr_debug("pidfd_open(%d): %s; tty and socket details will be guessed",
			 pid, strerror(errno));
	r = fd_dump_exe(&ctx);
	if (!r)
		r = fd_dump_prefetch(&ctx);
	if (r)
		goto out;
	img = img_create(dirfd, IMG_FILES, pid);
	if (!img) {
		r = -errno;
		goto out;
	}
	r = dump_fds(&ctx, img, fds, nr, fc, &w);
	if (r < 0) {
		img_abort(img, dirfd);
	} else if ((r = img_close(img)) < 0) {
		char name[64];

		/* A failed flush leaves a partial image: never leave that behind. */
		if (!img_name(IMG_FILES, pid, name, sizeof(name)))
			unlinkat(dirfd, name, 0);
	} else {
		r = keep_written(ctx.tree, &w);
	}
out:
	img_free_all((void **)w.fd, w.nr_fd);
	fd_dump_done(&ctx);
	if (ctx.pidfd >= 0)
		close(ctx.pidfd);
	fd_dump_tree_free(&own);
	fd_list_free(links, nr);
	free(fds);
	return r;
}
