/* restore --replay: the files the tree could write (open for writing,
 * mapped MAP_SHARED) become private copies, each bind-mounted over its
 * path in the replay's mount namespace (made private first: nothing
 * propagates back). So the kinds of file open them by the same path as
 * ever, /proc/PID/fd shows the path the program knows, and a file it opens
 * again by path is its copy too.
 *
 * Why copies and not overlays: an overlay works on directories, not on one
 * file, and copies a file up whole at its first open for writing, which
 * every one of these files gets at restore; so it would copy the same bytes,
 * plus a mount and upper/work directories per directory, and would hide
 * what is mounted below those directories. The copies live on a tmpfs that
 * is never attached anywhere (fsmount): no path of the host holds them, and
 * they are freed with the replay's last mount of them.
 *
 * Each copy is cut to its dumped size with its dumped mtime: a log that grew
 * since reads as it was (the end of an O_APPEND file is where it was), and
 * a file that changed since is no obstacle to a replay (the identity checks
 * hold for the copy). A privately mapped file that changed is copied the
 * same way and said; one whose ELF build-id changed is not (its code would
 * differ: check.c refuses it). A file only read, changed since, is copied
 * the same way (its offset may be past its new end).
 *
 * Their bytes are the dump's (issue 14): the dump copied each file the tree
 * could write while it was frozen (criu-lite/files/fcopy.c, fcopy.img). A
 * file still as it was then (same dev, ino, size, mtime and ctime to the
 * ns) is copied from itself, the dump's copy otherwise. Not for a file the
 * tree mapped MAP_SHARED: a write through a mapping whose page is already
 * dirty changes no timestamp (mtime moves at the first write fault after
 * writeback only), so only the dump's copy says what it held. A file the
 * dump did not copy (over --file-copy-limit, an older dump) is copied as
 * it is now, said in one line.
 *
 * At the seal (replay.c) the replay's init makes every other mount of the
 * tree read-only: a file the copy opens later by path cannot be written
 * either, whatever a debugger makes it do. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/file_copy.h"
#include "images/log.h"
#include "restore/rst.h"

struct want {
	const char *path;
	const FileIdentity *id;
	bool changed;		/* only read or privately mapped, changed since the dump */
};

struct wants {
	struct want *v;
	size_t n, cap;
	FcopyEntry **fc;	/* the dump's copies (fcopy.img) */
	size_t nr_fc;
};

static int want_add(struct wants *w, const FileIdentity *id, bool changed)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->v[i].path, id->path)) {
			/* Written by one process, only read by another: written. */
			if (!changed && w->v[i].changed)
				w->v[i] = (struct want){ id->path, id, false };
			return 0;
		}
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct want *v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = (struct want){ id->path, id, changed };
	return 0;
}

/* A private mapping (or the exe) of a file that changed, not an ELF build. */
static bool changed_plain(const FileIdentity *id)
{
	struct stat st;
	char why[160];

	if (id->has_build_id || stat(id->path, &st) || !S_ISREG(st.st_mode))
		return false;
	return rst_file_matches(id, &st, -1, why, sizeof(why)) != 0;
}

static int collect_proc(const struct rst_proc *p, struct wants *w)
{
	int r = 0;

	for (size_t i = 0; !r && i < p->nr_fd; i++) {
		const FdEntry *e = p->fd[i];

		if (e->type != FD_TYPE__FD_REG || !e->file || e->file->path[0] != '/' ||
		    e->has_ghost_id)
			continue;
		if ((e->flags & O_ACCMODE) != O_RDONLY)
			r = want_add(w, e->file, false);
		else if (changed_plain(e->file))
			r = want_add(w, e->file, true);
	}
	for (size_t i = 0; !r && i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];

		if (!(v->status & VMA_AREA_REGULAR) || !v->file || v->file->path[0] != '/' ||
		    v->status & (VMA_FILE_DELETED | VMA_ANON_SHARED))
			continue;
		if (v->status & VMA_FILE_SHARED)
			r = want_add(w, v->file, false);
		else if (v->status & VMA_FILE_PRIVATE && changed_plain(v->file))
			r = want_add(w, v->file, true);
	}
	if (!r && p->pe->exe && p->pe->exe->path[0] == '/' && changed_plain(p->pe->exe))
		r = want_add(w, p->pe->exe, true);
	return r;
}

static const FcopyEntry *fcopy_of(const struct wants *ws, const FileIdentity *id)
{
	for (size_t i = 0; i < ws->nr_fc; i++) {
		const FcopyEntry *e = ws->fc[i];

		if (id->has_dev && id->has_ino ? e->dev == id->dev && e->ino == id->ino :
						 !strcmp(e->path, id->path))
			return e;
	}
	return NULL;
}

static uint64_t ns_of(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000ull + (uint64_t)t->tv_nsec;
}

/* A file the tree could write, live at `live` (st): where its copy's bytes
 * come from, live or the dump's copy (*avail: how many bytes it has). */
static int source_of(struct rst_tree *t, const struct wants *ws, const struct want *w, int live,
		     const struct stat *st, uint64_t *avail)
{
	const FcopyEntry *e = fcopy_of(ws, w->id);
	int fd;

	*avail = (uint64_t)st->st_size;
	if (!e || !e->copy) {
		pr_warn("replay: %s was not copied at the dump (%s): the replay reads it as it "
			"is now, cut to its dumped size", w->path,
			e ? e->why_not ? e->why_not : "no reason given" : "no copy in the dump");
		return live;
	}
	if (!e->mapped_shared && st->st_dev == e->dev && st->st_ino == e->ino &&
	    (uint64_t)st->st_size == e->size && ns_of(&st->st_mtim) == e->mtime_ns &&
	    ns_of(&st->st_ctim) == e->ctime_ns) {
		pr_info("replay: %s is as dumped: copied from itself", w->path);
		return live;
	}
	fd = dr_fcopy_open(&t->dr, e);
	if (fd < 0) {
		close(live);
		return fd;
	}
	pr_info("replay: %s is the dump's copy of it", w->path);
	*avail = e->size;
	close(live);
	return fd;
}

/* The copy of w as file `name` of the tmpfs, then over its path. */
static int copy_one(struct rst_tree *t, const struct wants *ws, int mnt, const struct want *w,
		    const char *name)
{
	int from, to = -1, tree = -1, r = 0;
	struct timespec ts[2];
	uint64_t size, avail;
	struct stat st;

	from = open(w->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (from < 0 || fstat(from, &st)) {
		r = pr_perror("cannot replay: cannot read %s for its private copy", w->path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = 0;	/* not a regular file: its kind decides (a device, a FIFO) */
		goto out;
	}
	avail = (uint64_t)st.st_size;
	if (!w->changed) {
		/* The file, or the dump's copy of it; on failure, closed. */
		r = from = source_of(t, ws, w, from, &st, &avail);
		if (r < 0)
			goto out;
	}
	size = w->id->has_size ? w->id->size : (uint64_t)st.st_size;
	to = openat(mnt, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, st.st_mode & 07777);
	if (to < 0) {
		r = pr_perror("cannot replay: cannot make a copy of %s", w->path);
		goto out;
	}
	r = file_copy_bytes(from, to, size < avail ? size : avail);
	if (r == -ENODATA)
		r = 0;	/* it is shorter now: the rest reads as zeroes */
	if (!r && ftruncate(to, (off_t)size))
		r = -errno;
	if (r) {
		pr_err("cannot replay: cannot copy %s: %s", w->path, strerror(-r));
		goto out;
	}
	/* As the file was: whoever the tree runs as can open it as before. */
	if (fchown(to, st.st_uid, st.st_gid) || fchmod(to, st.st_mode & 07777))
		pr_warn("replay: the copy of %s keeps root's ownership: %s", w->path,
			strerror(errno));
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (w->id->has_mtime_ns) {
		ts[1].tv_sec = (time_t)(w->id->mtime_ns / 1000000000ull);
		ts[1].tv_nsec = (long)(w->id->mtime_ns % 1000000000ull);
	}
	futimens(to, ts);
	tree = open_tree(mnt, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0 || move_mount(tree, "", AT_FDCWD, w->path, MOVE_MOUNT_F_EMPTY_PATH)) {
		r = pr_perror("cannot replay: cannot put a copy over %s", w->path);
		goto out;
	}
	if (w->changed)
		pr_warn("replay: %s changed since the dump: the replay reads it as it is now, "
			"cut to its dumped size", w->path);
	pr_info("replay: %s is a private copy (%llu bytes)", w->path, (unsigned long long)size);
out:
	if (tree >= 0)
		close(tree);
	if (to >= 0)
		close(to);
	if (from >= 0)
		close(from);
	return r;
}

static int scratch_tmpfs(void)
{
	int fs = fsopen("tmpfs", FSOPEN_CLOEXEC), mnt = -1;

	if (fs < 0)
		return pr_perror("cannot replay: no tmpfs for its copies");
	if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
		mnt = pr_perror("cannot replay: cannot make a tmpfs for its copies");
	else if ((mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0)
		mnt = pr_perror("cannot replay: cannot mount a tmpfs for its copies");
	close(fs);
	return mnt;
}

int rst_replay_files(struct rst_tree *t)
{
	struct wants w = { 0 };
	int mnt = -1, r;

	r = dr_fcopy_load(&t->dr, &w.fc, &w.nr_fc);
	for (size_t i = 0; !r && i < t->nr_procs; i++)
		r = collect_proc(&t->procs[i], &w);
	if (!r && w.n && (mnt = scratch_tmpfs()) < 0)
		r = mnt;
	for (size_t i = 0; !r && i < w.n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%zu", i);
		r = copy_one(t, &w, mnt, &w.v[i], name);
	}
	/* The mounts over the paths hold the tmpfs from here on. */
	if (mnt >= 0)
		close(mnt);
	t->replay_rw = calloc(w.n ? w.n : 1, sizeof(char *));
	for (size_t i = 0; !r && t->replay_rw && i < w.n; i++)
		t->replay_rw[t->nr_replay_rw++] = w.v[i].path;
	if (!t->replay_rw && !r)
		r = -ENOMEM;
	free(w.v);
	img_free_all((void **)w.fc, w.nr_fc);
	return r;
}
