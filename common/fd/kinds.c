/* The table of kinds of open file (fd.h): the dump asks each in turn
 * whether an fd is its own, restore finds the kind of an entry by type. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "common/fd/fd.h"

extern const struct fd_kind fdk_opath, fdk_eventfd, fdk_epoll, fdk_signalfd, fdk_timerfd,
	fdk_inotify, fdk_fanotify, fdk_pidfd, fdk_socket, fdk_pipe, fdk_fifo, fdk_memfd, fdk_reg,
	fdk_dir, fdk_chr, fdk_tty, fdk_nsfs, fdk_unsupported;

/* Dump order matters: O_PATH first (whatever it names, nothing is open
 * through it), anon inodes by their link (newer kernels give them S_IFREG
 * or no type), a memfd before regular files, and the catch-all last. */
static const struct fd_kind *const kinds[] = {
	&fdk_opath, &fdk_eventfd, &fdk_epoll, &fdk_signalfd, &fdk_timerfd, &fdk_inotify,
	&fdk_fanotify, &fdk_pidfd,
	&fdk_socket, &fdk_pipe, &fdk_fifo, &fdk_memfd, &fdk_reg, &fdk_dir, &fdk_chr, &fdk_tty,
	&fdk_nsfs, &fdk_unsupported,
};

#define NR_KINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct fd_kind *fd_kind_for_dump(const struct fd_desc *d)
{
	for (size_t i = 0; i < NR_KINDS; i++)
		if (kinds[i]->dump_match && kinds[i]->dump_match(d))
			return kinds[i];
	return &fdk_unsupported;
}

const struct fd_kind *fd_kind_of(int type)
{
	for (size_t i = 0; i < NR_KINDS; i++)
		if (kinds[i]->type == type)
			return kinds[i];
	return NULL;
}

void fd_dump_done(struct fd_dump *c)
{
	for (size_t i = 0; i < NR_KINDS; i++)
		if (kinds[i]->dump_done)
			kinds[i]->dump_done(c);
}

void fd_dump_end(const struct fd_rst_opts *opts, enum fd_dump_end end)
{
	for (size_t i = 0; i < NR_KINDS; i++)
		if (kinds[i]->dump_end)
			kinds[i]->dump_end(opts, end);
}

int fd_rst_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const struct fd_kind *k = fd_kind_of((int)e->type);

	/* What the user passes in needs no restoring, only to be there. */
	if (fd_rst_inherits(r, e)) {
		int fd = r->opts.at_dump ? -ENOENT : fd_rst_inherited(r, e, why, len);

		if (fd >= 0)
			close(fd);
		return fd == -ENOENT ? 0 : fd;
	}
	if (k && k->check && k->open)
		return k->check(r, e, why, len);
	snprintf(why, len, "%s: restoring %s is not supported", e->link ? e->link : "?",
		 k ? k->name : "this kind of file");
	return -EOPNOTSUPP;
}

enum tree_step { LINK_TREE, LATE_TREE, SETTLE };

/* Each kind's step for the whole tree, in table order; the first failure
 * ends it. */
static int every_kind(enum tree_step step, struct fd_rst *r, char *why, size_t len)
{
	for (size_t i = 0; i < NR_KINDS; i++) {
		const struct fd_kind *k = kinds[i];
		int (*fn)(struct fd_rst *r, char *why, size_t len) =
			step == LINK_TREE ? k->link_tree : step == LATE_TREE ? k->late_tree : k->settle;
		int rc = fn ? fn(r, why, len) : 0;

		if (rc < 0)
			return rc;
	}
	return 0;
}

int fd_kinds_link_tree(struct fd_rst *r, char *why, size_t len)
{
	return every_kind(LINK_TREE, r, why, len);
}

void fd_kinds_open_proc(struct fd_rst *r, size_t proc)
{
	for (size_t i = 0; i < NR_KINDS; i++)
		if (kinds[i]->open_proc)
			kinds[i]->open_proc(r, proc);
}

int fd_kinds_late_tree(struct fd_rst *r, char *why, size_t len)
{
	return every_kind(LATE_TREE, r, why, len);
}

int fd_kinds_settle(struct fd_rst *r, char *why, size_t len)
{
	return every_kind(SETTLE, r, why, len);
}

void fd_kinds_rst_done(struct fd_rst *r)
{
	for (size_t i = 0; i < NR_KINDS; i++)
		if (kinds[i]->rst_done)
			kinds[i]->rst_done(r);
}
