/* Freeze a process tree and leave every thread in a ptrace-stop.
 *
 * Always PTRACE_SEIZE + PTRACE_INTERRUPT (never ATTACH: no stray SIGSTOP is
 * left behind). A freezer picked in front of it only makes the tree hold
 * still while we seize: the cgroup freezer (one write, no races with forks)
 * or SIGSTOP (the classic, visible to the parent). Without one, threads and
 * children born while we seize are caught by scanning again until a scan,
 * made while every known thread is stopped, finds nothing new. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "common/fault.h"
#include "common/infect.h"
#include "common/procfs.h"
#include "criu-lite/freeze/freezer_cgroup.h"
#include "criu-lite/freeze/seize.h"
#include "criu-lite/freeze/seize_scan.h"
#include "criu-lite/survive/guardian.h"
#include "images/clock.h"
#include "images/log.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define TF_SEIZED	1
#define TF_STOPPED	2
#define TF_GONE		4	/* exited (and reaped by us) while being seized */

/* A thread that does not reach a ptrace-stop in this time is stuck in an
 * uninterruptible sleep (a vfork parent waiting for its child, NFS). */
#define STOP_TIMEOUT_MS 10000
/* How long a killed tree may take to be gone (its exits reaped). */
#define KILL_REAP_MS 2000

/* While the tree is frozen, every moment the scheduler gives to another
 * task is downtime: on a busy machine the dumper otherwise waits whole time
 * slices between two ptrace calls, and each thread it wakes at the thaw
 * preempts it before it has detached the next. So it runs at nice -20 from
 * the freeze to the thaw (root or CAP_SYS_NICE; others keep their nice).
 * Threads it starts meanwhile (the pages writer) inherit it. */
static void boost(bool on)
{
	static int old_nice;
	static bool boosted;

	if (on && !boosted) {
		errno = 0;
		old_nice = getpriority(PRIO_PROCESS, 0);
		boosted = !errno && !setpriority(PRIO_PROCESS, 0, -20);
	} else if (!on && boosted) {
		setpriority(PRIO_PROCESS, 0, old_nice);
		boosted = false;
	}
}

static int seize_error(pid_t pid, pid_t tid)
{
	int e = errno;
	char name[64], line[256];
	pid_t tracer = 0;
	FILE *f;

	struct proc_stat ps;

	/* ptrace refuses an exited task with EPERM: that is a thread (or a
	 * process) on its way out, not a permission problem. */
	if (e == ESRCH || (e == EPERM && (ptree_read_stat(pid, tid, &ps) || ps.state == 'Z' ||
					  ps.state == 'X')))
		return -ESRCH;	/* gone: the caller decides */
	snprintf(name, sizeof(name), "task/%d/status", tid);
	f = procfs_fopen(pid, name, PROCFS_QUIET);
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &tracer) == 1)
			break;
	if (f)
		fclose(f);
	if (e == EPERM && tracer)
		pr_err("cannot seize %d: already traced by process %d", tid, tracer);
	else if (e == EPERM)
		pr_err("cannot seize %d: not permitted (needs CAP_SYS_PTRACE or the same user)", tid);
	else
		pr_err("cannot seize %d: %s", tid, strerror(e));
	return -e;
}

#define PF_EXITING	0x00000004

/* exit_group() makes the leader a zombie at once and only sends the other
 * threads SIGKILL: a thread that has it pending, or is past it (PF_EXITING,
 * zombie), is going with the process. */
static bool thread_dying(pid_t pid, pid_t tid)
{
	char name[64], *status;
	struct proc_stat ps;
	uint64_t pending = 0;

	snprintf(name, sizeof(name), "task/%d/status", tid);
	if (ptree_read_stat(pid, tid, &ps) || ps.state == 'Z' || ps.state == 'X' ||
	    (ps.flags & PF_EXITING) || procfs_read(pid, name, &status, NULL))
		return true;
	procfs_field_u64(status, "SigPnd", 16, &pending);
	free(status);
	return pending & (1ull << (SIGKILL - 1));
}

/* The leader is a zombie: either the whole process is exiting (gone, as
 * far as the freeze goes) or the main thread called pthread_exit and the
 * others run on, which we cannot dump. */
static int zombie_leader(pid_t pid)
{
	struct dirent *de;
	int live = 0;
	DIR *d;

	d = procfs_opendir(pid, "task", PROCFS_QUIET);
	if (!d)
		return -ESRCH;
	while ((de = readdir(d))) {
		pid_t tid = atoi(de->d_name);

		if (tid > 0 && tid != pid && !thread_dying(pid, tid))
			live++;
	}
	closedir(d);
	if (!live)
		return -ESRCH;
	pr_err("process %d: its main thread has exited (zombie leader): not supported", pid);
	return -EINVAL;
}

/* Seize and interrupt every thread of p not yet seized; returns how many. */
static int seize_threads(struct dump_proc *p)
{
	struct dirent *de;
	int added = 0, r = 0;
	DIR *d;

	d = procfs_opendir(p->pid, "task", PROCFS_QUIET);
	if (!d)
		return -ESRCH;	/* gone: the caller decides */
	while (!r && (de = readdir(d))) {
		pid_t tid = atoi(de->d_name);
		struct proc_stat ps;
		bool known = false;
		int i;

		if (tid <= 0)
			continue;
		for (i = 0; i < p->nr_threads && !known; i++)
			known = p->tids[i] == tid;
		if (known || ptree_read_stat(p->pid, tid, &ps))
			continue;
		if (ps.state == 'Z' || ps.state == 'X') {
			if (tid == p->pid)
				r = zombie_leader(p->pid);
			continue;	/* an exiting thread: nothing to dump */
		}
		if (infect_seize(tid)) {
			r = seize_error(p->pid, tid);
			if (r == -ESRCH && tid != p->pid)
				r = 0;
			continue;
		}
		fault_point("seize: thread seized");
		i = ptree_add_thread(p, tid, ps.state);
		if (i < 0) {
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
			r = i;
			break;
		}
		p->thread_flags[i] = TF_SEIZED;
		/* Keep the leader first: tids[0] must be the thread-group leader. */
		if (tid == p->pid && i) {
			p->tids[i] = p->tids[0];
			p->tids[0] = tid;
			p->thread_state[i] = p->thread_state[0];
			p->thread_state[0] = ps.state;
			p->thread_flags[i] = p->thread_flags[0];
			p->thread_flags[0] = TF_SEIZED;
		}
		if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) && errno != ESRCH)
			r = pr_perror("cannot interrupt %d", tid);
		fault_point("seize: thread interrupted");
		added++;
	}
	closedir(d);
	return r < 0 ? r : added;
}

/* Sleep until a SIGCHLD (every ptrace-stop of a tracee sends its tracer
 * one) or the timeout. SIGCHLD is blocked meanwhile (wait_all_stopped), so
 * one that came between our waitpid and this call is still pending and
 * returns at once: no stop is missed and none waits for a poll interval,
 * which on a loaded machine costs a scheduler tick per sleep. */
static void wait_sigchld(long timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigtimedwait(&set, NULL, &ts);
}

/* What a wait status says about p->tids[i]: it stopped (TF_STOPPED), it
 * exited (TF_GONE), or not yet. */
static int on_status(struct dump_proc *p, int i, int st)
{
	pid_t tid = p->tids[i];
	int sig;

	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		p->thread_flags[i] |= TF_GONE;
		return 0;
	}
	if (st >> 16 == PTRACE_EVENT_STOP) {
		p->thread_flags[i] |= TF_STOPPED;
		/* A seized group-stop reports its stop signal; a stop we asked
		 * for (PTRACE_INTERRUPT) SIGTRAP. */
		if (WSTOPSIG(st) != SIGTRAP && !p->stop_signo)
			p->stop_signo = WSTOPSIG(st);
		return 0;
	}
	/* A signal-delivery-stop came first and consumed our pending
	 * interrupt: deliver the signal as it would have been (SIGSTOP then
	 * group-stops, reported as PTRACE_EVENT_STOP) and ask again. Other
	 * event stops cannot happen without options. */
	sig = (st >> 16) ? 0 : WSTOPSIG(st);
	if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) ||
	    ptrace(PTRACE_INTERRUPT, tid, NULL, NULL)) {
		if (errno == ESRCH)
			return 0;	/* killed meanwhile: waitpid tells */
		return pr_perror("cannot resume %d", tid);
	}
	return 0;
}

/* Collect what the process's other threads report. A traced thread that
 * exits stays a zombie until its tracer reaps it, and the leader's exit is
 * not reported before every other thread is reaped: without this, a
 * process that exit_group()s mid-seize looks like a leader never stopping. */
static int reap_siblings(struct dump_proc *p, int i)
{
	for (int j = 0; j < p->nr_threads; j++) {
		int st, r;

		if (j == i || !(p->thread_flags[j] & TF_SEIZED) || (p->thread_flags[j] & TF_GONE))
			continue;
		if (waitpid(p->tids[j], &st, __WALL | WNOHANG) > 0 && (r = on_status(p, j, st)))
			return r;
	}
	return 0;
}

/* Wait until tids[i] reaches a ptrace-stop or exits. */
static int wait_stop(struct dump_proc *p, int i)
{
	long deadline = mono_ms() + STOP_TIMEOUT_MS;
	pid_t tid = p->tids[i];

	while (!(p->thread_flags[i] & (TF_STOPPED | TF_GONE))) {
		int st, r;
		pid_t w = waitpid(tid, &st, __WALL | WNOHANG);
		long left;

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {		/* no longer ours to wait for: gone */
			p->thread_flags[i] |= TF_GONE;
			break;
		}
		r = w > 0 ? on_status(p, i, st) : reap_siblings(p, i);
		if (r)
			return r;
		if (w > 0)
			continue;
		left = deadline - mono_ms();
		if (left <= 0) {
			pr_err("thread %d of process %d did not stop (uninterruptible sleep?)",
			       tid, p->pid);
			return -ETIMEDOUT;
		}
		wait_sigchld(left);
	}
	return 0;
}

/* Forget the threads that exited; -ESRCH when the leader is one. */
static int drop_gone_threads(struct dump_proc *p)
{
	if (p->nr_threads && (p->thread_flags[0] & TF_GONE))
		return -ESRCH;
	for (int i = p->nr_threads - 1; i > 0; i--)
		if (p->thread_flags[i] & TF_GONE)
			ptree_drop_thread(p, i);
	return 0;
}

static void detach_thread(struct dump_proc *p, int i);

/* A descendant that exits before the whole tree is frozen simply was not
 * there at the freeze; the root doing so ends the dump. */
static int proc_gone(struct dump_tree *tree, int n)
{
	struct dump_proc *p = &tree->procs[n];

	if (n == 0) {
		pr_err("process %d exited while being frozen", p->pid);
		return -ESRCH;
	}
	pr_debug("process %d exited while being frozen: left out", p->pid);
	if (ptree_pid_push(&tree->gone, &tree->nr_gone, &tree->cap_gone, p->pid))
		return -ENOMEM;
	for (int i = 0; i < p->nr_threads; i++)
		if ((p->thread_flags[i] & TF_SEIZED) && !(p->thread_flags[i] & TF_GONE))
			detach_thread(p, i);
	free(p->tids);
	free(p->thread_state);
	free(p->thread_flags);
	memmove(p, p + 1, (tree->nr_procs - n - 1) * sizeof(*p));
	tree->nr_procs--;
	return 0;
}

static int wait_all_stopped_blocked(struct dump_tree *tree)
{
	for (int n = 0; n < tree->nr_procs; n++) {
		struct dump_proc *p = &tree->procs[n];
		int r = 0;

		for (int i = 0; i < p->nr_threads && !r; i++)
			r = wait_stop(p, i);
		if (r)
			return r;
		if (drop_gone_threads(p)) {
			r = proc_gone(tree, n--);
			if (r)
				return r;
		}
	}
	return 0;
}

static int wait_all_stopped(struct dump_tree *tree)
{
	sigset_t chld, old;
	int r;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	r = wait_all_stopped_blocked(tree);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* Once all is stopped, parents cannot change any more, except that of an
 * orphan whose parent exited while we were seizing: it left the tree then. */
static void refresh_links(struct dump_tree *tree)
{
	for (int n = 1; n < tree->nr_procs; n++) {
		struct dump_proc *p = &tree->procs[n];
		struct proc_stat ps;

		if (ptree_read_stat(p->pid, 0, &ps))
			continue;
		p->ppid = ps.ppid;
		p->pgid = ps.pgid;
		p->sid = ps.sid;
		if (!ptree_find(tree, p->ppid)) {
			pr_warn("process %d was orphaned while being frozen: left out", p->pid);
			for (int i = 0; i < p->nr_threads; i++)
				detach_thread(p, i);
			p->nr_threads = 0;
			proc_gone(tree, n--);
		}
	}
}

/* One round: new children, new threads, then wait until all are stopped.
 * Returns how many new threads or processes were found. */
static int seize_round(struct dump_tree *tree, bool wait)
{
	int found = 0, r;

	r = ptree_collect_children(tree);
	if (r < 0)
		return r;
	found += r;
	for (int n = 0; n < tree->nr_procs; n++) {
		r = seize_threads(&tree->procs[n]);
		if (r == -ESRCH) {
			r = proc_gone(tree, n--);
			found++;
		}
		if (r < 0)
			return r;
		found += r;
	}
	if (wait) {
		r = wait_all_stopped(tree);
		if (r < 0)
			return r;
	}
	return found;
}

static bool cgroup_is_own(struct dump_tree *tree, const char *dir)
{
	pid_t *pids;
	int nr;
	bool own = true;

	if (fcg_procs(dir, &pids, &nr))
		return false;
	for (int i = 0; i < nr && own; i++)
		own = pids[i] != getpid() && ptree_find(tree, pids[i]);
	free(pids);
	return own && nr > 0;
}

/* --freezer auto|cgroup: the v2 cgroup of the root if the tree has it to
 * itself, else its v1 freezer cgroup likewise. */
static int pick_cgroup(struct dump_tree *tree, const struct seize_opts *opts)
{
	pid_t root = tree->procs[0].pid;

	if (opts->freeze_cgroup) {
		int kind = fcg_kind(opts->freeze_cgroup);
		pid_t *pids;
		int nr;

		if (kind < 0) {
			pr_err("%s is not a writable freezer cgroup (no cgroup.freeze or freezer.state)",
			       opts->freeze_cgroup);
			return -EINVAL;
		}
		if (fcg_procs(opts->freeze_cgroup, &pids, &nr))
			return -EINVAL;
		for (int i = 0; i < nr; i++)
			if (pids[i] == getpid())
				kind = -1;
		free(pids);
		if (kind < 0) {
			pr_err("cgroup %s contains criu-lite itself", opts->freeze_cgroup);
			return -EINVAL;
		}
		snprintf(tree->cgroup, sizeof(tree->cgroup), "%s", opts->freeze_cgroup);
		tree->cgroup_v2 = kind == 2;
		return 1;
	}
	for (int v2 = 1; v2 >= 0; v2--) {
		if (fcg_of_pid(root, v2, tree->cgroup, sizeof(tree->cgroup)))
			continue;
		if (fcg_kind(tree->cgroup) == (v2 ? 2 : 1) && cgroup_is_own(tree, tree->cgroup)) {
			tree->cgroup_v2 = v2;
			return 1;
		}
	}
	tree->cgroup[0] = '\0';
	if (opts->freezer == FREEZER_CGROUP) {
		pr_err("process %d has no freezer cgroup of its own (use --freeze-cgroup PATH or --freezer ptrace)",
		       root);
		return -EINVAL;
	}
	return 0;
}

static int check_root(pid_t root, struct proc_stat *ps)
{
	int r;

	if (root <= 0) {
		pr_err("invalid pid %d", root);
		return -EINVAL;
	}
	r = ptree_read_stat(root, 0, ps);
	if (r == -ENOENT || r == -ESRCH) {
		pr_err("no such process: %d", root);
		return -ESRCH;
	}
	if (r) {
		errno = -r;
		return pr_perror("cannot read /proc/%d/stat", root);
	}
	if (ps->state == 'Z' || ps->state == 'X') {
		pr_err("process %d is a zombie (exited, not yet reaped): nothing to dump", root);
		return -EINVAL;
	}
	if (root == getpid()) {
		pr_err("criu-lite cannot dump itself");
		return -EINVAL;
	}
	return 0;
}

int seize_check_root(pid_t root)
{
	struct proc_stat ps;

	return check_root(root, &ps);
}

const char *seize_freezer_name(enum freezer_kind k)
{
	static const char *const names[] = {
		[FREEZER_AUTO] = "auto", [FREEZER_CGROUP] = "cgroup",
		[FREEZER_PTRACE] = "ptrace", [FREEZER_SIGSTOP] = "sigstop",
	};
	return names[k];
}

static int freeze_and_seize(struct dump_tree *tree)
{
	int r;

	if (tree->used == FREEZER_CGROUP) {
		/* Told before the write: frozen by us and left so by our death
		 * would stay frozen after the tracees are detached. */
		tree->guard_note = guardian_note_cgroup(tree->cgroup, tree->cgroup_v2,
							fcg_frozen_before(tree->cgroup, tree->cgroup_v2));
		r = fcg_freeze(tree->cgroup, tree->cgroup_v2, &tree->cgroup_was_frozen);
		if (r)
			return r;
		fault_point("freeze: cgroup frozen");
		/* Frozen, nothing forks: one round seizes all. v1-frozen tasks
		 * reach the interrupt stop only once thawed, so thaw before
		 * waiting; seized and interrupted, they stop before user code. */
		r = seize_round(tree, false);
		if (!r)
			r = fault_step("freeze: cgroup frozen and seized");
		if (fcg_thaw(tree->cgroup, tree->cgroup_v2) && r >= 0)
			r = -EIO;
		fault_point("freeze: cgroup thawed");
		if (r < 0)
			return r;
	}
	do
		r = seize_round(tree, true);
	while (r > 0);
	if (!r)
		refresh_links(tree);
	return r;
}

int seize_tree(pid_t root, const struct seize_opts *opts, struct dump_tree *tree)
{
	struct proc_stat ps;
	int r, nr_threads = 0;

	memset(tree, 0, sizeof(*tree));
	tree->released = true;		/* nothing to release yet */
	r = check_root(root, &ps);
	if (r)
		return r;
	r = ptree_add_proc(tree, root, &ps);
	if (r)
		return r;
	tree->released = false;
	tree->used = opts->freezer;
	if (opts->freezer == FREEZER_AUTO || opts->freezer == FREEZER_CGROUP || opts->freeze_cgroup) {
		/* A first look at the tree decides whether its cgroup is its own. */
		r = ptree_collect_children(tree);
		if (r >= 0)
			r = pick_cgroup(tree, opts);
		if (r < 0)
			goto fail;
		tree->used = r ? FREEZER_CGROUP : FREEZER_PTRACE;
	}
	/* Downtime starts here: the looks above left the tree running. */
	boost(true);
	tree->freeze_start_ns = mono_ns();
	if (tree->used == FREEZER_SIGSTOP)
		for (int i = 0; i < tree->nr_procs; i++) {
			if (tree->procs[i].state != 'T')
				tree->procs[i].guard_note = guardian_note_sigcont(tree->procs[i].pid);
			kill(tree->procs[i].pid, SIGSTOP);
			fault_point("freeze: SIGSTOP sent");
		}
	r = freeze_and_seize(tree);
	ptree_cache_free();
	if (r < 0)
		goto fail;
	for (int i = 0; i < tree->nr_procs; i++)
		nr_threads += tree->procs[i].nr_threads;
	pr_info("frozen %d processes, %d threads (freezer %s%s%s)", tree->nr_procs, nr_threads,
		seize_freezer_name(tree->used), tree->cgroup[0] ? " " : "", tree->cgroup);
	return 0;
fail:
	ptree_cache_free();
	seize_release(tree, RELEASE_RUN);
	dump_tree_free(tree);
	return r;
}

/* Collect the exit of every thread of a tree SIGKILLed while traced, in
 * whatever order the kernel reports them: a traced leader's exit is
 * reported only once its other threads are reaped, so waiting for the
 * leader first would wait for nothing until its deadline. Nothing stays
 * traced or a zombie of ours when this returns (2 s at most). */
static void reap_killed(struct dump_tree *tree)
{
	long deadline = mono_ms() + KILL_REAP_MS, left_ms;
	sigset_t chld, old;
	int left;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	do {
		left = 0;
		for (int n = 0; n < tree->nr_procs; n++) {
			struct dump_proc *p = &tree->procs[n];

			for (int i = 0; i < p->nr_threads; i++) {
				pid_t r;
				int st;

				if (!(p->thread_flags[i] & TF_SEIZED) || (p->thread_flags[i] & TF_GONE))
					continue;
				r = waitpid(p->tids[i], &st, __WALL | WNOHANG);
				if ((r < 0 && errno != EINTR) ||
				    (r > 0 && (WIFEXITED(st) || WIFSIGNALED(st))))
					p->thread_flags[i] |= TF_GONE;
				else
					left++;
			}
		}
		left_ms = deadline - mono_ms();
		if (left && left_ms > 0)
			wait_sigchld(left_ms);
	} while (left && left_ms > 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* PTRACE_DETACH needs a ptrace-stop. A thread seized but not yet stopped (an
 * error path) is waited for first; if it never stops our exit detaches it. */
static void detach_thread(struct dump_proc *p, int i)
{
	pid_t tid = p->tids[i];

	if (!ptrace(PTRACE_DETACH, tid, NULL, NULL) || errno != ESRCH)
		return;
	if (!(p->thread_flags[i] & TF_STOPPED) || !ptrace(PTRACE_INTERRUPT, tid, NULL, NULL)) {
		long deadline = mono_ms() + 1000;
		int st;

		while (mono_ms() < deadline) {
			pid_t r = waitpid(tid, &st, __WALL | WNOHANG);

			if (r < 0 || (r > 0 && !WIFSTOPPED(st)))
				return;		/* gone */
			if (r > 0 && st >> 16 != PTRACE_EVENT_STOP) {
				/* a signal-delivery-stop: let it have its signal */
				ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)WSTOPSIG(st));
				return;
			}
			if (r > 0)
				break;
			usleep(100);
		}
		if (ptrace(PTRACE_DETACH, tid, NULL, NULL))
			pr_warn("cannot detach thread %d: %s", tid, strerror(errno));
	}
}

/* -s: the SIGSTOP queued before the detach takes effect once each thread
 * runs again; whoever looks right after we return (a script, a test) must
 * see the tree stopped, so wait for it (1 s at most per process). */
static void wait_group_stopped(struct dump_tree *tree)
{
	for (int n = 0; n < tree->nr_procs; n++) {
		long deadline = mono_ms() + 1000;
		struct proc_stat ps;

		while (!ptree_read_stat(tree->procs[n].pid, 0, &ps) && ps.state != 'T' &&
		       ps.state != 'Z' && mono_ms() < deadline)
			usleep(1000);
	}
}

void seize_release(struct dump_tree *tree, enum release_mode mode)
{
	if (!tree || tree->released)
		return;
	tree->released = true;
	for (int n = 0; n < tree->nr_procs; n++) {
		/* Queued while still traced: delivered once detached. */
		if (mode == RELEASE_KILL)
			kill(tree->procs[n].pid, SIGKILL);
		else if (mode == RELEASE_STOPPED)
			kill(tree->procs[n].pid, SIGSTOP);
	}
	if (mode == RELEASE_KILL)
		reap_killed(tree);
	for (int n = 0; n < tree->nr_procs; n++) {
		struct dump_proc *p = &tree->procs[n];

		for (int i = 0; i < p->nr_threads; i++) {
			if (mode != RELEASE_KILL && (p->thread_flags[i] & TF_SEIZED) &&
			    !(p->thread_flags[i] & TF_GONE)) {
				detach_thread(p, i);
				fault_point("release: thread detached");
			}
			p->thread_flags[i] = 0;
		}
	}
	/* Not to one that was stopped before we came: it stays stopped. */
	if (tree->used == FREEZER_SIGSTOP && mode == RELEASE_RUN)
		for (int n = 0; n < tree->nr_procs; n++)
			if (tree->procs[n].state != 'T') {
				kill(tree->procs[n].pid, SIGCONT);
				fault_point("release: SIGCONT sent");
			}
	if (mode == RELEASE_STOPPED)
		wait_group_stopped(tree);
	if (tree->used == FREEZER_CGROUP && tree->cgroup_was_frozen && mode != RELEASE_KILL)
		fcg_freeze(tree->cgroup, tree->cgroup_v2, &tree->cgroup_was_frozen);
	for (int n = 0; n < tree->nr_procs; n++)
		guardian_clear(tree->procs[n].guard_note);
	guardian_clear(tree->guard_note);
	boost(false);
	pr_debug("tree released (%s)", mode == RELEASE_RUN ? "running" :
		 mode == RELEASE_STOPPED ? "stopped" : "killed");
}

void dump_tree_free(struct dump_tree *tree)
{
	if (!tree)
		return;
	for (int n = 0; n < tree->nr_procs; n++) {
		free(tree->procs[n].tids);
		free(tree->procs[n].thread_state);
		free(tree->procs[n].thread_flags);
	}
	free(tree->procs);
	free(tree->gone);
	free(tree->zombies);
	tree->procs = NULL;
	tree->gone = NULL;
	tree->zombies = NULL;
	tree->nr_zombies = tree->cap_zombies = 0;
	tree->nr_procs = tree->cap_procs = 0;
	tree->nr_gone = tree->cap_gone = 0;
}
