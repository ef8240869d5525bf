/* Memory-write tracking for pre-dump and incremental dumps: see track_mem.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "criu-lite/infect.h"
#include "criu-lite/track_mem.h"
#include "images/log.h"

/* Debian 12's headers (Linux 6.1) predate these (6.7 uapi). */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
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

static int read_pstree(struct track_parent *tp)
{
	struct img *img = img_open(tp->dirfd, IMG_PSTREE, 0, true);
	void *e;
	int r;

	if (!img)
		return -errno;
	while ((r = img_read(img, NULL, &e)) > 0) {
		PstreeEntry **n = realloc(tp->ps, (tp->nr_ps + 1) * sizeof(*n));

		if (!n) {
			img_free(e);
			r = -ENOMEM;
			break;
		}
		tp->ps = n;
		tp->ps[tp->nr_ps++] = e;
	}
	img_close_read(img);
	return r;
}

int track_parent_open(int dirfd, const char *prev, pid_t root, struct track_parent *tp)
{
	int r;

	memset(tp, 0, sizeof(*tp));
	tp->path = prev;
	tp->dirfd = openat(dirfd, prev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tp->dirfd < 0)
		return pr_perror("cannot open the previous images %s (relative to the images "
				 "directory)", prev);
	r = img_read_one(tp->dirfd, IMG_INVENTORY, 0, false, (void **)&tp->inv);
	if (r < 0) {
		pr_err("%s is not a complete dump (no inventory.img)", prev);
		return r == -ENOENT ? -EINVAL : r;
	}
	if (tp->inv->root_pid != (uint32_t)root) {
		pr_err("%s is a dump of process %u, not of %d", prev, tp->inv->root_pid, root);
		return -EINVAL;
	}
	if (tp->inv->page_size != (uint32_t)sysconf(_SC_PAGESIZE)) {
		pr_err("%s has pages of %u bytes", prev, tp->inv->page_size);
		return -EINVAL;
	}
	tp->method = method_of(tp->inv->track_mem);
	r = read_pstree(tp);
	if (r < 0)
		return r;
	pr_info("incremental against %s (tracked by %s)", prev, kerndat_track_mem_name(tp->method));
	return 0;
}

void track_parent_close(struct track_parent *tp)
{
	for (size_t i = 0; i < tp->nr_ps; i++)
		img_free(tp->ps[i]);
	free(tp->ps);
	img_free(tp->inv);
	if (tp->dirfd > 0)
		close(tp->dirfd);
	memset(tp, 0, sizeof(*tp));
	tp->dirfd = -1;
}

static const PstreeEntry *parent_entry(const struct track_parent *tp, pid_t pid)
{
	for (size_t i = 0; i < tp->nr_ps; i++)
		if (tp->ps[i]->pid == (uint32_t)pid)
			return tp->ps[i];
	return NULL;
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
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long api, features;

		if (sscanf(line, "API:\t%llx:%llx", &api, &features) == 2)
			ok = features & UFFD_FEATURE_WP_ASYNC;
	}
	if (f)
		fclose(f);
	return ok;
}

int track_prepare(struct track_parent *tp, pid_t pid, struct pmr *pm, struct mem_extra *x)
{
	const PstreeEntry *pe = parent_entry(tp, pid);
	int r;

	x->parent = NULL;
	x->track = tp->method;
	if (!pe) {
		pr_info("process %d is not in %s: dumped in full", pid, tp->path);
		return 0;
	}
	r = pmr_open(tp->dirfd, pid, pm);
	if (r < 0)
		return r;
	x->parent = pm;
	if (tp->method == KD_TRACK_PAGEMAP_SCAN &&
	    (!pe->has_track_fd || !uffd_in_place(pid, pe->track_fd))) {
		pr_warn("process %d: the write tracker %s left is gone (fd closed or exec): "
			"comparing every page with it instead", pid, tp->path);
		x->track = KD_TRACK_HASHES;
	}
	return 0;
}

int track_mem_dump(struct track_parent *tp, int dirfd, pid_t pid, const struct dump_opts *opts,
		   struct dump_stats *st)
{
	struct mem_extra x = { .frozen_fd = -1 };
	struct pmr pm = { .pages_fd = -1 };
	struct vma_list vl;
	int r = mem_read_vmas(pid, &vl);

	if (r < 0)
		return r;
	r = track_prepare(tp, pid, &pm, &x);
	if (!r)
		r = mem_dump_ex(dirfd, pid, pid, &vl, &x, opts, st);
	pmr_close(&pm);
	vma_list_free(&vl);
	/* After the scan: closing the userfaultfd clears the protection. */
	return r ? r : track_disarm(tp, pid);
}

/* Each private VMA is registered and protected on its own: a kind the
 * kernel refuses stays unregistered, and its pages then read as written,
 * so the next dump stores them. */
static bool trackable(const struct vma *v)
{
	return !v->shared && v->kind != VMAK_VVAR && v->kind != VMAK_VSYSCALL &&
	       v->kind != VMAK_VDSO && !(v->vmf & (VMF_IO | VMF_PFNMAP));
}

/* The populated runs of pid's trackable VMAs. Only they are protected:
 * protecting a hole makes the kernel put a marker PTE there (page tables
 * for every hole of a sparse mapping), and a hole written later shows as
 * written anyway. */
struct runs {
	struct uffdio_range *r;
	size_t nr, cap;
	bool split;	/* a new VMA: runs never span two (each is protected alone) */
};

static int runs_add(struct runs *rs, uint64_t start, uint64_t end)
{
	bool join = !rs->split && rs->nr && rs->r[rs->nr - 1].start + rs->r[rs->nr - 1].len == start;

	rs->split = false;
	if (join) {
		rs->r[rs->nr - 1].len += end - start;
		return 0;
	}
	if (rs->nr == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 256;
		struct uffdio_range *n = realloc(rs->r, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rs->r = n;
		rs->cap = nc;
	}
	rs->r[rs->nr++] = (struct uffdio_range){ start, end - start };
	return 0;
}

#define PM_PRESENT	(1ull << 63)
#define PM_SWAP		(1ull << 62)
#define PM_CHUNK	4096

static int populated_runs(pid_t pid, const struct vma_list *vl, struct runs *rs)
{
	static uint64_t pm[PM_CHUNK];
	char path[64];
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("cannot open %s", path);
	for (size_t i = 0; i < vl->nr && !r; i++) {
		const struct vma *v = &vl->v[i];

		if (!trackable(v))
			continue;
		rs->split = true;
		for (uint64_t a = v->start; a < v->end && !r;) {
			uint64_t n = (v->end - a) / 4096;
			ssize_t got;

			n = n < PM_CHUNK ? n : PM_CHUNK;
			got = pread(fd, pm, n * 8, a / 4096 * 8);
			if (got <= 0) {
				r = got < 0 ? pr_perror("cannot read %s", path) : -ESRCH;
				break;
			}
			for (ssize_t k = 0; k < got / 8 && !r; k++)
				if (pm[k] & (PM_PRESENT | PM_SWAP))
					r = runs_add(rs, a + k * 4096, a + (k + 1) * 4096);
			a += (uint64_t)got / 8 * 4096;
		}
	}
	close(fd);
	return r;
}

struct uffd_layout {
	uint64_t api, reg, wp, table;	/* scratch addresses */
	size_t len;
	int nr_reg, nr_wp;
};

/* API, then REGISTER of every trackable VMA, then WRITEPROTECT of every
 * populated run: the structs in *blob (copied to lo->api), the calls. */
static struct infect_call *uffd_calls(const struct vma_list *vl, const struct runs *rs, int fd,
				      struct uffd_layout *lo, uint8_t **blob)
{
	struct infect_call *c = calloc(1 + vl->nr + rs->nr, sizeof(*c));
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };
	int k = 0;

	*blob = calloc(1, lo->table - lo->api);
	if (!c || !*blob) {
		free(c);
		free(*blob);
		return NULL;
	}
	memcpy(*blob, &api, sizeof(api));
	c[k++] = (struct infect_call){ .nr = __NR_ioctl, .args = { fd, UFFDIO_API, lo->api } };
	for (size_t i = 0; i < vl->nr; i++) {
		const struct vma *v = &vl->v[i];
		struct uffdio_register reg = { .range = { v->start, v->end - v->start },
					       .mode = UFFDIO_REGISTER_MODE_WP };
		uint64_t ra = lo->reg + lo->nr_reg * sizeof(reg);

		if (!trackable(v))
			continue;
		memcpy(*blob + (ra - lo->api), &reg, sizeof(reg));
		c[k++] = (struct infect_call){ .nr = __NR_ioctl, .args = { fd, UFFDIO_REGISTER, ra } };
		lo->nr_reg++;
	}
	for (size_t i = 0; i < rs->nr; i++) {
		struct uffdio_writeprotect wp = { .range = rs->r[i], .mode = UFFDIO_WRITEPROTECT_MODE_WP };
		uint64_t wa = lo->wp + i * sizeof(wp);

		memcpy(*blob + (wa - lo->api), &wp, sizeof(wp));
		c[k++] = (struct infect_call){ .nr = __NR_ioctl,
					       .args = { fd, UFFDIO_WRITEPROTECT, wa } };
	}
	lo->nr_wp = rs->nr;
	return c;
}

static int make_uffd(struct infect *inf, pid_t pid, uint64_t *fd)
{
	int r = infect_syscall(inf, __NR_userfaultfd, fd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY,
			       0, 0, 0, 0, 0);

	if (!r && (int64_t)*fd == -EINVAL)	/* before 5.11: no user-mode-only flag */
		r = infect_syscall(inf, __NR_userfaultfd, fd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0);
	if (!r && (int64_t)*fd < 0) {
		pr_err("userfaultfd() inside %d failed: %s", pid, strerror((int)-(int64_t)*fd));
		r = (int)(int64_t)*fd;
	}
	return r;
}

/* Inside pid: userfaultfd, then one batch of API + REGISTERs + WRITEPROTECTs
 * (a single stop of the leader however many VMAs and runs there are). */
static int uffd_arm(pid_t pid, const struct vma_list *vl, int *fd_out)
{
	struct uffd_layout lo = { 0 };
	struct infect_call *calls = NULL;
	struct runs rs = { 0 };
	struct infect inf = { .mem_fd = -1 };
	uint8_t *blob = NULL;
	uint64_t fd = 0;
	int r, ok = 0, n = 0;

	r = populated_runs(pid, vl, &rs);
	lo.len = (32 + vl->nr * sizeof(struct uffdio_register) +
		  rs.nr * sizeof(struct uffdio_writeprotect) +
		  (1 + vl->nr + rs.nr) * sizeof(*calls) + 4095) & ~4095ul;
	if (!r)
		r = infect_start(&inf, pid);
	if (!r)
		r = infect_map_scratch(&inf, lo.len);
	if (!r)
		r = infect_map_code(&inf);
	if (!r)
		r = make_uffd(&inf, pid, &fd);
	if (!r) {
		lo.api = inf.scratch;
		lo.reg = lo.api + 32;
		lo.wp = lo.reg + vl->nr * sizeof(struct uffdio_register);
		lo.table = lo.wp + rs.nr * sizeof(struct uffdio_writeprotect);
		calls = uffd_calls(vl, &rs, (int)fd, &lo, &blob);
		r = calls ? infect_write(&inf, lo.api, blob, lo.table - lo.api) : -ENOMEM;
	}
	n = 1 + lo.nr_reg + lo.nr_wp;
	if (!r)
		r = infect_batch(&inf, lo.table, calls, n);
	if (!r && (int64_t)calls[0].ret) {
		pr_err("UFFDIO_API with async write-protect inside %d failed: %s", pid,
		       strerror((int)-(int64_t)calls[0].ret));
		r = -ENOTSUP;
	}
	for (int i = 1; !r && i < n; i++)
		ok += !calls[i].ret;
	if (r && (int64_t)fd > 0 && inf.started) {
		uint64_t ignored;

		infect_syscall(&inf, __NR_close, &ignored, fd, 0, 0, 0, 0, 0);
	}
	if (inf.started && infect_stop(&inf) && !r)
		r = -EIO;
	free(calls);
	free(blob);
	free(rs.r);
	if (r)
		return r;
	pr_info("process %d: writes tracked by userfaultfd %d (%d VMAs, %d runs; %d of %d calls ok)",
		pid, (int)fd, lo.nr_reg, lo.nr_wp, ok, n - 1);
	*fd_out = (int)fd;
	return 0;
}

static int soft_dirty_arm(pid_t pid)
{
	char path[64];
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "4", 1) != 1)
		r = pr_perror("cannot clear the soft-dirty bits of %d", pid);
	if (fd >= 0)
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

int track_disarm(struct track_parent *tp, pid_t pid)
{
	const PstreeEntry *pe = parent_entry(tp, pid);
	int r;

	if (tp->method != KD_TRACK_PAGEMAP_SCAN || !pe || !pe->has_track_fd ||
	    !uffd_in_place(pid, pe->track_fd))
		return 0;
	r = close_in(pid, pe->track_fd);
	if (r)
		pr_warn("process %d: cannot close the write tracker (fd %d): %s", pid, pe->track_fd,
			strerror(-r));
	return 0;
}

void track_disarm_running(pid_t pid, int fd)
{
	int st = 0;

	if (fd < 0 || ptrace(PTRACE_SEIZE, pid, NULL, NULL))
		return;
	if (!ptrace(PTRACE_INTERRUPT, pid, NULL, NULL)) {
		/* Signals met on the way are passed on; then it stops for us. */
		while (waitpid(pid, &st, __WALL) == pid && WIFSTOPPED(st) &&
		       st >> 16 != PTRACE_EVENT_STOP)
			if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st)) ||
			    ptrace(PTRACE_INTERRUPT, pid, NULL, NULL))
				break;
		if (WIFSTOPPED(st) && st >> 16 == PTRACE_EVENT_STOP && uffd_in_place(pid, fd))
			close_in(pid, fd);
	}
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
}
