/* Every open fd of a stopped process into files-PID.img, in fd order.
 *
 * What every fd has comes from /proc: the link (readlink of /proc/PID/fd/N),
 * a stat through that magic link, and fdinfo (pos, flags in octal, mnt_id,
 * then lines that depend on the kind of file). The kind decides which
 * module fills the rest: fd_pipe.c, fd_socket.c, fd_misc.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "criu-lite/files/files.h"
#include "images/log.h"

const char *fdinfo_field(const char *fdinfo, const char *key)
{
	size_t kl = strlen(key);
	const char *p = fdinfo;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':')
			return p + kl + 1 + strspn(p + kl + 1, " \t");
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

char *files_strdup(const char *s)
{
	return strdup(s ? s : "");
}

int files_getfd(struct files_ctx *ctx, int fd)
{
	int r;

	if (ctx->pidfd < 0)
		return -ENOSYS;
	r = syscall(SYS_pidfd_getfd, ctx->pidfd, fd, 0);
	return r < 0 ? -errno : r;
}

FileIdentity *files_identity(const struct fd_desc *d)
{
	FileIdentity *fi = malloc(sizeof(*fi));

	if (!fi)
		return NULL;
	file_identity__init(fi);
	fi->path = files_strdup(d->link);
	if (!fi->path) {
		free(fi);
		return NULL;
	}
	fi->has_dev = fi->has_ino = fi->has_size = fi->has_mtime_ns = fi->has_mode = true;
	fi->dev = d->st.st_dev;
	fi->ino = d->st.st_ino;
	fi->size = d->st.st_size;
	fi->mtime_ns = (uint64_t)d->st.st_mtim.tv_sec * 1000000000ull + d->st.st_mtim.tv_nsec;
	fi->mode = d->st.st_mode;
	return fi;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The fd numbers of pid, ascending. */
static int list_fds(pid_t pid, int **out, size_t *nr)
{
	char path[64];
	struct dirent *de;
	size_t n = 0, cap = 0;
	int *fds = NULL;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir) {
		if (errno == ENOENT) {
			pr_err("no process %d", pid);
			return -ESRCH;
		}
		return pr_perror("cannot list the fds of %d", pid);
	}
	while ((errno = 0, de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			int *nf = realloc(fds, (cap = cap ? cap * 2 : 64) * sizeof(*fds));

			if (!nf) {
				free(fds);
				closedir(dir);
				return -ENOMEM;
			}
			fds = nf;
		}
		fds[n++] = atoi(de->d_name);
	}
	if (errno) {
		int r = pr_perror("cannot list the fds of %d", pid);

		free(fds);
		closedir(dir);
		return r;
	}
	closedir(dir);
	qsort(fds, n, sizeof(*fds), cmp_int);
	*out = fds;
	*nr = n;
	return 0;
}

static int read_fdinfo(pid_t pid, int fd, char **out)
{
	size_t len = 0, cap = 4096;
	char path[64], *buf = malloc(cap), *nb;
	ssize_t n;
	int f;

	if (!buf)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		free(buf);
		return -errno;
	}
	/* epoll and inotify print a line per watch: grow until EOF. */
	while ((n = read(f, buf + len, cap - len - 1)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			nb = realloc(buf, cap *= 2);
			if (!nb) {
				n = -1;
				errno = ENOMEM;
				break;
			}
			buf = nb;
		}
	}
	if (n < 0) {
		int e = errno;

		close(f);
		free(buf);
		return -e;
	}
	close(f);
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Read link, stat and fdinfo. -ENOENT means the fd is gone. */
static int fd_desc_read(pid_t pid, struct fd_desc *d)
{
	char path[64];
	ssize_t n;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, d->fd);
	n = readlink(path, d->link, sizeof(d->link) - 1);
	if (n < 0)
		return errno == ENOENT ? -ENOENT : pr_perror("cannot read link %s", path);
	d->link[n] = '\0';
	if (stat(path, &d->st))
		return errno == ENOENT ? -ENOENT : pr_perror("cannot stat %s", path);
	r = read_fdinfo(pid, d->fd, &d->fdinfo);
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
	e->link = files_strdup(d->link);
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

static int fill_typed(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e)
{
	mode_t m = d->st.st_mode & S_IFMT;
	char reason[PATH_MAX + 64];

	/* By link first: anon inodes report S_IFREG (or no type) on newer kernels. */
	if (!strncmp(d->link, "anon_inode:", 11))
		return fd_anon_fill(ctx, d, e);
	if (m == S_IFSOCK || !strncmp(d->link, "socket:[", 8))
		return fd_socket_fill(ctx, d, e);
	if (m == S_IFIFO)
		return fd_pipe_fill(ctx, d, e);
	if (d->link[0] != '/') {
		/* nsfs ("net:[...]"), pidfs, bpf objects...: no path to reopen. */
		snprintf(reason, sizeof(reason), "kernel object %s", d->link);
		return fd_unsupported(ctx, d, e, reason);
	}
	if (!strncmp(d->link, "/memfd:", 7) && d->st.st_nlink == 0)
		return fd_memfd_fill(ctx, d, e);
	if (m == S_IFREG || m == S_IFDIR) {
		if (d->st.st_nlink == 0)
			pr_warn("pid %d fd %d: %s: the file is deleted and its contents are not saved",
				ctx->pid, d->fd, d->link);
		e->type = m == S_IFREG ? FD_TYPE__FD_REG : FD_TYPE__FD_DIR;
		e->file = files_identity(d);
		return e->file ? 0 : -ENOMEM;
	}
	if (m == S_IFCHR)
		return fd_chr_fill(ctx, d, e);
	snprintf(reason, sizeof(reason), "block device %s", d->link);
	return fd_unsupported(ctx, d, e, reason);
}

static int dump_one(struct files_ctx *ctx, int fd, FdEntry **out)
{
	struct fd_desc *d = calloc(1, sizeof(*d));
	FdEntry *e = malloc(sizeof(*e));
	int r = -ENOMEM;

	if (!d || !e)
		goto out;
	fd_entry__init(e);
	d->fd = fd;
	r = fd_desc_read(ctx->pid, d);
	if (r < 0)
		goto out;
	r = fill_common(d, e);
	if (!r)
		r = fill_typed(ctx, d, e);
	if (!r) {
		*out = e;
		e = NULL;
	}
out:
	if (d)
		free(d->fdinfo);
	free(d);
	img_free(e);
	return r;
}

static void ctx_free(struct files_ctx *ctx)
{
	fd_pipe_ctx_free(ctx);
	fd_socket_ctx_free(ctx);
	if (ctx->pidfd >= 0)
		close(ctx->pidfd);
}

static int dump_fds(struct files_ctx *ctx, struct img *img, const int *fds, size_t nr)
{
	bool vanished = false;
	int r = 0;

	for (size_t i = 0; i < nr && r >= 0; i++) {
		FdEntry *e = NULL;

		r = dump_one(ctx, fds[i], &e);
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
		r = img_write(img, e);
		img_free(e);
	}
	/* fds that vanish because the process died would make a quietly
	 * incomplete image: refuse instead. */
	if (!r && vanished && kill(ctx->pid, 0) && errno == ESRCH) {
		pr_err("process %d exited while its fds were dumped", ctx->pid);
		r = -ESRCH;
	}
	return r;
}

int files_dump(int dirfd, pid_t pid)
{
	struct files_ctx ctx = { .pid = pid, .pidfd = -1 };
	struct img *img;
	size_t nr = 0;
	int *fds = NULL;
	int r;

	r = list_fds(pid, &fds, &nr);
	if (r < 0)
		return r;
	ctx.pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (ctx.pidfd < 0)
		pr_debug("pidfd_open(%d): %s; tty and socket details will be guessed",
			 pid, strerror(errno));
	img = img_create(dirfd, IMG_FILES, pid);
	if (!img) {
		r = -errno;
		goto out;
	}
	r = dump_fds(&ctx, img, fds, nr);
	if (r < 0) {
		img_abort(img, dirfd);
	} else if ((r = img_close(img)) < 0) {
		char name[64];

		/* A failed flush leaves a partial image: never leave that behind. */
		if (!img_name(IMG_FILES, pid, name, sizeof(name)))
			unlinkat(dirfd, name, 0);
	}
out:
	ctx_free(&ctx);
	free(fds);
	return r;
}
