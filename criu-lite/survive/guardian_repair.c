/* What the guardian undoes once criu-lite is dead: see guardian.h for the
 * order and why. Each step logs one line; none stops the others. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fd/socket.h"
#include "common/infect.h"
#include "common/procfs.h"
#include "criu-lite/survive/guardian_hold.h"
#include "criu-lite/survive/guardian_journal.h"
#include "images/log.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define WAIT_STEP_MS	5
#define WAIT_MAX_MS	2000

static void nap(void)
{
	struct timespec ts = { 0, WAIT_STEP_MS * 1000000L };

	nanosleep(&ts, NULL);
}

/* /proc/PID/stat: state (field 3) and exit signal (field 38). */
static int stat_of(pid_t pid, char *state, int *exit_signal)
{
	char buf[1024], *p;
	FILE *f = procfs_fopen(pid, "stat", PROCFS_QUIET);
	int ok;

	if (!f)
		return -ESRCH;
	ok = fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'));
	fclose(f);
	if (!ok)
		return -EIO;
	/* after ")": field 3 (state) first, field 38 (exit signal) 35 on */
	p += 2;
	*state = *p;
	for (int field = 3; field < 38 && p; field++)
		if ((p = strchr(p, ' ')))
			p++;
	return p ? (*exit_signal = atoi(p), 0) : -EIO;
}

#define PAGE_UP(x) (((x) + 4095) & ~4095ull)

/* One syscall in tid, held (gh_hold) by us. */
static int inject(pid_t tid, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t *ret)
{
	struct infect inf;
	int r = infect_start(&inf, tid);

	if (!r)
		r = infect_syscall(&inf, nr, ret, a1, a2, a3, 0, 0, 0);
	if (infect_stop(&inf) && !r)
		r = -EIO;
	return r;
}

static bool mapped_exactly(pid_t pid, uint64_t addr, uint64_t len)
{
	char want[64], line[512];
	FILE *f = procfs_fopen(pid, "maps", PROCFS_QUIET);
	bool found = false;

	if (!f)
		return false;
	snprintf(want, sizeof(want), "%llx-%llx ", (unsigned long long)addr,
		 (unsigned long long)PAGE_UP(addr + len));
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, want, strlen(want));
	fclose(f);
	return found;
}

static bool is_uffd(pid_t pid, int fd)
{
	char name[32], *link = NULL;
	bool yes;

	snprintf(name, sizeof(name), "fd/%d", fd);
	if (procfs_readlink(pid, name, &link) < 0)
		return false;
	yes = strstr(link, "userfaultfd") != NULL;
	free(link);
	return yes;
}

/* Children of pid that are fork copies: the one named, or any whose exit
 * signal is 0 (a copy whose pid criu-lite never read). SIGKILLed now,
 * reaped in the parent later; their pids go to `out`. */
static int kill_copies(const struct gj_rec *c, pid_t *out, int max)
{
	char path[80], buf[4096];
	int n = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", c->pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		char *p, *end;
		int fd;
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", c->pid, atoi(e->d_name));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		k = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		buf[k > 0 ? k : 0] = 0;
		for (p = buf; n < max; p = end) {
			long child = strtol(p, &end, 10);
			char state;
			int sig = -1;

			if (end == p)
				break;
			if (child != (long)c->a &&
			    (stat_of((pid_t)child, &state, &sig) || sig != 0))
				continue;
			kill((pid_t)child, SIGKILL);
			out[n++] = (pid_t)child;
		}
	}
	if (d)
		closedir(d);
	return n;
}

static void reap_copy(pid_t parent, pid_t tid, pid_t copy)
{
	uint64_t ret = 0;
	char state = 0;
	int sig, ms, r;

	for (ms = 0; ms < WAIT_MAX_MS && !stat_of(copy, &state, &sig) && state != 'Z'; ms += 5)
		nap();
	r = inject(tid, __NR_wait4, (uint64_t)copy, 0, __WALL | WNOHANG, &ret);
	if (r || ret != (uint64_t)copy)
		pr_warn("guardian: process %d may keep the zombie of fork copy %d (%d)", parent, copy,
			r);
	else
		pr_warn("guardian: reaped fork copy %d in %d", copy, parent);
}

static void set_cgroup(const struct gj_rec *c)
{
	char path[sizeof(c->path) + 16];
	const char *val = c->flag ? (c->a ? "1" : "0") : (c->a ? "FROZEN" : "THAWED");
	int fd;

	snprintf(path, sizeof(path), "%s/%s", c->path, c->flag ? "cgroup.freeze" : "freezer.state");
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		pr_warn("guardian: cannot set %s to %s: %m", path, val);
	else
		pr_warn("guardian: cgroup %s %s", c->path, c->a ? "left frozen as it was" : "thawed");
	if (fd >= 0)
		close(fd);
}

/* The lock kept for restore, made just before a kill: if pid lives on
 * (not killed, or not yet: a killed one is a zombie within milliseconds),
 * the lock would hold its connections forever. */
#define KILLED_WAIT_MS 200

static void drop_lock(const struct gj_rec *c)
{
	char state = 0;
	int sig, home, r, ms;

	for (ms = 0; ms < KILLED_WAIT_MS; ms += WAIT_STEP_MS) {
		if (stat_of(c->pid, &state, &sig) || state == 'Z' || state == 'X')
			return;		/* killed: the lock is the restore's */
		nap();
	}
	r = sk_netns_enter(c->pid, &home);
	if (!r)
		r = sk_lock_remove(c->path);
	sk_netns_leave(home);
	if (r)
		pr_warn("guardian: cannot remove the network lock %s of %d, which was not "
			"killed", c->path, c->pid);
	else
		pr_warn("guardian: network lock %s removed: %d was not killed", c->path, c->pid);
}

static void undo_one(pid_t tid, const struct gj_rec *c)
{
	uint64_t ret = 0;
	int r;

	if (c->kind == GJ_MAPPING && mapped_exactly(c->pid, c->a, c->b)) {
		r = inject(tid, __NR_munmap, c->a, PAGE_UP(c->b), 0, &ret);
		pr_warn("guardian: %s %#llx+%llu in %d", r || ret ? "cannot unmap" : "unmapped",
			(unsigned long long)c->a, (unsigned long long)c->b, c->pid);
	}
	if (c->kind == GJ_FD && is_uffd(c->pid, (int)c->a)) {
		r = inject(tid, __NR_close, c->a, 0, 0, &ret);
		pr_warn("guardian: %s userfaultfd %d in %d", r || ret ? "cannot close" : "closed",
			(int)c->a, c->pid);
	}
}

/* Everything to undo inside one process, in one hold of all its threads,
 * none of them inside a mapping of ours. */
static void undo_in(pid_t pid, const struct gj_rec *recs, int n)
{
	pid_t copies[64];
	int nc = 0;
	static struct gh_hold h;
	static uint64_t ranges[64][2], frames[GH_MAX_THREADS][2];
	struct gh_busy busy = { (const uint64_t (*)[2])ranges, 0, (const uint64_t (*)[2])frames, 0 };
	int r;

	for (int i = 0; i < n; i++)
		if (recs[i].pid == pid && recs[i].kind == GJ_MAPPING && busy.nr < 64) {
			ranges[busy.nr][0] = recs[i].a;
			ranges[busy.nr++][1] = recs[i].a + PAGE_UP(recs[i].b);
		} else if (recs[i].kind == GJ_FRAME && busy.nf < GH_MAX_THREADS) {
			frames[busy.nf][0] = (uint64_t)recs[i].pid;	/* a tid */
			frames[busy.nf++][1] = recs[i].a;
		}
	r = gh_hold(pid, &busy, &h);
	if (r) {
		pr_warn("guardian: cannot hold %d to clean it up: %s", pid, strerror(-r));
		return;
	}
	/* Once held, not before: a thread on its way home may be making a
	 * copy yet (its clone, given before criu-lite died). */
	for (int i = 0; i < n; i++)
		if (recs[i].kind == GJ_COPY && recs[i].pid == pid)
			nc += kill_copies(&recs[i], copies + nc, 64 - nc);
	for (int i = 0; i < nc; i++)
		reap_copy(pid, h.tids[0], copies[i]);
	for (int i = 0; i < n; i++)
		if (recs[i].pid == pid)
			undo_one(h.tids[0], &recs[i]);
	gh_release(&h);
}

static bool needs_hold(const struct gj_rec *c)
{
	return c->kind == GJ_MAPPING || c->kind == GJ_FD || c->kind == GJ_COPY;
}

void gj_repair(struct gj_rec *recs, int n, bool died)
{
	int left = 0;

	for (int i = 0; i < n; i++)
		left += recs[i].kind != GJ_FRAME;
	if (!left)
		return;
	pr_warn("guardian: %s; undoing what it left", died ? "criu-lite died mid-dump"
							   : "criu-lite could not undo all");
	/* before a frozen cgroup runs on */
	for (int i = 0; i < n; i++)
		if (recs[i].kind == GJ_LOCK)
			drop_lock(&recs[i]);
	for (int i = 0; i < n; i++)
		if (recs[i].kind == GJ_CGROUP)
			set_cgroup(&recs[i]);
	/* Only if it died: a live criu-lite leaves a tree stopped on purpose
	 * (--leave-stopped) */
	for (int i = 0; i < n && died; i++)
		if (recs[i].kind == GJ_SIGCONT && !kill(recs[i].pid, SIGCONT))
			pr_warn("guardian: process %d continued", recs[i].pid);
	/* each process once, in the order first met */
	for (int i = 0; i < n; i++) {
		bool seen = false;

		for (int j = 0; j < i && !seen; j++)
			seen = needs_hold(&recs[j]) && recs[j].pid == recs[i].pid;
		if (needs_hold(&recs[i]) && !seen)
			undo_in(recs[i].pid, recs, n);
	}
}
