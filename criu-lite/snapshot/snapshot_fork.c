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

#include "common/fault.h"
#include "common/infect.h"
#include "common/procfs.h"
#include "criu-lite/survive/guardian.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/snapshot/snap_src.h"
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

/* The copy's first stop: it was auto-attached (PTRACE_O_TRACECLONE) and
 * stops before running a single instruction. Its pid in our namespace is
 * the one the original was told unless the tree lives in a pid namespace
 * of its own: then it is whichever new tracee reports. */
static int wait_copy(struct snap_proc *s)
{
	int st;
	pid_t r = waitpid(s->copy_ns, &st, __WALL);

	while (r < 0 && errno == ECHILD) {
		char buf[512], *p;
		FILE *f;
		int ppid = 0;

		r = waitpid(-1, &st, __WALL);
		if (r <= 0)
			break;
		f = procfs_fopen(r, "stat", PROCFS_QUIET);
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
	/* Before the clone: a copy made as criu-lite dies is killed and
	 * reaped by the guardian, even one whose pid we never read. */
	s->guard_note = guardian_note_copy(s->pid, 0);
	r = infect_start(&inf, leader);
	if (!r)
		r = infect_fork(&inf, &ret);
	r2 = infect_stop(&inf);
	ptrace(PTRACE_SETOPTIONS, leader, NULL, NULL);
	r = r ? r : r2;
	if (!r && (int64_t)ret <= 0) {
		pr_err("fork() inside %d failed: %s", s->pid, strerror((int)-(int64_t)ret));
		r = (int64_t)ret < 0 ? (int)(int64_t)ret : -EIO;
	}
	if ((int64_t)ret <= 0)
		return r;
	/* Made, even if what came after failed: ours to kill and reap. */
	s->copy_ns = (pid_t)ret;
	r2 = wait_copy(s);
	r = r ? r : r2;
	fault_point("snapshot: fork copy made");
	if (!r)
		pr_info("process %d forked its snapshot copy %d in %.1f ms", s->pid, s->copy,
			(mono_ns() - t0) / 1e6);
	return r;
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
	r = mem_read_vmas_frozen(p->pid, pre, &s->vl);
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

/* frozen copy over the fork()ed copy, over the original for what the copy
 * lacks. */
int snap_dump_mem(struct snap_proc *s, int dirfd, struct dump_stats *st)
{
	struct live_src orig;
	struct fork_src copy;
	struct frozen_src frozen;
	int r;

	live_src_init(&orig, s->pid, false);
	fork_src_init(&copy, s->pid, s->copy, &orig.s);
	frozen_src_init(&frozen, s->frozen_fd, s->frozen, &copy.s);
	r = mem_dump_src(dirfd, s->pid, &s->vl, &frozen.s, st);
	fork_src_fini(&copy);
	live_src_fini(&orig);
	return r;
}

/* The copy's zombie belongs to the original: reap it there, through a
 * wait4 injected into its leader, stopped for just that. False if it may
 * be left (the guardian tries again). */
static bool reap_in_original(struct snap_proc *s)
{
	struct infect inf;
	uint64_t ret = 0;
	int r;

	if (infect_seize(s->pid)) {
		/* Gone: its children went to a reaper, which waits for them. */
		pr_debug("snapshot: %d is gone, its copy is reaped elsewhere", s->pid);
		return true;
	}
	r = ptrace(PTRACE_INTERRUPT, s->pid, NULL, NULL) ? -errno : seize_wait_stop(s->pid);
	if (!r) {
		r = infect_start(&inf, s->pid);
		if (!r)
			r = infect_syscall(&inf, __NR_wait4, &ret, (uint64_t)s->copy_ns, 0,
					   __WALL | WNOHANG, 0, 0, 0);
		if (infect_stop(&inf) && !r)
			r = -EIO;
	}
	ptrace(PTRACE_DETACH, s->pid, NULL, NULL);
	if (r || ret != (uint64_t)s->copy_ns) {
		pr_warn("process %d may keep the zombie of its snapshot copy %d (%d, %lld)", s->pid,
			s->copy_ns, r, (long long)ret);
		return false;
	}
	return true;
}

int snap_drop(struct snap_proc *s)
{
	int r = 0;

	if (!s->pid)
		return 0;	/* never taken */
	if (s->copy > 0) {
		int st;

		kill(s->copy, SIGKILL);
		fault_point("snapshot: fork copy killed");
		while (waitpid(s->copy, &st, __WALL) > 0 && WIFSTOPPED(st))
			;
		if (!reap_in_original(s)) {
			s->guard_note = 0;	/* kept: the guardian reaps it */
			r = -ECHILD;
		}
		s->copy = 0;
	}
	guardian_clear(s->guard_note);
	s->guard_note = 0;
	snap_proc_free(s);
	return r;
}
