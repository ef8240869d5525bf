/* Sharing, told at the dump and kept at the restore: open file
 * descriptions shared between fds and processes (dup, fork, SCM_RIGHTS),
 * fd tables (CLONE_FILES) and fs info (CLONE_FS) shared between processes.
 *
 * Dump: kcmp(2) compares two processes' kernel objects and, for these
 * types, orders them (by an obfuscated pointer, consistently), so each
 * kind of object seen so far is kept as one representative (pid, fd) in
 * kcmp order, and a new one is found or placed by binary search: O(log n)
 * kcmp calls per fd. Every process stays frozen until the tree is dumped,
 * so the representatives stay open. An fd's description id is its
 * representative's; a process's fd table or fs info is that of the first
 * process of the tree found to share it.
 *
 * A socket needs no kcmp: the kernel makes one file per socket, which no
 * open of /proc/PID/fd/N can duplicate (ENXIO), so its inode names its
 * description. A server's thousand connections then cost a lookup each,
 * not ten kcmp calls.
 *
 * Restore: the first fd of each description is made by its kind; the
 * others are dups of it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "images/image.h"
#include "images/log.h"

struct fd_seen {
	pid_t pid;
	int fd;			/* KCMP_FILE; for shares: the pid shared with */
	uint32_t id;
};

/* ---- dump ---- */

static long kcmp(pid_t p1, pid_t p2, int type, int a, int b)
{
	return syscall(SYS_kcmp, p1, p2, type, (unsigned long)a, (unsigned long)b);
}

/* Where (pid, fd)'s object is among v, or would go. 1 found, 0 not, -errno. */
static int seen_find(const struct fd_seen *v, size_t n, int type, pid_t pid, int fd,
		     size_t *pos)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		long c = kcmp(pid, v[mid].pid, type, fd, v[mid].fd);

		if (c < 0)
			return -errno;
		if (c == 0) {
			*pos = mid;
			return 1;
		}
		if (c == 1)
			hi = mid;
		else if (c == 2)
			lo = mid + 1;
		else
			return -ENOTSUP;	/* no order for this type: cannot happen here */
	}
	*pos = lo;
	return 0;
}

static int seen_insert(struct fd_seen **v, size_t *n, size_t *cap, size_t pos,
		       struct fd_seen item)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct fd_seen *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	memmove(*v + pos + 1, *v + pos, (*n - pos) * sizeof(**v));
	(*v)[pos] = item;
	(*n)++;
	return 0;
}

static void kcmp_off(struct fd_dump_tree *t, int err)
{
	if (!t->no_kcmp)
		pr_warn("kcmp: %s; fds that share an open file will be restored as separate ones",
			strerror(-err));
	t->no_kcmp = true;
}

struct fd_sock_seen {
	uint64_t ino;
	uint32_t id;
};

static int sock_desc_id(struct fd_dump_tree *t, uint64_t ino, uint32_t *id)
{
	size_t lo = 0, hi = t->nr_socks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->socks[mid].ino == ino) {
			*id = t->socks[mid].id;
			return 0;
		}
		if (t->socks[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (t->nr_socks == t->cap_socks) {
		size_t nc = t->cap_socks ? t->cap_socks * 2 : 64;
		struct fd_sock_seen *nv = realloc(t->socks, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		t->socks = nv;
		t->cap_socks = nc;
	}
	memmove(t->socks + lo + 1, t->socks + lo, (t->nr_socks - lo) * sizeof(*t->socks));
	*id = ++t->next_desc_id;
	t->socks[lo] = (struct fd_sock_seen){ ino, *id };
	t->nr_socks++;
	return 0;
}

int fd_dump_desc_id(struct fd_dump *c, const struct fd_desc *d, uint32_t *id)
{
	struct fd_dump_tree *t = c->tree;
	int fd = d->fd;
	size_t pos;
	int r;

	*id = 0;
	if (S_ISSOCK(d->st.st_mode))
		return sock_desc_id(t, d->st.st_ino, id);
	if (t->no_kcmp)
		return 0;
	r = seen_find(t->desc, t->nr_desc, KCMP_FILE, c->pid, fd, &pos);
	if (r == -EBADF || r == -ESRCH)
		return 0;	/* gone meanwhile: the caller finds out itself */
	if (r < 0) {
		kcmp_off(t, r);
		return 0;
	}
	if (r == 1) {
		*id = t->desc[pos].id;
		return 0;
	}
	*id = ++t->next_desc_id;
	return seen_insert(&t->desc, &t->nr_desc, &t->cap_desc, pos,
			   (struct fd_seen){ c->pid, fd, *id });
}

/* The earlier process sharing pid's object of `type`, or 0 (and pid becomes
 * the representative of a new one). */
static int share_of(struct fd_dump_tree *t, int type, pid_t pid, pid_t *with)
{
	struct fd_seen **v = type == KCMP_FILES ? &t->files : &t->fs;
	size_t *n = type == KCMP_FILES ? &t->nr_files : &t->nr_fs;
	size_t *cap = type == KCMP_FILES ? &t->cap_files : &t->cap_fs;
	size_t pos;
	int r;

	*with = 0;
	if (t->no_kcmp)
		return 0;
	r = seen_find(*v, *n, type, pid, 0, &pos);
	if (r < 0) {
		kcmp_off(t, r);
		return 0;
	}
	if (r == 1) {
		*with = (*v)[pos].pid;
		return 0;
	}
	return seen_insert(v, n, cap, pos, (struct fd_seen){ pid, 0, 0 });
}

int fd_dump_tree_proc(struct fd_dump_tree *t, pid_t pid)
{
	pid_t files = 0, fs = 0;
	int r = share_of(t, KCMP_FILES, pid, &files);

	if (!r)
		r = share_of(t, KCMP_FS, pid, &fs);
	if (r || (!files && !fs))
		return r;
	return seen_insert(&t->shares, &t->nr_shares, &t->cap_shares, t->nr_shares,
			   (struct fd_seen){ pid, (int)files, (uint32_t)fs });
}

void fd_dump_tree_shares(const struct fd_dump_tree *t, pid_t pid, pid_t *files_with,
			 pid_t *fs_with)
{
	*files_with = *fs_with = 0;
	for (size_t i = 0; t && i < t->nr_shares; i++)
		if (t->shares[i].pid == pid) {
			*files_with = (pid_t)t->shares[i].fd;
			*fs_with = (pid_t)t->shares[i].id;
		}
}

static pid_t group(const struct fd_dump_tree *t, pid_t pid, bool files)
{
	pid_t f, fs;

	fd_dump_tree_shares(t, pid, &f, &fs);
	return (files ? f : fs) ? (files ? f : fs) : pid;
}

/* The restore's rule (restore/fds_share.c), asked before dump --kill: a
 * process shares with its parent or with nobody, and one sharing its
 * parent's fd table has no child with another table. */
int fd_dump_tree_check(const struct fd_dump_tree *t, const pid_t *pid, const pid_t *ppid,
		       size_t n, char *why, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		pid_t f, fs, parent_files = group(t, ppid[i], true);

		fd_dump_tree_shares(t, pid[i], &f, &fs);
		if (f && f != parent_files)
			return fd_rst_fail(why, len, ENOTSUP, "process %d shares its fd table with "
					   "%d (CLONE_FILES), but not with its parent", pid[i], f);
		if (fs && fs != group(t, ppid[i], false))
			return fd_rst_fail(why, len, ENOTSUP, "process %d shares its working "
					   "directory with %d (CLONE_FS), but not with its parent",
					   pid[i], fs);
		for (size_t k = 0; f && k < n; k++)
			if (ppid[k] == pid[i] && group(t, pid[k], true) != f)
				return fd_rst_fail(why, len, ENOTSUP, "process %d shares its parent's "
						   "fd table (CLONE_FILES) and has a child, %d, with "
						   "a table of its own", pid[i], pid[k]);
	}
	return 0;
}

void fd_dump_tree_free_written(struct fd_dump_tree *t)
{
	for (size_t i = 0; i < t->nr_written; i++)
		img_free_all((void **)t->written[i].fd, t->written[i].nr_fd);
	free(t->written);
	t->written = NULL;
	t->nr_written = 0;
}

void fd_dump_tree_free(struct fd_dump_tree *t)
{
	fd_dump_tree_free_written(t);
	free(t->desc);
	free(t->socks);
	t->socks = NULL;
	t->nr_socks = t->cap_socks = 0;
	free(t->files);
	free(t->fs);
	free(t->shares);
	free(t->ghosts);
	free(t->exes);
	free(t->pids);
	t->pids = NULL;
	t->nr_pids = 0;
	t->desc = t->files = t->fs = t->shares = NULL;
	t->ghosts = t->exes = NULL;
	t->nr_exes = 0;
	t->nr_desc = t->nr_files = t->nr_fs = t->nr_shares = t->nr_ghosts = 0;
	t->cap_desc = t->cap_files = t->cap_fs = t->cap_shares = t->cap_ghosts = 0;
}

/* ---- restore ---- */

/* Ids are given from 1 in the order the dump met them: never more than the
 * fds of the tree, which bounds a corrupt image's. */
static bool desc_id_ok(const struct fd_rst *r, uint32_t id)
{
	size_t total = 0;

	for (size_t i = 0; i < r->nr_procs; i++)
		total += r->procs[i].nr_fd;
	return id && id <= total;
}

int fd_rst_desc_dup(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	int fd;

	if (!e->has_desc_id || e->desc_id >= r->nr_desc_fd || r->desc_fd[e->desc_id] < 0)
		return -ENOENT;
	fd = fcntl(r->desc_fd[e->desc_id], F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "dup: %s", strerror(errno));
	return fd;
}

int fd_rst_desc_made(struct fd_rst *r, const FdEntry *e, int fd, char *why, size_t len)
{
	if (!e->has_desc_id)
		return 0;
	if (!desc_id_ok(r, e->desc_id))
		return fd_rst_fail(why, len, EINVAL, "description id %u is out of range: the "
				   "image is corrupt", e->desc_id);
	if (e->desc_id >= r->nr_desc_fd) {
		size_t n = (size_t)e->desc_id * 2 + 16;
		int *v = realloc(r->desc_fd, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		for (size_t i = r->nr_desc_fd; i < n; i++)
			v[i] = -1;
		r->desc_fd = v;
		r->nr_desc_fd = n;
	}
	r->desc_fd[e->desc_id] = fd;
	return 0;
}

void fd_rst_desc_forget(struct fd_rst *r)
{
	free(r->desc_fd);
	r->desc_fd = NULL;
	r->nr_desc_fd = 0;
}
