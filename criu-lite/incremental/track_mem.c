/* Memory-write tracking for pre-dump and incremental dumps: see track_mem.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "common/fault.h"
#include "common/infect.h"
#include "common/pagemap_scan.h"
#include "common/procfs.h"
#include "criu-lite/freeze/seize.h"
#include "criu-lite/survive/guardian.h"
#include "criu-lite/incremental/track_mem.h"
#include "images/log.h"

/* Debian 12's headers (Linux 6.1) predate these (6.7 uapi). */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

enum kd_track_mem track_method(void)
{
	const char *e = getenv("CRIU_LITE_TRACK_MEM");

	for (int m = KD_TRACK_SOFT_DIRTY; e && *e && m <= KD_TRACK_HASHES; m++)
		if (!strcmp(e, kerndat_track_mem_name(m)) ||
		    (m == KD_TRACK_PAGEMAP_SCAN && !strcmp(e, "pagemap-scan")) ||
		    (m == KD_TRACK_HASHES && !strcmp(e, "hashes")))
			return m;
	return kerndat_track_mem();
}

static enum kd_track_mem method_of(const char *name)
{
	for (int m = KD_TRACK_SOFT_DIRTY; name && m <= KD_TRACK_HASHES; m++)
		if (!strcmp(name, kerndat_track_mem_name(m)))
			return m;
	return KD_TRACK_HASHES;	/* unknown or none: comparing is always right */
}

/* prev as the new dump's directory (dirfd) sees it, as a path. */
static char *parent_path(int dirfd, const char *prev)
{
	char link[64], dir[4096], *s;
	ssize_t n;

	if (prev[0] == '/')
		return strdup(prev);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = readlink(link, dir, sizeof(dir) - 1);
	if (n <= 0)
		return NULL;
	dir[n] = '\0';
	return asprintf(&s, "%s/%s", dir, prev) < 0 ? NULL : s;
}

int track_parent_open(int dirfd, const char *prev, pid_t root, struct track_parent *tp)
{
	const InventoryEntry *inv;
	char *path = parent_path(dirfd, prev);
	int r;

	memset(tp, 0, sizeof(*tp));
	tp->d.dirfd = -1;
	tp->path = prev;
	if (!path)
		return pr_perror("cannot find the previous images %s", prev);
	r = dr_open(path, DR_PREDUMP_OK | DR_NO_PAGES_SUM, &tp->d);
	free(path);
	if (r < 0)
		return r;
	inv = tp->d.inv;
	if (inv->root_pid != (uint32_t)root) {
		pr_err("%s is a dump of process %u, not of %d", prev, inv->root_pid, root);
		return -EINVAL;
	}
	if (inv->page_size != (uint32_t)sysconf(_SC_PAGESIZE)) {
		pr_err("%s has pages of %u bytes", prev, inv->page_size);
		return -EINVAL;
	}
	tp->method = method_of(inv->track_mem);
	pr_info("incremental against %s (tracked by %s)", prev, kerndat_track_mem_name(tp->method));
	return 0;
}

void track_parent_close(struct track_parent *tp)
{
	dr_close(&tp->d);
	memset(tp, 0, sizeof(*tp));
	tp->d.dirfd = -1;
}

/* fd of pid is a userfaultfd with async write-protect: the one a pre-dump
 * left, as far as anyone can tell. */
static bool uffd_in_place(pid_t pid, int fd)
{
	char path[64], link[64], line[128];
	bool ok = false;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	if (strcmp(link, "anon_inode:[userfaultfd]"))
		return false;
	snprintf(path, sizeof(path), "fdinfo/%d", fd);
	f = procfs_fopen(pid, path, PROCFS_QUIET);
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long api, features;

		if (sscanf(line, "API:\t%llx:%llx", &api, &features) == 2)
			ok = features & UFFD_FEATURE_WP_ASYNC;
	}
	if (f)
		fclose(f);
	return ok;
}

int track_prepare(struct track_parent *tp, pid_t pid, struct page_src *below,
		  struct parent_src *ps, int *tracker)
{
	ssize_t idx = dr_find(&tp->d, (uint32_t)pid);
	const PstreeEntry *pe = idx >= 0 ? tp->d.ps[idx] : NULL;
	bool gone;
	int r;

	*ps = PARENT_SRC_NULL;
	*tracker = -1;
	if (!pe) {
		pr_info("process %d is not in %s: dumped in full", pid, tp->path);
		return 0;
	}
	gone = tp->method == KD_TRACK_PAGEMAP_SCAN &&
	       (!pe->has_track_fd || !uffd_in_place(pid, pe->track_fd));
	r = parent_src_open(ps, tp->d.dirfd, tp->d.dir, pid, gone ? KD_TRACK_HASHES : tp->method, below);
	if (r < 0)
		return r;
	if (gone)
		pr_warn("process %d: the write tracker %s left is gone (fd closed or exec): "
			"comparing every page with it instead", pid, tp->path);
	else if (tp->method == KD_TRACK_PAGEMAP_SCAN)
		*tracker = pe->track_fd;
	return 1;
}

int track_mem_dump(struct track_parent *tp, int dirfd, pid_t pid, bool rearm,
		   const struct vma_list *pre, struct dump_stats *st,
		   int *tracker)
{
	struct live_src live;
	struct parent_src parent;
	struct vma_list vl = { 0 };
	int r = mem_read_vmas_frozen(pid, pre, &vl), has;

	if (r < 0)
		return r;
	live_src_init(&live, pid, false);
	r = has = track_prepare(tp, pid, &live.s, &parent, tracker);
	if (r >= 0)
		r = mem_dump_src(dirfd, pid, &vl, has ? &parent.s : &live.s, st);
	parent_src_close(&parent);
	live_src_fini(&live);
	/* Scanned: protect again what was written, for the next dump. */
	if (!r && rearm && *tracker >= 0)
		r = track_protect(pid, &vl);
	else if (!r && rearm && has && tp->method == KD_TRACK_SOFT_DIRTY)
		r = track_arm(pid, KD_TRACK_SOFT_DIRTY, &vl, tracker);
	vma_list_free(&vl);
	return r;
}

/* Each private VMA is registered and protected on its own: a kind the
 * kernel refuses stays unregistered, and its pages then read as written,
 * so the next dump stores them. */
static bool trackable(const struct vma *v)
{
	return !v->shared && v->kind != VMAK_VVAR && v->kind != VMAK_VSYSCALL &&
	       v->kind != VMAK_VDSO && !(v->vmf & (VMF_IO | VMF_PFNMAP));
}


/* Write-protect every populated page of pid's registered VMAs that is not
 * protected yet, from outside (PAGEMAP_SCAN with PM_SCAN_WP_MATCHING): the
 * process need not run. Holes are left alone: the kernel counts them as
 * "written" and would put a marker PTE in each (page tables for every hole
 * of a sparse mapping), and a hole written later reads as written anyway.
 * VMAs not registered are skipped by the kernel. */
int track_protect(pid_t pid, const struct vma_list *vl)
{
	static struct page_region vec[1024];
	int fd, r = 0;

	fd = procfs_open(pid, "pagemap", O_RDONLY);
	if (fd < 0)
		return fd;
	for (size_t i = 0; i < vl->nr && !r; i++) {
		struct pm_scan_arg a = {
			.size = sizeof(a), .flags = PM_SCAN_WP_MATCHING, .start = vl->v[i].start,
			.end = vl->v[i].end, .vec = (uintptr_t)vec, .vec_len = 1024,
			.category_mask = PAGE_IS_WRITTEN,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_WRITTEN,
		};

		if (!trackable(&vl->v[i]))
			continue;
		for (;;) {
			long n = ioctl(fd, PAGEMAP_SCAN, &a);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = pr_perror("cannot write-protect %#llx-%#llx of %d",
					      (unsigned long long)vl->v[i].start,
					      (unsigned long long)vl->v[i].end, pid);
				break;
			}
			/* The vector filled up: go on from where it stopped. */
			if (a.walk_end >= a.end || a.walk_end <= a.start)
				break;
			a.start = a.walk_end;
		}
	}
	close(fd);
	return r;
}

/* Journalled with the guardian until criu-lite is done: a tracker whose
 * pre-dump never completed is closed if criu-lite dies. */
static int make_uffd(struct infect *inf, pid_t pid, uint64_t *fd)
{
	int note = guardian_note_fd(pid, -1);
	int r = infect_syscall(inf, __NR_userfaultfd, fd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY,
			       0, 0, 0, 0, 0);

	if (!r && (int64_t)*fd == -EINVAL)	/* before 5.11: no user-mode-only flag */
		r = infect_syscall(inf, __NR_userfaultfd, fd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0);
	if (!r && (int64_t)*fd >= 0)
		guardian_renote_fd(note, pid, (int)*fd);
	if (!r && (int64_t)*fd < 0) {
		pr_err("userfaultfd() inside %d failed: %s", pid, strerror((int)-(int64_t)*fd));
		r = (int)(int64_t)*fd;
	}
	return r;
}

/* API then REGISTER of each trackable VMA: the calls and their structs,
 * staged in scratch at `base` (api, registers, then the call table). */
static int uffd_register(struct infect *inf, const struct vma_list *vl, int fd, int *nr_ok)
{
	size_t nreg = 0, structs = 32 + vl->nr * sizeof(struct uffdio_register);
	struct infect_call *c = calloc(1 + vl->nr, sizeof(*c));
	uint8_t *blob = calloc(1, structs);
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };
	uint64_t base = inf->scratch;
	int r, n = 0;

	if (!c || !blob) {
		free(c);
		free(blob);
		return -ENOMEM;
	}
	memcpy(blob, &api, sizeof(api));
	c[n++] = (struct infect_call){ .nr = __NR_ioctl, .args = { fd, UFFDIO_API, base } };
	for (size_t i = 0; i < vl->nr; i++) {
		struct uffdio_register reg = { .range = { vl->v[i].start, vl->v[i].end - vl->v[i].start },
					       .mode = UFFDIO_REGISTER_MODE_WP };
		size_t off = 32 + nreg * sizeof(reg);

		if (!trackable(&vl->v[i]))
			continue;
		memcpy(blob + off, &reg, sizeof(reg));
		c[n++] = (struct infect_call){ .nr = __NR_ioctl,
					       .args = { fd, UFFDIO_REGISTER, base + off } };
		nreg++;
	}
	r = infect_write(inf, base, blob, structs);
	if (!r)
		r = infect_batch(inf, base + structs, c, n);
	if (!r && (int64_t)c[0].ret) {
		pr_err("UFFDIO_API with async write-protect inside %d failed: %s", inf->tid,
		       strerror((int)-(int64_t)c[0].ret));
		r = -ENOTSUP;
	}
	*nr_ok = 0;
	for (int i = 1; !r && i < n; i++)
		*nr_ok += !c[i].ret;
	free(c);
	free(blob);
	return r;
}

/* Inside pid: a userfaultfd, its API and the registrations (one batch, a
 * single stop however many VMAs); then the protection, from outside. */
static int uffd_arm(pid_t pid, const struct vma_list *vl, int *fd_out)
{
	size_t len = (32 + vl->nr * (sizeof(struct uffdio_register) + sizeof(struct infect_call)) +
		      sizeof(struct infect_call) + 4095) & ~4095ul;
	struct infect inf = { .mem_fd = -1 };
	uint64_t fd = 0;
	int r, ok = 0;

	r = infect_start(&inf, pid);
	if (!r)
		r = infect_map_scratch(&inf, len);
	if (!r)
		r = infect_map_code(&inf);
	if (!r)
		r = make_uffd(&inf, pid, &fd);
	if (!r)
		r = uffd_register(&inf, vl, (int)fd, &ok);
	if (r && (int64_t)fd > 0 && inf.started) {
		uint64_t ignored;

		infect_syscall(&inf, __NR_close, &ignored, fd, 0, 0, 0, 0, 0);
	}
	if (inf.started && infect_stop(&inf) && !r)
		r = -EIO;
	/* A failure from here leaves the fd in the process: the guardian
	 * closes it (criu-lite only knows fds it returned). */
	if (!r)
		r = fault_step("track: userfaultfd in place, protecting");
	if (!r)
		r = track_protect(pid, vl);
	if (r)
		return r;
	pr_info("process %d: writes tracked by userfaultfd %d (%d VMAs registered)", pid, (int)fd,
		ok);
	*fd_out = (int)fd;
	return 0;
}

static int soft_dirty_arm(pid_t pid)
{
	int fd = procfs_open(pid, "clear_refs", O_WRONLY), r = 0;

	if (fd < 0)
		return fd;
	if (write(fd, "4", 1) != 1)
		r = pr_perror("cannot clear the soft-dirty bits of %d", pid);
	close(fd);
	return r;
}

int track_arm(pid_t pid, enum kd_track_mem method, const struct vma_list *vl, int *fd)
{
	struct vma_list own = { 0 };
	int r;

	*fd = -1;
	if (method == KD_TRACK_SOFT_DIRTY)
		return soft_dirty_arm(pid);
	if (method != KD_TRACK_PAGEMAP_SCAN)
		return 0;	/* page contents are compared: nothing to arm */
	if (!vl) {
		r = vma_list_read(pid, false, &own);
		if (r < 0)
			return r;
		vl = &own;
	}
	r = uffd_arm(pid, vl, fd);
	vma_list_free(&own);
	return r;
}

static int close_in(pid_t pid, int fd)
{
	struct infect inf;
	uint64_t ret = 0;
	int r = infect_start(&inf, pid);

	if (!r)
		r = infect_syscall(&inf, __NR_close, &ret, (uint64_t)fd, 0, 0, 0, 0, 0);
	if (infect_stop(&inf) && !r)
		r = -EIO;
	return r ? r : (int)(int64_t)ret;
}

/* files-PID.img without the tracker's fd: it is ours, not the process's,
 * and restore has nothing to do with it. */
int track_forget_fd(int dirfd, pid_t pid, int fd)
{
	struct img *img = img_open(dirfd, IMG_FILES, pid, false);
	FdEntry **e = NULL;
	size_t nr = 0;
	void *m;
	int r;

	if (!img)
		return errno == ENOENT ? 0 : -errno;
	while ((r = img_read(img, NULL, &m)) > 0) {
		FdEntry **n = realloc(e, (nr + 1) * sizeof(*n));

		if (!n) {
			img_free(m);
			r = -ENOMEM;
			break;
		}
		e = n;
		e[nr++] = m;
	}
	img_close_read(img);
	if (r >= 0) {
		img = img_create(dirfd, IMG_FILES, pid);
		r = img ? 0 : -errno;
		for (size_t i = 0; !r && i < nr; i++)
			if ((int)e[i]->fd != fd)
				r = img_write(img, e[i]);
		if (img && r)
			img_abort(img, dirfd);
		else if (img)
			r = img_close(img);
	}
	for (size_t i = 0; i < nr; i++)
		img_free(e[i]);
	free(e);
	return r;
}

void track_disarm_running(pid_t pid, int fd)
{
	if (fd < 0 || infect_seize(pid))
		return;
	if (!ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) && !seize_wait_stop(pid) &&
	    uffd_in_place(pid, fd) && close_in(pid, fd))
		pr_warn("process %d: cannot close the write tracker (fd %d)", pid, fd);
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
}
