/* Probes of memory tracking and of what restore needs from the kernel:
 * pagemap bits, soft-dirty, PAGEMAP_SCAN with userfaultfd write-protect in
 * async mode, clone3 set_tid and PR_SET_MM_MAP. Each is tried on memory of
 * our own, so a "yes" means it worked here, not that a header defines it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

#include "common/kerndat.h"
#include "common/pagemap_scan.h"

/* Debian 12's headers (Linux 6.1) predate these; values from the 6.7+ uapi. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif


#define PM_PFN_MASK	((1ull << 55) - 1)
#define PM_SOFT_DIRTY	(1ull << 55)
#define PM_PRESENT	(1ull << 63)

#ifndef PR_SET_MM_MAP_SIZE
#define PR_SET_MM_MAP 14
#define PR_SET_MM_MAP_SIZE 15
#endif

struct kd_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size;
};

static int pagemap_get(int fd, const void *addr, long psz, uint64_t *e)
{
	off_t off = (uintptr_t)addr / psz * sizeof(*e);

	return pread(fd, e, sizeof(*e), off) == sizeof(*e) ? 0 : -(errno ? errno : EIO);
}

static void probe_pagemap(struct kerndat *kd, int pm, volatile char *page, long psz)
{
	uint64_t e;
	int r;

	page[0] = 1;
	r = pagemap_get(pm, (const void *)page, psz, &e);
	if (r < 0) {
		kd_set(&kd->f[KD_PAGEMAP], false, "cannot read /proc/self/pagemap: %s", strerror(-r));
		kd_set(&kd->f[KD_PAGEMAP_PFN], false, "no pagemap");
		return;
	}
	kd_set(&kd->f[KD_PAGEMAP], (e & PM_PRESENT) != 0, "%s",
	       e & PM_PRESENT ? "present, swapped, exclusive and file bits readable"
			      : "a touched page does not show as present");
	/* Since 4.2 the kernel zeroes PFNs for readers without CAP_SYS_ADMIN;
	 * dump needs only the flag bits. */
	kd_set(&kd->f[KD_PAGEMAP_PFN], (e & PM_PFN_MASK) != 0, "%s",
	       e & PM_PFN_MASK ? "PFNs visible" : "PFNs read as 0 (needs CAP_SYS_ADMIN); not needed");
}

static void probe_soft_dirty(struct kerndat *kd, int pm, volatile char *page, long psz)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	uint64_t before = 0, after = 0;
	int e;

	if (fd < 0) {
		kd_set(&kd->f[KD_SOFT_DIRTY], false, "cannot open clear_refs: %s", strerror(errno));
		return;
	}
	page[0] = 2;
	e = write(fd, "4", 1) == 1 ? 0 : errno;
	close(fd);
	if (e) {
		kd_set(&kd->f[KD_SOFT_DIRTY], false, "clear_refs 4: %s", strerror(e));
		return;
	}
	pagemap_get(pm, (const void *)page, psz, &before);
	page[0] = 3;
	pagemap_get(pm, (const void *)page, psz, &after);
	/* Without CONFIG_MEM_SOFT_DIRTY the write to clear_refs is accepted and
	 * does nothing: only the bit's behaviour tells. */
	if (!(before & PM_SOFT_DIRTY) && (after & PM_SOFT_DIRTY))
		kd_set(&kd->f[KD_SOFT_DIRTY], true, "clear_refs 4 clears bit 55, a write sets it");
	else if (!(after & PM_SOFT_DIRTY))
		kd_set(&kd->f[KD_SOFT_DIRTY], false,
		       "bit 55 stays clear after a write: kernel without CONFIG_MEM_SOFT_DIRTY");
	else
		kd_set(&kd->f[KD_SOFT_DIRTY], false, "clear_refs 4 did not clear bit 55");
}

static long pagemap_scan(int pm, void *start, void *end, uint64_t cat_mask, uint64_t ret_mask,
			 struct page_region *vec, size_t nvec)
{
	struct pm_scan_arg a = {
		.size = sizeof(a), .start = (uintptr_t)start, .end = (uintptr_t)end,
		.vec = (uintptr_t)vec, .vec_len = nvec,
		.category_mask = cat_mask, .return_mask = ret_mask,
	};
	long n = ioctl(pm, PAGEMAP_SCAN, &a);

	/* valgrind 3.19 does not know the ioctl fills n regions of vec */
	if (n > 0)
		VALGRIND_MAKE_MEM_DEFINED(vec, n * sizeof(*vec));
	return n;
}

static void probe_pagemap_scan(struct kerndat *kd, int pm, char *page, long psz)
{
	/* zeroed: valgrind does not know the ioctl fills them */
	struct page_region reg[2] = { 0 };
	long n = pagemap_scan(pm, page, page + psz, 0, PAGE_IS_PRESENT, reg, 2);

	if (n < 0)
		kd_set(&kd->f[KD_PAGEMAP_SCAN], false, "ioctl: %s%s", strerror(errno),
		       errno == ENOTTY || errno == EINVAL ? " (kernel before 6.7)" : "");
	else if (n == 1 && reg[0].start == (uintptr_t)page && (reg[0].categories & PAGE_IS_PRESENT))
		kd_set(&kd->f[KD_PAGEMAP_SCAN], true, "ioctl on /proc/self/pagemap reports page "
		       "categories");
	else
		kd_set(&kd->f[KD_PAGEMAP_SCAN], false, "ioctl answered, but not for our page");
}

static int uffd_open(uint64_t features, uint64_t *offered)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	/* user-mode-only works without CAP_SYS_PTRACE when
	 * vm.unprivileged_userfaultfd is 0; before 5.11 the flag is EINVAL */
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0 && errno == EINVAL)
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (offered)
		*offered = api.features;
	return fd;
}

/* The whole pre-dump cycle on 4 pages of ours: register for async
 * write-protect, protect, write one page, and ask PAGEMAP_SCAN which pages
 * were written: exactly that one must come back. */
static const char *uffd_wp_cycle(int uffd, int pm, char *p, long psz)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)p, 4 * psz }, .mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = { .range = { (uintptr_t)p, 4 * psz },
					  .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	struct page_region out[4] = { 0 };
	long n;

	for (int i = 0; i < 4; i++)
		((volatile char *)p)[i * psz] = 1;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return "UFFDIO_REGISTER (mode WP) failed";
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		return "UFFDIO_WRITEPROTECT failed";
	((volatile char *)p)[psz] = 2;	/* resolved by the kernel: async mode */
	n = pagemap_scan(pm, p, p + 4 * psz, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, out, 4);
	if (n < 0)
		return "PAGEMAP_SCAN for PAGE_IS_WRITTEN failed";
	if (n != 1 || out[0].start != (uintptr_t)p + psz || out[0].end != (uintptr_t)p + 2 * psz)
		return "PAGEMAP_SCAN did not report exactly the written page";
	return NULL;
}

static void probe_uffd_wp(struct kerndat *kd, int pm, long psz)
{
	struct kd_result *res = &kd->f[KD_UFFD_WP_ASYNC];
	const char *err;
	char *p;
	int fd = uffd_open(0, &kd->uffd_features);

	if (fd < 0) {
		kd_set(res, false, "userfaultfd: %s", strerror(-fd));
		return;
	}
	close(fd);
	if (!(kd->uffd_features & UFFD_FEATURE_WP_ASYNC)) {
		kd_set(res, false, "userfaultfd lacks UFFD_FEATURE_WP_ASYNC (before 6.7, or no "
		       "CONFIG_PTE_MARKER_UFFD_WP)");
		return;
	}
	if (!kd->f[KD_PAGEMAP_SCAN].ok) {
		kd_set(res, false, "WP_ASYNC offered, but no PAGEMAP_SCAN to read it back");
		return;
	}
	fd = uffd_open(UFFD_FEATURE_WP_ASYNC |
		       (kd->uffd_features & UFFD_FEATURE_WP_UNPOPULATED), NULL);
	if (fd < 0) {
		kd_set(res, false, "enabling WP_ASYNC: %s", strerror(-fd));
		return;
	}
	p = mmap(NULL, 4 * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		kd_set(res, false, "mmap: %s", strerror(errno));
		close(fd);
		return;
	}
	err = uffd_wp_cycle(fd, pm, p, psz);
	if (err)
		kd_set(res, false, "%s: %s", err, strerror(errno));
	else
		kd_set(res, true, "write-protect, write, PAGEMAP_SCAN finds exactly the written page");
	munmap(p, 4 * psz);
	close(fd);
}

/* Ask for our own pid: in use, so no process is ever created; the error
 * tells support (EEXIST) from missing privilege (EPERM, checked first by
 * the kernel) and from an old kernel (E2BIG, EINVAL, ENOSYS). */
static void probe_clone3_set_tid(struct kerndat *kd)
{
	pid_t want = getpid();
	struct kd_clone_args ca = {
		.exit_signal = SIGCHLD, .set_tid = (uintptr_t)&want, .set_tid_size = 1,
	};
	long r = syscall(SYS_clone3, &ca, sizeof(ca));
	int e = errno;

	if (r == 0)
		_exit(0);	/* cannot happen with a pid in use; never run on */
	if (r > 0) {
		waitpid(r, NULL, 0);
		kd_set(&kd->f[KD_CLONE3_SET_TID], true, "clone3 set_tid works");
	} else if (e == EEXIST) {
		kd_set(&kd->f[KD_CLONE3_SET_TID], true, "supported and permitted (a taken pid "
		       "gives EEXIST)");
	} else if (e == EPERM) {
		kd_set(&kd->f[KD_CLONE3_SET_TID], false, "needs CAP_SYS_ADMIN or "
		       "CAP_CHECKPOINT_RESTORE: restore gets new pids");
	} else {
		kd_set(&kd->f[KD_CLONE3_SET_TID], false, "%s (kernel before 5.5?): restore gets "
		       "new pids", strerror(e));
	}
}

static void probe_mm_map(struct kerndat *kd)
{
	unsigned int size = 0;

	/* PR_SET_MM_MAP itself needs no capability; replacing the exe link
	 * through it does. */
	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, (unsigned long)&size, 0, 0))
		kd_set(&kd->f[KD_PR_SET_MM_MAP], false, "%s (no CONFIG_CHECKPOINT_RESTORE?)",
		       strerror(errno));
	else
		kd_set(&kd->f[KD_PR_SET_MM_MAP], true, "struct prctl_mm_map of %u bytes; exe link "
		       "%s", size, kd->f[KD_CAP_SYS_ADMIN].ok || kd->f[KD_CAP_CHECKPOINT_RESTORE].ok ?
		       "settable" : "not settable (needs CAP_CHECKPOINT_RESTORE)");
}

static void probe_tracking(struct kerndat *kd)
{
	long psz = sysconf(_SC_PAGESIZE);
	char *page = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (page == MAP_FAILED || pm < 0) {
		kd_set(&kd->f[KD_PAGEMAP], false, "cannot set up: %s", strerror(errno));
	} else {
		probe_pagemap(kd, pm, page, psz);
		probe_soft_dirty(kd, pm, page, psz);
		probe_pagemap_scan(kd, pm, page, psz);
		probe_uffd_wp(kd, pm, psz);
	}
	if (pm >= 0)
		close(pm);
	if (page != MAP_FAILED)
		munmap(page, psz);
	if (kd->f[KD_SOFT_DIRTY].ok)
		kd->track_mem = KD_TRACK_SOFT_DIRTY;
	else if (kd->f[KD_PAGEMAP_SCAN].ok && kd->f[KD_UFFD_WP_ASYNC].ok)
		kd->track_mem = KD_TRACK_PAGEMAP_SCAN;
	else
		kd->track_mem = KD_TRACK_HASHES;
}

void kerndat_probe_mm(struct kerndat *kd)
{
	probe_tracking(kd);
	probe_clone3_set_tid(kd);
	probe_mm_map(kd);
}

enum kd_track_mem kerndat_track_mem(void)
{
	static int cached = -1;
	struct kerndat kd;

	if (cached < 0) {
		memset(&kd, 0, sizeof(kd));
		probe_tracking(&kd);
		cached = kd.track_mem;
	}
	return cached;
}
