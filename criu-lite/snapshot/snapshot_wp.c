/* --snapshot wp: see snapshot_wp.h for what is taken when. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include <valgrind/memcheck.h>

#include "common/fault.h"
#include "common/infect.h"
#include "common/pagemap_scan.h"
#include "common/procfs.h"
#include "criu-lite/snapshot/snapshot_wp.h"
#include "criu-lite/survive/guardian.h"
#include "images/clock.h"
#include "images/log.h"

#define SCAN_VEC 512
/* Protecting walks every page-table entry under the process's mmap lock:
 * 4 GiB at once held it 170-400 ms; a chunk this size holds it a
 * millisecond or two. */
#define WALK_CHUNK (32ull << 20)

/* Synchronous write-protection works on anonymous private memory. Shared
 * memory is written through other page tables too; it is copied frozen. */
static bool protectable(const struct vma *v)
{
	return !v->shared && !v->ino &&
	       (v->kind == VMAK_NONE || v->kind == VMAK_HEAP || v->kind == VMAK_STACK ||
		v->kind == VMAK_ANON_NAMED) &&
	       !(v->vmf & (VMF_IO | VMF_PFNMAP | VMF_HUGETLB | VMF_UFFD_ANY));
}

static void wp_init(struct wp_proc *w, pid_t pid)
{
	memset(w, 0, sizeof(*w));
	w->s.pid = pid;
	w->s.frozen_fd = -1;
	w->uffd = w->stop_fd = w->mem_fd = -1;
	pthread_mutex_init(&w->mu, NULL);
}

/* The processes whose memory our userfaultfds write-protect: infect
 * lifts the protection of a thread's stack there before it writes the
 * thread's frame (infect_set_unprotect). Only while armed, not saving:
 * injections come before the snapshot is taken. */
static struct wp_proc *armed[64];

static int unprotect_for_infect(pid_t tid, uint64_t addr, uint64_t len)
{
	uint64_t a = addr & ~4095ull, end = (addr + len + 4095) & ~4095ull;
	char path[64];
	int r = -ENOENT;

	for (size_t i = 0; i < sizeof(armed) / sizeof(*armed) && r == -ENOENT; i++) {
		struct wp_proc *w = armed[i];
		struct uffdio_writeprotect wp = { .range = { a, end - a }, .mode = 0 };

		snprintf(path, sizeof(path), "/proc/%d/task/%d", w ? w->s.pid : 0, tid);
		if (!w || access(path, F_OK))
			continue;
		pthread_mutex_lock(&w->mu);
		r = w->phase != WPP_ARMED ? -EBUSY : ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
		pthread_mutex_unlock(&w->mu);
	}
	return r;
}

static void set_armed(struct wp_proc *w, bool on)
{
	for (size_t i = 0; i < sizeof(armed) / sizeof(*armed); i++)
		if (on ? !armed[i] : armed[i] == w) {
			armed[i] = on ? w : NULL;
			break;
		}
	infect_set_unprotect(unprotect_for_infect);
}

/* A userfaultfd created inside the process (it belongs to that mm), taken
 * out with pidfd_getfd and closed there again: the process's fd table ends
 * as it was. Without UFFD_USER_MODE_ONLY, so that the kernel's own writes
 * into the process (read(2) into a buffer) wait for the handler too; that
 * needs a privileged target. */
static int inject_uffd(struct wp_proc *w, pid_t tid)
{
	struct infect inf;
	uint64_t fd = (uint64_t)-1, ignored = 1;
	int r = infect_start(&inf, tid), pidfd, note = 0;

	if (!r)
		note = guardian_note_fd(w->s.pid, -1);
	if (!r)
		r = infect_syscall(&inf, __NR_userfaultfd, &fd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0);
	if (!r && (int64_t)fd >= 0)
		note = guardian_renote_fd(note, w->s.pid, (int)fd);
	if (!r && (int64_t)fd < 0) {
		pr_err("--snapshot wp: userfaultfd() inside %d failed: %s%s", w->s.pid,
		       strerror((int)-(int64_t)fd),
		       (int64_t)fd == -EPERM ? " (an unprivileged process may not: use --snapshot fork)"
					     : "");
		r = (int)(int64_t)fd;
	}
	if (!r) {
		pidfd = (int)syscall(SYS_pidfd_open, w->s.pid, 0);
		w->uffd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
		if (w->uffd >= 0)
			set_armed(w, true);
		if (w->uffd < 0)
			r = pr_perror("cannot take the userfaultfd out of %d", w->s.pid);
		if (pidfd >= 0)
			close(pidfd);
	}
	/* Not closed there: the dump fails (the guardian closes it). */
	if ((int64_t)fd >= 0 && inf.started) {
		int rc = infect_syscall(&inf, __NR_close, &ignored, fd, 0, 0, 0, 0, 0);

		r = r ? r : rc;
	}
	if (!ignored || (int64_t)fd < 0)
		guardian_clear(note);
	if (inf.started && infect_stop(&inf) && !r)
		r = -EIO;
	return r;
}

/* API, registration of every protectable VMA, the handler, then the
 * protection itself: the long part, done while the process runs (when
 * armed before the freeze). A VMA the kernel refuses is copied frozen. */
static int register_all(struct wp_proc *w)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |
					      UFFD_FEATURE_EVENT_UNMAP };
	struct vma_list vl;
	uint64_t t0 = mono_ns(), bytes = 0;
	int r;

	if (ioctl(w->uffd, UFFDIO_API, &api))
		return pr_perror("--snapshot wp: UFFDIO_API with events failed");
	r = vma_list_read(w->s.pid, false, &vl);
	if (r < 0)
		return r;
	w->reg = calloc(vl.nr + 1, sizeof(*w->reg));
	if (!w->reg)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < vl.nr; i++) {
		struct uffdio_register reg = { .range = { vl.v[i].start, vl.v[i].end - vl.v[i].start },
					       .mode = UFFDIO_REGISTER_MODE_WP };

		if (!protectable(&vl.v[i]))
			continue;
		if (ioctl(w->uffd, UFFDIO_REGISTER, &reg)) {
			pr_debug("snapshot wp: %#llx-%#llx not registered: %m",
				 (unsigned long long)vl.v[i].start, (unsigned long long)vl.v[i].end);
			continue;
		}
		w->reg[w->nr_reg++] = (struct wp_run){ vl.v[i].start, vl.v[i].end };
	}
	vma_list_free(&vl);
	if (!r)
		r = wp_handler_start(w);
	for (size_t i = 0; !r && i < w->nr_reg; i++) {
		for (uint64_t a = w->reg[i].start; a < w->reg[i].end; a += WALK_CHUNK) {
			uint64_t len = w->reg[i].end - a < WALK_CHUNK ? w->reg[i].end - a : WALK_CHUNK;
			struct uffdio_writeprotect wp = { .range = { a, len },
							  .mode = UFFDIO_WRITEPROTECT_MODE_WP };

			/* A range gone meanwhile is simply not there at the freeze. */
			if (ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp) && errno != ENOENT)
				pr_debug("snapshot wp: protecting %#llx failed: %m",
					 (unsigned long long)a);
		}
		bytes += w->reg[i].end - w->reg[i].start;
	}
	if (!r)
		pr_info("process %d: %zu VMAs (%llu MiB) write-protected in %.1f ms", w->s.pid,
			w->nr_reg, (unsigned long long)bytes >> 20, (mono_ns() - t0) / 1e6);
	return r;
}

/* The save file, the fd the handler reads pages through, the userfaultfd. */
static int arm_begin(struct wp_proc *w, pid_t tid)
{
	int fd = procfs_open(w->s.pid, "mem", O_RDONLY);

	if (fd < 0)
		return fd;
	w->mem_fd = fd;
	w->s.frozen_fd = memfd_create("criu-lite-snapshot", MFD_CLOEXEC);
	if (w->s.frozen_fd < 0)
		return pr_perror("cannot create the snapshot's save file");
	return inject_uffd(w, tid);
}

int wp_arm_running(struct wp_proc *w, pid_t pid)
{
	int r;

	/* The dump's own checks first: they come before anything touches the
	 * process, and a seize of a zombie would only say EPERM. */
	r = seize_check_root(pid);
	if (r)
		return r;
	wp_init(w, pid);
	if (infect_seize(pid)) {
		int e = errno;

		r = seize_check_root(pid);	/* it may have exited just now */
		errno = e;
		return r ? r : pr_perror("cannot seize %d", pid);
	}
	r = ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) ? -errno : seize_wait_stop(pid);
	if (r == -ESRCH)	/* seized a moment ago: only an exit undoes that */
		pr_err("process %d exited before it stopped for --snapshot wp", pid);
	else if (r)
		pr_err("process %d did not stop for --snapshot wp: %s", pid, strerror(-r));
	if (!r)
		r = arm_begin(w, pid);
	/* Only the injection needs it stopped: the rest is done from outside. */
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	if (!r)
		r = fault_step("wp: userfaultfd taken, registering");
	if (!r)
		r = register_all(w);
	if (r)
		wp_drop(w);
	return r;
}

static int add_run(struct wp_proc *w, uint64_t start, uint64_t end)
{
	struct wp_run *last = w->nr_runs ? &w->runs[w->nr_runs - 1] : NULL;

	if (last && last->end == start) {
		last->end = end;
		return 0;
	}
	if (w->nr_runs == w->cap_runs) {
		size_t cap = w->cap_runs ? w->cap_runs * 2 : 256;
		struct wp_run *n = realloc(w->runs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		w->runs = n;
		w->cap_runs = cap;
	}
	w->runs[w->nr_runs++] = (struct wp_run){ start, end };
	return 0;
}

/* The pages of v populated now; those written since they were protected
 * (or populated since) are protected again. */
static int scan_protected(struct wp_proc *w, int pmfd, const struct vma *v, uint64_t *reprot)
{
	static struct page_region vec[SCAN_VEC];
	static uint64_t not_guard = PAGE_IS_GUARD;	/* 0 before 6.14 */
	uint64_t at = v->start, next;

	while (at < v->end) {
		/* A guard region's marker looks swapped out: it is no data. */
		struct pm_scan_arg a = { .size = sizeof(a), .start = at, .end = v->end,
				     .vec = (uint64_t)(uintptr_t)vec, .vec_len = SCAN_VEC,
				     .category_inverted = not_guard, .category_mask = not_guard,
				     .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
				     .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_WRITTEN };
		long n = ioctl(pmfd, PAGEMAP_SCAN, &a);

		if (n < 0 && errno == EINVAL && not_guard) {
			not_guard = 0;
			continue;
		}
		if (n < 0)
			return pr_perror("--snapshot wp: PAGEMAP_SCAN of %d failed", w->s.pid);
		/* valgrind does not know what PAGEMAP_SCAN writes. */
		VALGRIND_MAKE_MEM_DEFINED(vec, n * sizeof(vec[0]));
		for (long i = 0; i < n; i++) {
			int r = add_run(w, vec[i].start, vec[i].end);

			if (r)
				return r;
			if (vec[i].categories & PAGE_IS_WRITTEN) {
				struct uffdio_writeprotect wp = {
					.range = { vec[i].start, vec[i].end - vec[i].start },
					.mode = UFFDIO_WRITEPROTECT_MODE_WP,
				};

				if (ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp))
					return pr_perror("--snapshot wp: cannot protect %#llx of %d",
							 (unsigned long long)vec[i].start, w->s.pid);
				*reprot += (vec[i].end - vec[i].start) / 4096;
			}
		}
		/* Regions past walk_end may have come already (6.18): not twice. */
		next = n > 0 && vec[n - 1].end > a.walk_end ? vec[n - 1].end : a.walk_end;
		if (next <= at)
			break;
		at = next;
	}
	return 0;
}

/* A private file mapping whose pages are all the file's: the file is its
 * content, whatever the process does later. 1 if so, 0 if it has pages of
 * its own (then it is copied frozen). */
static int file_only(struct wp_proc *w, int pmfd, const struct vma *v)
{
	struct page_region one;
	struct pm_scan_arg a = { .size = sizeof(a), .start = v->start, .end = v->end,
			     .vec = (uint64_t)(uintptr_t)&one, .vec_len = 1, .max_pages = 1,
			     .category_inverted = PAGE_IS_FILE, .category_mask = PAGE_IS_FILE,
			     .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			     .return_mask = PAGE_IS_PRESENT };
	long n = ioctl(pmfd, PAGEMAP_SCAN, &a);

	if (n < 0)
		return pr_perror("--snapshot wp: PAGEMAP_SCAN of %d failed", w->s.pid);
	return n == 0;
}

static bool registered(const struct wp_proc *w, const struct vma *v)
{
	if (!(v->vmf & VMF_UFFD_WP) || !protectable(v))
		return false;
	for (size_t i = 0; i < w->nr_reg; i++)
		if (w->reg[i].start <= v->start && v->end <= w->reg[i].end)
			return true;
	return false;
}

static int classify_all(struct wp_proc *w, int pmfd, uint64_t *reprot)
{
	int r = 0;

	for (size_t i = 0; i < w->s.vl.nr && !r; i++) {
		const struct vma *v = &w->s.vl.v[i];

		if (registered(w, v)) {
			w->kind[i] = WPK_PROTECTED;
			r = scan_protected(w, pmfd, v, reprot);
		} else if (v->kind == VMAK_FILE && !v->shared && !v->deleted &&
			   !(v->vmf & (VMF_IO | VMF_PFNMAP))) {
			r = file_only(w, pmfd, v);
			if (r > 0)
				w->kind[i] = WPK_FILE;
			w->s.frozen[i] = r == 0;
			r = r < 0 ? r : 0;
		} else {
			w->s.frozen[i] = snap_vma_frozen(v) || (protectable(v) && !v->shared);
		}
	}
	return r;
}

int wp_take(struct wp_proc *w, const struct dump_proc *p, const struct vma_list *pre)
{
	uint64_t t0 = mono_ns(), reprot = 0;
	int r = 0, pmfd;

	if (!w->s.pid) {
		wp_init(w, p->pid);
		r = arm_begin(w, p->tids[0]);
		if (!r)
			r = register_all(w);
	}
	if (!r)
		r = mem_read_vmas_frozen(p->pid, pre, &w->s.vl);
	if (r < 0)
		return r;
	w->s.frozen = calloc(w->s.vl.nr + 1, sizeof(*w->s.frozen));
	w->s.done = calloc(w->s.vl.nr + 1, sizeof(*w->s.done));
	w->kind = calloc(w->s.vl.nr + 1, sizeof(*w->kind));
	if (!w->s.frozen || !w->s.done || !w->kind)
		return -ENOMEM;
	pmfd = procfs_open(p->pid, "pagemap", O_RDONLY);
	if (pmfd < 0)
		return pmfd;
	/* From here on a write fault saves the page first. The lock also keeps
	 * the handler off the run list while it is built. */
	pthread_mutex_lock(&w->mu);
	w->phase = WPP_SAVING;
	r = classify_all(w, pmfd, &reprot);
	pthread_mutex_unlock(&w->mu);
	close(pmfd);
	if (!r)
		r = snap_copy_frozen(&w->s);
	if (!r)
		pr_info("process %d: snapshot taken in %.1f ms (%llu pages protected again, "
			"%llu KiB copied frozen)", p->pid, (mono_ns() - t0) / 1e6,
			(unsigned long long)reprot, (unsigned long long)w->s.frozen_bytes >> 10);
	return r;
}

/* Each range is unregistered whole, which also clears the protection of
 * every page left: 85 ms per 4 GiB here, and the process's threads saw no
 * gap from it. Every finer way was worse: unregistering 256 MiB or 32 MiB
 * pieces (each one splits and merges the VMA), or unprotecting first under
 * the read lock, took 400-600 ms and left the threads 100-400 ms gaps.
 * ESRCH once the address space it was made for is gone (exit or exec). */
static int unregister_all(struct wp_proc *w)
{
	int r = 0, nice0;

	/* At nice -20 for just this: while we hold the lock, a thread of the
	 * process that faults waits for us, and at nice 0 its siblings took
	 * the CPU from us (85 ms of work stretched to 400, and so its gap). */
	errno = 0;
	nice0 = getpriority(PRIO_PROCESS, 0);
	if (!errno)
		setpriority(PRIO_PROCESS, 0, -20);
	for (size_t i = 0; i < w->nr_reg; i++) {
		struct uffdio_range range = { w->reg[i].start, w->reg[i].end - w->reg[i].start };

		if (ioctl(w->uffd, UFFDIO_UNREGISTER, &range) && errno == ESRCH)
			r = -ESRCH;
	}
	if (!errno || r)
		setpriority(PRIO_PROCESS, 0, nice0);
	w->nr_reg = 0;
	return r;
}

/* mem_fd was opened at arming and holds the address space of that time:
 * once the process has exited or exec'd, nothing reads through it. Only
 * pages populated at the freeze are tried (reading a hole would populate
 * it), then the first page of each VMA for a process with none. */
static bool mm_gone(struct wp_proc *w)
{
	uint8_t b;

	for (size_t i = 0; i < w->nr_runs && i < 16; i++)
		if (pread(w->mem_fd, &b, 1, (off_t)w->runs[i].start) == 1)
			return false;
	for (size_t i = 0; !w->nr_runs && i < w->s.vl.nr; i++)
		if (pread(w->mem_fd, &b, 1, (off_t)w->s.vl.v[i].start) == 1)
			return false;
	return true;
}

int wp_dump_mem(struct wp_proc *w, int dirfd, struct dump_stats *st)
{
	struct live_src live;
	struct wp_src overlay;
	struct frozen_src frozen;
	uint64_t t0;
	int r, r2;

	/* frozen copy over the overlay over the live process */
	live_src_init(&live, w->s.pid, false);
	wp_src_init(&overlay, &live.s, w->s.frozen_fd, w->kind, w->runs, w->nr_runs,
		    &w->read_upto);
	frozen_src_init(&frozen, w->s.frozen_fd, w->s.frozen, &overlay.s);

	/* A read that fails because the process exec'd, exited or dropped the
	 * memory is reported as that, below. */
	log_hold_errors();
	r = mem_dump_src(dirfd, w->s.pid, &w->s.vl, &frozen.s, st);
	live_src_fini(&live);
	pthread_mutex_lock(&w->mu);
	w->phase = WPP_DONE;
	pthread_mutex_unlock(&w->mu);
	/* Not at SCHED_IDLE: unregistering holds the process's mmap lock for
	 * writing, and its running threads must not keep us from letting go
	 * of it. */
	mem_yield(YIELD_OFF);
	t0 = mono_ns();
	r2 = unregister_all(w);
	pr_debug("process %d: unregistered in %.1f ms", w->s.pid, (mono_ns() - t0) / 1e6);
	wp_handler_stop(w);
	mem_yield(YIELD_IDLE);
	if (r2 == -ESRCH || mm_gone(w))
		r2 = -ESRCH;
	log_release_errors(r2 != -ESRCH && !w->broken);
	if (r2 == -ESRCH) {
		pr_err("process %d exited or exec'd before its snapshot was read", w->s.pid);
		r = r2;
	} else if (w->broken) {
		pr_err("process %d %s: snapshot abandoned (--snapshot fork copes)", w->s.pid, w->why);
		r = -EAGAIN;
	}
	if (!r)
		pr_info("process %d: %llu pages saved before the process wrote them", w->s.pid,
			(unsigned long long)w->saved);
	return r;
}

void wp_drop(struct wp_proc *w)
{
	if (!w->s.pid)
		return;
	pthread_mutex_lock(&w->mu);
	w->phase = WPP_DONE;
	pthread_mutex_unlock(&w->mu);
	set_armed(w, false);
	if (w->uffd >= 0)
		unregister_all(w);
	wp_handler_stop(w);
	/* Closing it wakes any thread still waiting on a fault. */
	if (w->uffd >= 0)
		close(w->uffd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->mem_fd >= 0)
		close(w->mem_fd);
	w->uffd = w->stop_fd = w->mem_fd = -1;
	free(w->reg);
	free(w->kind);
	free(w->runs);
	w->reg = NULL;
	w->kind = NULL;
	w->runs = NULL;
	pthread_mutex_destroy(&w->mu);
	snap_proc_free(&w->s);
}
