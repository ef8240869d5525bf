/* What /proc tells about a crashing process while the kernel holds it in
 * its core dump: the kernel's core has memory and registers but no paths,
 * offsets, environment, limits or cgroup. Nothing here may ptrace the
 * crasher (PTRACE_INTERRUPT on the dumping thread aborts the dump) or open
 * its files (a FIFO would block, a device could react): stat and readlink
 * through /proc/PID/fd, fdinfo for offsets, map_files for mapped files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/buildid.h"
#include "criu-lite/crash/crash.h"
#include "criu-lite/capture/capture.h"
#include "common/procfs.h"
#include "common/vma.h"
#include "images/log.h"

static char *read_text(pid_t pid, const char *name)
{
	char *buf;

	if (procfs_read(pid, name, &buf, NULL) < 0) {
		pr_warn("crash of %d: cannot read /proc/%d/%s", pid, pid, name);
		return NULL;
	}
	return buf;
}

static void read_bytes(pid_t pid, const char *name, ProtobufCBinaryData *b, protobuf_c_boolean *has)
{
	char *buf;
	size_t len;

	if (procfs_read(pid, name, &buf, &len) < 0) {
		pr_warn("crash of %d: cannot read /proc/%d/%s", pid, pid, name);
		return;
	}
	b->data = (uint8_t *)buf;
	b->len = len;
	*has = 1;
}

static char *strip_deleted(char *s)
{
	static const char del[] = " (deleted)";
	size_t n = s ? strlen(s) : 0;

	if (n >= sizeof(del) - 1 && !strcmp(s + n - (sizeof(del) - 1), del))
		s[n - (sizeof(del) - 1)] = '\0';
	return s;
}

/* ---- fds ---- */

static FdType fd_type(const struct stat *st, const char *link)
{
	if (S_ISREG(st->st_mode))
		return FD_TYPE__FD_REG;
	if (S_ISDIR(st->st_mode))
		return FD_TYPE__FD_DIR;
	if (S_ISFIFO(st->st_mode))
		return strncmp(link, "pipe:", 5) ? FD_TYPE__FD_FIFO : FD_TYPE__FD_PIPE;
	if (S_ISSOCK(st->st_mode))
		return FD_TYPE__FD_SOCKET;
	if (S_ISCHR(st->st_mode)) {
		unsigned int maj = major(st->st_rdev);

		/* ttys (4), /dev/tty (5,0), ptmx (5,2) and pts (136-143) */
		if (maj == 4 || (maj == 5 && minor(st->st_rdev) != 1) || (maj >= 136 && maj <= 143))
			return FD_TYPE__FD_TTY;
		return FD_TYPE__FD_CHR;
	}
	if (!strncmp(link, "anon_inode:[eventfd]", 20))
		return FD_TYPE__FD_EVENTFD;
	if (!strncmp(link, "anon_inode:[eventpoll]", 22))
		return FD_TYPE__FD_EPOLL;
	if (!strncmp(link, "anon_inode:[signalfd]", 21))
		return FD_TYPE__FD_SIGNALFD;
	if (!strncmp(link, "anon_inode:[timerfd]", 20))
		return FD_TYPE__FD_TIMERFD;
	if (!strncmp(link, "anon_inode:inotify", 18))
		return FD_TYPE__FD_INOTIFY;
	if (!strncmp(link, "anon_inode:[pidfd]", 18))
		return FD_TYPE__FD_PIDFD;
	return FD_TYPE__FD_UNSUPPORTED;
}

static FileIdentity *identity_of(const char *path, const struct stat *st)
{
	FileIdentity *fi = malloc(sizeof(*fi));

	if (!fi)
		return NULL;
	file_identity__init(fi);
	fi->path = strdup(path);
	if (!fi->path) {
		free(fi);
		return NULL;
	}
	fi->has_dev = fi->has_ino = fi->has_size = fi->has_mtime_ns = fi->has_mode = 1;
	fi->dev = st->st_dev;
	fi->ino = st->st_ino;
	fi->size = st->st_size;
	fi->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000ull + st->st_mtim.tv_nsec;
	fi->mode = st->st_mode;
	return fi;
}

/* fdinfo: "pos:", "flags:" (octal, with O_CLOEXEC), "mnt_id:". */
static void fill_fdinfo(pid_t pid, int fd, FdEntry *e)
{
	char name[64], *text;
	uint64_t v;

	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	if (procfs_read(pid, name, &text, NULL) < 0)
		return;
	if (!procfs_field_u64(text, "pos", 10, &v))
		e->has_pos = 1, e->pos = v;
	if (!procfs_field_u64(text, "flags", 8, &v)) {
		e->flags = (uint32_t)v & ~O_CLOEXEC;
		e->has_fd_flags = 1;
		e->fd_flags = (v & O_CLOEXEC) ? FD_CLOEXEC : 0;
	}
	if (!procfs_field_u64(text, "mnt_id", 10, &v))
		e->has_mnt_id = 1, e->mnt_id = v;
	free(text);
}

static FdEntry *read_fd(pid_t pid, int fd)
{
	char path[64], *link = NULL;
	struct stat st;
	FdEntry *e;

	snprintf(path, sizeof(path), "fd/%d", fd);
	if (procfs_readlink(pid, path, &link) < 0)
		return NULL;
	e = malloc(sizeof(*e));
	if (!e) {
		free(link);
		return NULL;
	}
	fd_entry__init(e);
	e->fd = (uint32_t)fd;
	e->link = link;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	if (stat(path, &st)) {
		e->type = fd_type(&(struct stat){ 0 }, link);
	} else {
		e->type = fd_type(&st, link);
		if (e->type == FD_TYPE__FD_REG || e->type == FD_TYPE__FD_DIR ||
		    e->type == FD_TYPE__FD_CHR || e->type == FD_TYPE__FD_TTY ||
		    e->type == FD_TYPE__FD_FIFO) {
			char *p = strdup(link);

			e->file = p ? identity_of(strip_deleted(p), &st) : NULL;
			free(p);
		}
		if (e->type == FD_TYPE__FD_TTY)
			e->has_tty_rdev = 1, e->tty_rdev = st.st_rdev;
		if (e->type == FD_TYPE__FD_PIPE || e->type == FD_TYPE__FD_FIFO) {
			e->pipe = malloc(sizeof(*e->pipe));
			if (e->pipe) {
				pipe_info__init(e->pipe);
				e->pipe->ino = st.st_ino;
			}
		}
		if (e->type == FD_TYPE__FD_SOCKET) {
			e->sock = malloc(sizeof(*e->sock));
			if (e->sock) {
				socket_info__init(e->sock);
				e->sock->ino = st.st_ino;	/* family/type unknown: 0 */
			}
		}
	}
	if (e->type == FD_TYPE__FD_UNSUPPORTED)
		e->unsupported_reason = strdup("a kind of file the crash record does not describe");
	fill_fdinfo(pid, fd, e);
	return e;
}

static int cmp_fd(const void *a, const void *b)
{
	const FdEntry *x = *(FdEntry *const *)a, *y = *(FdEntry *const *)b;

	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static void record_fds(pid_t pid, CrashEntry *ce)
{
	struct dirent *de;
	size_t cap = 0;
	DIR *d;

	d = procfs_opendir(pid, "fd", PROCFS_QUIET);
	if (!d) {
		pr_warn("crash of %d: cannot list /proc/%d/fd: %s", pid, pid, strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		FdEntry *e;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (ce->n_fds == cap) {
			FdEntry **n = realloc(ce->fds, (cap = cap ? cap * 2 : 16) * sizeof(*n));

			if (!n)
				break;
			ce->fds = n;
		}
		e = read_fd(pid, atoi(de->d_name));
		if (e)
			ce->fds[ce->n_fds++] = e;
	}
	closedir(d);
	if (ce->n_fds)
		qsort(ce->fds, ce->n_fds, sizeof(*ce->fds), cmp_fd);
}

/* ---- maps ---- */

struct file_cache {
	uint64_t dev, ino;
	FileIdentity *fi;	/* owned by the first VMA that got it */
	bool elf;
};

static bool is_shmem(const struct vma *v)
{
	if (v->kind == VMAK_SHMEM_NAMED)
		return true;
	return v->kind == VMAK_FILE && v->deleted && v->shared &&
	       (!strcmp(v->name, "/dev/zero") || !strncmp(v->name, "/SYSV", 5) ||
		!strncmp(v->name, "/memfd:", 7));
}

static uint32_t vma_status(const struct vma *v, bool elf)
{
	switch (v->kind) {
	case VMAK_VDSO: return VMA_VDSO;
	case VMAK_VVAR: return VMA_VVAR;
	case VMAK_VSYSCALL: return VMA_VSYSCALL;
	case VMAK_OTHER: return VMA_ANON;
	case VMAK_HEAP: return VMA_AREA_REGULAR | VMA_ANON | VMA_HEAP;
	case VMAK_STACK: return VMA_AREA_REGULAR | VMA_ANON | VMA_STACK;
	default: break;
	}
	if (is_shmem(v) || (v->shared && vma_is_anon(v)))
		return VMA_AREA_REGULAR | VMA_ANON_SHARED;
	if (v->kind != VMAK_FILE)
		return VMA_AREA_REGULAR | VMA_ANON;
	return VMA_AREA_REGULAR | (v->shared ? VMA_FILE_SHARED : VMA_FILE_PRIVATE) |
	       (v->deleted ? VMA_FILE_DELETED : 0) | (elf && v->pgoff == 0 ? VMA_ELF_HEADER : 0);
}

/* The mapped file, by map_files (the very inode, even unlinked): looked up
 * once per file, its build-id read once. */
static FileIdentity *mapped_file(pid_t pid, const struct vma *v, struct file_cache *fc, size_t *nfc,
				 bool *elf, bool *owned)
{
	char link[96], buf[4096];
	FileIdentity *fi = NULL;
	ssize_t n;
	int fd;

	for (size_t i = 0; i < *nfc; i++)
		if (fc[i].dev == v->dev && fc[i].ino == v->ino && fc[i].fi) {
			*elf = fc[i].elf;
			*owned = false;
			return fc[i].fi;
		}
	snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)v->start, (unsigned long long)v->end);
	n = readlink(link, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	fd = procfs_open(pid, strstr(link, "map_files"), O_RDONLY | PROCFS_QUIET);
	if (fd < 0) {
		pr_warn("crash of %d: cannot open the file mapped at %#llx (%s): %s", pid,
			(unsigned long long)v->start, v->name, strerror(-fd));
		return NULL;
	}
	*elf = buildid_is_elf(fd);
	if (fileid_from_fd(fd, n > 0 ? strip_deleted(buf) : v->name, *elf, &fi) < 0)
		fi = NULL;
	close(fd);
	if (fi && *nfc < 256)
		fc[(*nfc)++] = (struct file_cache){ v->dev, v->ino, fi, *elf };
	*owned = true;
	return fi;
}

static FileIdentity *copy_identity(const FileIdentity *src)
{
	size_t len = file_identity__get_packed_size(src);
	uint8_t *buf = malloc(len);
	FileIdentity *fi = NULL;

	if (!buf)
		return NULL;
	file_identity__pack(src, buf);
	fi = file_identity__unpack(NULL, len, buf);
	free(buf);
	return fi;
}

static VmaEntry *vma_entry(pid_t pid, const struct vma *v, struct file_cache *fc, size_t *nfc)
{
	VmaEntry *e = malloc(sizeof(*e));
	bool elf = false, owned = false;

	if (!e)
		return NULL;
	vma_entry__init(e);
	e->start = v->start;
	e->end = v->end;
	e->pgoff = v->pgoff;
	e->prot = v->prot;
	e->flags = (v->shared ? MAP_SHARED : MAP_PRIVATE) | (vma_is_anon(v) ? MAP_ANONYMOUS : 0) |
		   ((v->vmf & VMF_GROWSDOWN) ? MAP_GROWSDOWN : 0);
	e->has_dev = e->has_ino = e->has_madv = 1;
	e->dev = v->dev;
	e->ino = v->ino;
	e->madv = ((v->vmf & VMF_DONTCOPY) ? VMA_MADV_DONTFORK : 0) |
		  ((v->vmf & VMF_WIPEONFORK) ? VMA_MADV_WIPEONFORK : 0) |
		  ((v->vmf & VMF_DONTDUMP) ? VMA_MADV_DONTDUMP : 0);
	e->name = v->name[0] ? strdup(v->name) : NULL;
	e->vmflags = v->vmflags ? strdup(v->vmflags) : NULL;
	if (v->kind == VMAK_FILE && !is_shmem(v)) {
		FileIdentity *fi = mapped_file(pid, v, fc, nfc, &elf, &owned);

		/* Each message owns its sub-messages (img_free frees them). */
		e->file = fi ? (owned ? fi : copy_identity(fi)) : NULL;
	}
	e->status = vma_status(v, elf);
	return e;
}

static void record_maps(pid_t pid, CrashEntry *ce)
{
	struct file_cache *fc = calloc(256, sizeof(*fc));
	struct vma_list vl;
	size_t nfc = 0;

	if (!fc || vma_list_read(pid, true, &vl) < 0) {
		pr_warn("crash of %d: cannot read its mappings", pid);
		free(fc);
		return;
	}
	ce->maps = calloc(vl.nr ? vl.nr : 1, sizeof(*ce->maps));
	for (size_t i = 0; ce->maps && i < vl.nr; i++) {
		VmaEntry *e = vma_entry(pid, &vl.v[i], fc, &nfc);

		if (e)
			ce->maps[ce->n_maps++] = e;
	}
	vma_list_free(&vl);
	free(fc);
}

/* ---- the rest ---- */

static void record_ids(pid_t pid, CrashEntry *ce)
{
	char *status = ce->status;
	uint64_t v;

	if (!status)
		return;
	/* "Uid:\treal\teffective\tsaved\tfs" */
	if (!ce->has_uid && !procfs_field_u64(status, "Uid", 10, &v))
		ce->has_uid = 1, ce->uid = (uint32_t)v;
	if (!ce->has_gid && !procfs_field_u64(status, "Gid", 10, &v))
		ce->has_gid = 1, ce->gid = (uint32_t)v;
	(void)pid;
}

int crash_record_proc(pid_t pid, CrashEntry *ce)
{
	struct dump_proc dp = { .pid = pid };
	char *s;

	ce->status = read_text(pid, "status");
	if (!ce->status) {
		char path[32];

		snprintf(path, sizeof(path), "/proc/%d", pid);
		if (access(path, F_OK))
			return -ESRCH;
	}
	record_ids(pid, ce);
	if ((s = read_text(pid, "comm"))) {
		s[strcspn(s, "\n")] = '\0';
		ce->comm = s;
	}
	if (procfs_readlink(pid, "exe", &ce->exe) < 0)
		pr_warn("crash of %d: cannot read its executable's path", pid);
	strip_deleted(ce->exe);
	if (procfs_readlink(pid, "cwd", &ce->cwd) < 0)
		pr_warn("crash of %d: cannot read its working directory", pid);
	read_bytes(pid, "cmdline", &ce->cmdline, &ce->has_cmdline);
	read_bytes(pid, "environ", &ce->environ, &ce->has_environ);
	ce->cgroup = read_text(pid, "cgroup");
	ce->limits = read_text(pid, "limits");
	if ((s = read_text(pid, "coredump_filter"))) {
		ce->has_coredump_filter = 1;
		ce->coredump_filter = (uint32_t)strtoul(s, NULL, 16);
		free(s);
	}
	record_fds(pid, ce);
	record_maps(pid, ce);
	/* Identity, creds, rlimits, mm layout and auxv, as a dump records them:
	 * what `crash import` needs for restore. */
	if (procinfo_collect(&dp, &ce->proc) < 0) {
		pr_warn("crash of %d: its process record is incomplete (crash import will "
			"fill in from the core)", pid);
		ce->proc = NULL;
	}
	return 0;
}
