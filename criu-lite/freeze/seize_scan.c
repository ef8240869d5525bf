/* Scanning /proc for the tree being seized: which processes descend from
 * the root (ppid links read from every /proc/PID/stat, since this kernel
 * lacks /proc/PID/task/TID/children) and the per-process thread lists. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/procfs.h"
#include "criu-lite/freeze/seize_scan.h"
#include "criu-lite/survive/guardian.h"
#include "images/log.h"


/* /proc/PID/task/TID/stat (tid = 0: /proc/PID/stat). comm may hold ')' and
 * spaces, so parse from the last ')'. */
int ptree_read_stat(pid_t pid, pid_t tid, struct proc_stat *ps)
{
	char name[64], buf[1024], *p;
	ssize_t n;
	FILE *f;

	if (tid)
		snprintf(name, sizeof(name), "task/%d/stat", tid);
	else
		snprintf(name, sizeof(name), "stat");
	f = procfs_fopen(pid, name, PROCFS_QUIET);
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %d %d %d %*d %*d %u", &ps->state, &ps->ppid, &ps->pgid,
			 &ps->sid, &ps->flags) != 5)
		return -EIO;
	return 0;
}

struct dump_proc *ptree_find(struct dump_tree *tree, pid_t pid)
{
	for (int i = 0; i < tree->nr_procs; i++)
		if (tree->procs[i].pid == pid)
			return &tree->procs[i];
	return NULL;
}

/* Processes that exited while we seized are never taken in again: the
 * /proc scan may still hold the state it read while one was alive ('R'
 * from an earlier scan), which would have us add and drop it forever. */
bool ptree_gone(const struct dump_tree *tree, pid_t pid)
{
	for (int i = 0; i < tree->nr_gone; i++)
		if (tree->gone[i] == pid)
			return true;
	return false;
}

int ptree_add_proc(struct dump_tree *tree, pid_t pid, const struct proc_stat *ps)
{
	struct dump_proc *p;

	if (tree->nr_procs == tree->cap_procs) {
		int ncap = tree->cap_procs ? tree->cap_procs * 2 : 8;

		p = realloc(tree->procs, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		tree->procs = p;
		tree->cap_procs = ncap;
	}
	p = &tree->procs[tree->nr_procs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->ppid = ps->ppid;
	p->pgid = ps->pgid;
	p->sid = ps->sid;
	p->state = ps->state;
	/* With the SIGSTOP freezer every process we learn of gets one, so a
	 * child born meanwhile is stopped like the others. */
	if (tree->used == FREEZER_SIGSTOP) {
		if (ps->state != 'T')	/* told first: the guardian continues it */
			p->guard_note = guardian_note_sigcont(pid);
		kill(pid, SIGSTOP);
		fault_point("freeze: SIGSTOP sent");
	}
	pr_debug("tree: process %d (parent %d, state %c)", pid, ps->ppid, ps->state);
	return 0;
}

int ptree_add_thread(struct dump_proc *p, pid_t tid, char state)
{
	if (p->nr_threads == p->cap_threads) {
		int ncap = p->cap_threads ? p->cap_threads * 2 : 8;
		pid_t *t = realloc(p->tids, ncap * sizeof(*t));
		char *s;
		unsigned char *f;

		if (!t)
			return -ENOMEM;
		p->tids = t;
		s = realloc(p->thread_state, ncap);
		if (!s)
			return -ENOMEM;
		p->thread_state = s;
		f = realloc(p->thread_flags, ncap);
		if (!f)
			return -ENOMEM;
		p->thread_flags = f;
		p->cap_threads = ncap;
	}
	p->tids[p->nr_threads] = tid;
	p->thread_state[p->nr_threads] = state;
	p->thread_flags[p->nr_threads] = 0;
	return p->nr_threads++;
}

void ptree_drop_thread(struct dump_proc *p, int i)
{
	int rest = p->nr_threads - i - 1;

	memmove(&p->tids[i], &p->tids[i + 1], rest * sizeof(p->tids[0]));
	memmove(&p->thread_state[i], &p->thread_state[i + 1], rest);
	memmove(&p->thread_flags[i], &p->thread_flags[i + 1], rest);
	p->nr_threads--;
}

struct pid_stat {
	pid_t pid;
	struct proc_stat ps;
};

/* What the previous /proc scan of this seize read, sorted by pid. A scan
 * made while the tree is frozen then reads the stat of new pids only: that
 * scan is downtime, and reading every process's stat on a busy machine
 * costs tens of milliseconds. A process seen before cannot have become a
 * descendant since: reparenting only moves a process to an ancestor (a
 * subreaper in the tree means it already was in the tree). */
static struct {
	struct pid_stat *v;
	int nr;
} scan_cache;

static int cmp_pid(const void *a, const void *b)
{
	const struct pid_stat *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

void ptree_cache_free(void)
{
	free(scan_cache.v);
	scan_cache.v = NULL;
	scan_cache.nr = 0;
}

static int stat_cached(pid_t pid, struct proc_stat *ps)
{
	struct pid_stat key = { .pid = pid }, *hit;

	hit = scan_cache.v ? bsearch(&key, scan_cache.v, scan_cache.nr, sizeof(key), cmp_pid) : NULL;
	if (!hit)
		return ptree_read_stat(pid, 0, ps);
	*ps = hit->ps;
	return 0;
}

int ptree_pid_push(pid_t **v, int *nr, int *cap, pid_t pid)
{
	if (*nr == *cap) {
		int ncap = *cap ? *cap * 2 : 8;
		pid_t *n = realloc(*v, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		*v = n;
		*cap = ncap;
	}
	(*v)[(*nr)++] = pid;
	return 0;
}

/* A zombie child of the tree: its parent gets it back on restore. */
static int note_zombie(struct dump_tree *tree, pid_t pid)
{
	for (int i = 0; i < tree->nr_zombies; i++)
		if (tree->zombies[i] == pid)
			return 0;
	return ptree_pid_push(&tree->zombies, &tree->nr_zombies, &tree->cap_zombies, pid);
}

/* Add every live descendant of the tree that is not in it yet; returns how
 * many were added. /proc/PID/task/TID/children is not built into every
 * kernel (not this one), so ppid links are read from every /proc/PID/stat. */
int ptree_collect_children(struct dump_tree *tree)
{
	struct pid_stat *all = NULL;
	int nr = 0, cap = 0, added = 0, r = 0, more = 1;
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return pr_perror("cannot open /proc");
	while ((de = readdir(d))) {
		pid_t pid = atoi(de->d_name);

		if (pid <= 0)
			continue;
		if (nr == cap) {
			void *n = realloc(all, (cap = cap ? cap * 2 : 256) * sizeof(*all));

			if (!n) {
				r = -ENOMEM;
				break;
			}
			all = n;
		}
		all[nr].pid = pid;
		if (!stat_cached(pid, &all[nr].ps))
			nr++;
	}
	closedir(d);
	if (!r) {
		qsort(all, nr, sizeof(*all), cmp_pid);
		free(scan_cache.v);
		scan_cache.v = malloc(nr * sizeof(*all) + 1);
		scan_cache.nr = scan_cache.v ? nr : 0;
		if (scan_cache.v)
			memcpy(scan_cache.v, all, nr * sizeof(*all));
	}
	/* Repeat so that a grandchild listed before its parent is still found. */
	while (!r && more) {
		more = 0;
		for (int i = 0; i < nr && !r; i++) {
			if (!ptree_find(tree, all[i].ps.ppid) || ptree_find(tree, all[i].pid) ||
			    ptree_gone(tree, all[i].pid))
				continue;
			if (all[i].pid == getpid()) {
				pr_err("the tree of %d contains criu-lite itself", tree->procs[0].pid);
				r = -EINVAL;
			} else if (all[i].ps.state == 'Z' || all[i].ps.state == 'X') {
				r = note_zombie(tree, all[i].pid);
			} else {
				r = ptree_add_proc(tree, all[i].pid, &all[i].ps);
				added++;
				more = 1;
			}
		}
	}
	free(all);
	return r < 0 ? r : added;
}

