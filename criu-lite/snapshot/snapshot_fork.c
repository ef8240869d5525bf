/* --snapshot fork: see snapshot_fork.h for what is taken when. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "common/infect.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/snapshot/snapshot_fork.h"
#include "images/clock.h"
#include "images/log.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define PG		4096ull
#define COPY_BUF	(4u << 20)
#define PM_CHUNK	4096	/* pagemap entries per read */
#define PM_PRESENT	(1ull << 63)
#define PM_SWAP		(1ull << 62)
#define STOP_TIMEOUT_MS	5000

bool snap_vma_frozen(const struct vma *v)
{
	if (v->kind == VMAK_VVAR || v->kind == VMAK_VSYSCALL || (v->vmf & (VMF_IO | VMF_PFNMAP)))
		return false;
	/* A shared mapping of a file still on disk is recorded as the file;
	 * other shared memory lives in an object the original goes on writing. */
	if (v->shared)
		return v->deleted || v->kind != VMAK_FILE;
	return v->vmf & (VMF_DONTCOPY | VMF_WIPEONFORK);
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pr_perror("cannot write the snapshot's frozen copy");
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Shared memory: its object, data ranges only (SEEK_DATA), never through
 * the mapping, so nothing is populated in the original. */
static int copy_object(struct snap_proc *s, const struct vma *v, uint8_t *buf)
{
	char path[96];
	struct stat st;
	uint64_t lo = v->pgoff, hi = v->pgoff + (v->end - v->start);
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", s->pid,
		 (unsigned long long)v->start, (unsigned long long)v->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;		/* the caller reads it through the mapping */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < hi)
		hi = ((uint64_t)st.st_size + PG - 1) & ~(PG - 1);
	while (lo < hi && !r) {
		off_t d = lseek(fd, lo, SEEK_DATA), h;

		if (d < 0) {
			r = errno == ENXIO ? 0 : pr_perror("cannot seek %s", path);
			break;
		}
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)d >= hi) {
			r = h < 0 ? pr_perror("cannot seek %s", path) : 0;
			break;
		}
		d &= ~(off_t)(PG - 1);
		h = (uint64_t)h > hi ? (off_t)hi : h;
		for (off_t o = d; o < h && !r; o += COPY_BUF) {
			size_t len = h - o < COPY_BUF ? h - o : COPY_BUF;
			ssize_t n = pread(fd, buf, len, o);

			if (n < 0)
				r = pr_perror("cannot read %s", path);
			else if (n)
				r = write_all(s->frozen_fd, buf, n, v->start + (o - v->pgoff));
			s->frozen_bytes += n > 0 ? n : 0;
		}
		lo = h;
	}
	close(fd);
	return r;
}

/* A run of populated pages through the mapping: process_vm_readv, or
 * /proc/PID/mem where the protection refuses it (it reads with FOLL_FORCE). */
static int copy_run(struct snap_proc *s, int procmem, uint64_t addr, uint64_t len, uint8_t *buf)
{
	while (len) {
		size_t n = len < COPY_BUF ? len : COPY_BUF;
		struct iovec l = { buf, n }, rv = { (void *)(uintptr_t)addr, n };
		ssize_t got = process_vm_readv(s->pid, &l, 1, &rv, 1, 0);
		int r;

		if (got <= 0)
			got = pread(procmem, buf, n, addr);
		if (got <= 0) {
			if (got == 0)
				errno = EIO;
			return pr_perror("cannot read %#llx of process %d", (unsigned long long)addr,
					 s->pid);
		}
		got &= ~(ssize_t)(PG - 1);
		if (!got)
			return -EIO;
		r = write_all(s->frozen_fd, buf, got, addr);
		if (r)
			return r;
		s->frozen_bytes += got;
		addr += got;
		len -= got;
	}
	return 0;
}

/* Private memory the copy lacks or has wiped: the pages the original's
 * pagemap shows present or swapped, nothing else (reading a hole would
 * populate it: there is no shared zero page here). */
static int copy_private(struct snap_proc *s, const struct vma *v, int pmfd, int procmem,
			uint8_t *buf)
{
	static uint64_t pm[PM_CHUNK];

	for (uint64_t addr = v->start; addr < v->end;) {
		uint64_t n = (v->end - addr) / PG, run = 0, i;
		ssize_t got;

		n = n < PM_CHUNK ? n : PM_CHUNK;
		got = pread(pmfd, pm, n * 8, addr / PG * 8);
		if (got <= 0)
			return pr_perror("cannot read the pagemap of %d", s->pid);
		n = got / 8;
		for (i = 0; i <= n; i++) {
			bool pop = i < n && (pm[i] & (PM_PRESENT | PM_SWAP));
			int r;

			if (pop) {
				run++;
				continue;
			}
			if (run && (r = copy_run(s, procmem, addr + (i - run) * PG, run * PG, buf)))
				return r;
			run = 0;
		}
		addr += n * PG;
	}
	return 0;
}

static int open_proc(pid_t pid, const char *what)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? pr_perror("cannot open %s", path) : fd;
}

int snap_copy_frozen(struct snap_proc *s)
{
	uint8_t *buf = NULL;
	int pmfd = -1, procmem = -1, r = 0;

	for (size_t i = 0; i < s->vl.nr && !r; i++) {
		const struct vma *v = &s->vl.v[i];

		if (!s->frozen[i] || s->done[i])
			continue;
		s->done[i] = true;
		if (!buf) {
			if (s->frozen_fd < 0)
				s->frozen_fd = memfd_create("criu-lite-snapshot", MFD_CLOEXEC);
			buf = mmap(NULL, COPY_BUF, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			pmfd = open_proc(s->pid, "pagemap");
			procmem = open_proc(s->pid, "mem");
			if (s->frozen_fd < 0 || buf == MAP_FAILED || pmfd < 0 || procmem < 0) {
				r = s->frozen_fd < 0 || buf == MAP_FAILED ?
					pr_perror("cannot set up the snapshot's frozen copy") : -EIO;
				break;
			}
		}
		pr_debug("snapshot: %#llx-%#llx (%s) read while frozen",
			 (unsigned long long)v->start, (unsigned long long)v->end, v->name);
		r = v->shared ? copy_object(s, v, buf) : -ENOENT;
		if (r == -ENOENT || r == -EACCES || r == -EPERM)
			r = copy_private(s, v, pmfd, procmem, buf);
	}
	if (buf && buf != MAP_FAILED)
		munmap(buf, COPY_BUF);
	if (pmfd >= 0)
		close(pmfd);
	if (procmem >= 0)
		close(procmem);
	return r;
}

/* The copy's first stop: it was auto-attached (PTRACE_O_TRACECLONE) and
 * stops before running a single instruction. Its pid in our namespace is
 * the one the original was told unless the tree lives in a pid namespace
 * of its own: then it is whichever new tracee reports. */
static int wait_copy(struct snap_proc *s)
{
	int st;
	pid_t r = waitpid(s->copy_ns, &st, __WALL);

	while (r < 0 && errno == ECHILD) {
		char path[64], buf[512], *p;
		FILE *f;
		int ppid = 0;

		r = waitpid(-1, &st, __WALL);
		if (r <= 0)
			break;
		snprintf(path, sizeof(path), "/proc/%d/stat", r);
		f = fopen(path, "re");
		if (f && fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
			sscanf(p + 1, " %*c %d", &ppid);
		if (f)
			fclose(f);
		if (ppid != s->pid)
			r = -1, errno = ECHILD;	/* not ours: keep looking */
	}
	if (r <= 0)
		return pr_perror("the fork()ed copy of %d did not stop", s->pid);
	s->copy = r;
	if (!WIFSTOPPED(st)) {
		s->copy = 0;
		pr_err("the fork()ed copy of %d died at once", s->pid);
		return -ESRCH;
	}
	return 0;
}

/* clone(flags 0): a fork whose exit signal is 0, so the copy's death sends
 * the original no SIGCHLD. With PTRACE_O_TRACECLONE the copy starts traced
 * by us and stopped: it never runs. */
static int fork_copy(struct snap_proc *s, pid_t leader)
{
	struct infect inf;
	uint64_t ret = 0, t0 = mono_ns();
	int r, r2;

	if (ptrace(PTRACE_SETOPTIONS, leader, NULL,
		   (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK)))
		return pr_perror("cannot set ptrace options of %d", leader);
	r = infect_start(&inf, leader);
	if (!r)
		r = infect_syscall(&inf, __NR_clone, &ret, 0, 0, 0, 0, 0, 0);
	r2 = infect_stop(&inf);
	ptrace(PTRACE_SETOPTIONS, leader, NULL, NULL);
	r = r ? r : r2;
	if (!r && (int64_t)ret <= 0) {
		pr_err("fork() inside %d failed: %s", s->pid, strerror((int)-(int64_t)ret));
		r = (int64_t)ret < 0 ? (int)(int64_t)ret : -EIO;
	}
	if (r)
		return r;
	s->copy_ns = (pid_t)ret;
	r = wait_copy(s);
	if (!r)
		pr_info("process %d forked its snapshot copy %d in %.1f ms", s->pid, s->copy,
			(mono_ns() - t0) / 1e6);
	return r;
}

void snap_yield(enum snap_yield how)
{
	static struct sched_param old_param;
	static int old_policy, old_nice;
	static bool lowered;
	struct sched_param idle = { 0 };

	if (how != YIELD_OFF && !lowered) {
		errno = 0;
		old_nice = getpriority(PRIO_PROCESS, 0);
		old_policy = sched_getscheduler(0);
		lowered = !errno && old_policy >= 0 && !sched_getparam(0, &old_param) &&
			  (how == YIELD_IDLE ? !sched_setscheduler(0, SCHED_IDLE, &idle)
					     : old_nice < 10 && !setpriority(PRIO_PROCESS, 0, 10));
	} else if (how == YIELD_OFF && lowered) {
		sched_setscheduler(0, old_policy, &old_param);
		setpriority(PRIO_PROCESS, 0, old_nice);	/* needs privilege: else stays */
		lowered = false;
	}
}

int snap_prefetch(pid_t pid, struct vma_list *pre)
{
	return mem_read_vmas(pid, pre);
}

static bool same_vma(const struct vma *a, const struct vma *b)
{
	return a->start == b->start && a->end == b->end && a->pgoff == b->pgoff &&
	       a->dev == b->dev && a->ino == b->ino && a->prot == b->prot &&
	       a->shared == b->shared && a->deleted == b->deleted && !strcmp(a->name, b->name);
}

/* maps now, flags from the prefetch: 1 if every VMA is still the same one
 * (then vl has them all), 0 if not (vl freed: read smaps instead). */
static int vmas_from_prefetch(pid_t pid, const struct vma_list *pre, struct vma_list *vl)
{
	int r = vma_list_read(pid, false, vl);

	if (r < 0)
		return r;
	for (size_t i = 0; i < vl->nr; i++) {
		const struct vma *old = vma_list_find(pre, vl->v[i].start);

		if (!old || !same_vma(old, &vl->v[i]) || !old->vmflags ||
		    !(vl->v[i].vmflags = strdup(old->vmflags))) {
			vma_list_free(vl);
			return 0;
		}
		vl->v[i].vmf = old->vmf;
	}
	return 1;
}

int snap_read_vmas(pid_t pid, const struct vma_list *pre, struct vma_list *vl)
{
	int r = 0;

	if (pre && pre->nr)
		r = vmas_from_prefetch(pid, pre, vl);
	return r ? (r < 0 ? r : 0) : mem_read_vmas(pid, vl);
}

/* A VMA fork left out that we did not know to copy (MADV_DONTFORK since
 * the prefetch): found in the copy's maps, copied now, still frozen. */
static int check_copy(struct snap_proc *s)
{
	struct vma_list cv;
	int r = vma_list_read(s->copy, false, &cv), missed = 0;

	if (r < 0)
		return r;
	for (size_t i = 0; i < s->vl.nr; i++) {
		const struct vma *v = &s->vl.v[i], *c = vma_list_find(&cv, v->start);

		if (s->frozen[i] || (c && c->start == v->start && c->end == v->end) ||
		    v->kind == VMAK_VVAR || v->kind == VMAK_VSYSCALL)
			continue;
		s->frozen[i] = true;
		missed++;
	}
	vma_list_free(&cv);
	if (!missed)
		return 0;
	pr_info("process %d: %d VMAs absent from its fork()ed copy: read while frozen", s->pid,
		missed);
	/* snap_copy_frozen skips what it has done: only the new ones are read. */
	return snap_copy_frozen(s);
}

int snap_take(struct snap_proc *s, const struct dump_proc *p, const struct vma_list *pre)
{
	uint64_t t0 = mono_ns();
	int r = 0;

	memset(s, 0, sizeof(*s));
	s->pid = p->pid;
	s->frozen_fd = -1;
	r = snap_read_vmas(p->pid, pre, &s->vl);
	if (r < 0)
		return r;
	s->frozen = calloc(s->vl.nr + 1, sizeof(*s->frozen));
	s->done = calloc(s->vl.nr + 1, sizeof(*s->done));
	if (!s->frozen || !s->done)
		return -ENOMEM;
	for (size_t i = 0; i < s->vl.nr; i++)
		s->frozen[i] = snap_vma_frozen(&s->vl.v[i]);
	r = snap_copy_frozen(s);
	if (!r && s->frozen_bytes)
		pr_info("process %d: %llu KiB that fork does not cover read while frozen in %.1f ms",
			p->pid, (unsigned long long)s->frozen_bytes >> 10, (mono_ns() - t0) / 1e6);
	if (!r)
		r = fork_copy(s, p->tids[0]);
	return r ? r : check_copy(s);
}

int snap_dump_mem(struct snap_proc *s, int dirfd, const struct dump_opts *opts,
		  struct dump_stats *st)
{
	struct mem_extra x = { .frozen_fd = s->frozen_fd, .frozen = s->frozen };

	return mem_dump_ex(dirfd, s->pid, s->copy, &s->vl, &x, opts, st);
}

int snap_wait_stop(pid_t pid)
{
	uint64_t deadline = mono_ns() + STOP_TIMEOUT_MS * 1000000ull;
	struct timespec nap = { 0, 1000000 };
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, __WALL | WNOHANG);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r > 0 && !WIFSTOPPED(st)))
			return -ESRCH;
		if (r > 0 && st >> 16 == PTRACE_EVENT_STOP)
			return 0;
		if (r > 0) {
			/* A signal-delivery-stop came first: deliver it, ask again. */
			if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st)) ||
			    ptrace(PTRACE_INTERRUPT, pid, NULL, NULL))
				return -errno;
			continue;
		}
		if (mono_ns() > deadline)
			return -ETIMEDOUT;
		nanosleep(&nap, NULL);
	}
}

/* The copy's zombie belongs to the original: reap it there, through a
 * wait4 injected into its leader, stopped for just that. */
static void reap_in_original(struct snap_proc *s)
{
	struct infect inf;
	uint64_t ret = 0;
	int r;

	if (ptrace(PTRACE_SEIZE, s->pid, NULL, NULL)) {
		/* Gone: its children went to a reaper, which waits for them. */
		pr_debug("snapshot: %d is gone, its copy is reaped elsewhere", s->pid);
		return;
	}
	r = ptrace(PTRACE_INTERRUPT, s->pid, NULL, NULL) ? -errno : snap_wait_stop(s->pid);
	if (!r) {
		r = infect_start(&inf, s->pid);
		if (!r)
			r = infect_syscall(&inf, __NR_wait4, &ret, (uint64_t)s->copy_ns, 0,
					   __WALL | WNOHANG, 0, 0, 0);
		if (infect_stop(&inf) && !r)
			r = -EIO;
	}
	ptrace(PTRACE_DETACH, s->pid, NULL, NULL);
	if (r || ret != (uint64_t)s->copy_ns)
		pr_warn("process %d may keep the zombie of its snapshot copy %d (%d, %lld)", s->pid,
			s->copy_ns, r, (long long)ret);
}

void snap_drop(struct snap_proc *s)
{
	if (!s->pid)
		return;		/* never taken */
	if (s->copy > 0) {
		int st;

		kill(s->copy, SIGKILL);
		while (waitpid(s->copy, &st, __WALL) > 0 && WIFSTOPPED(st))
			;
		reap_in_original(s);
		s->copy = 0;
	}
	if (s->frozen_fd >= 0)
		close(s->frozen_fd);
	s->frozen_fd = -1;
	free(s->frozen);
	s->frozen = NULL;
	free(s->done);
	s->done = NULL;
	vma_list_free(&s->vl);
	s->pid = 0;
}
