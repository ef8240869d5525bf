/* The guardian leaves criu-lite's cgroups (issue 15): a kill of a whole
 * cgroup (systemd stopping a unit with KillMode=control-group, `echo 1 >
 * cgroup.kill`, an OOM kill with memory.oom.group=1) takes every process
 * in it and below it at once; a guardian still in criu-lite's cgroup would
 * die with it and the tree would keep what the dump did to it.
 *
 * Where to: the root of each hierarchy as mounted here. No unit, slice or
 * OOM group can reach it; v2 exempts the root from "no processes in a
 * cgroup whose controllers are on for its children", so the write cannot
 * fail for that; nothing is made, so nothing is left to remove if
 * criu-lite and the guardian both die. (The target's cgroup is no choice:
 * it may be the one frozen. A sibling of criu-lite's cgroup dies with a
 * kill of their parent, a slice.) The cost: while it runs (a few
 * hundred KiB, asleep on a socket) the guardian is not counted against
 * criu-lite's memory and pids limits.
 *
 * When the root refuses (a cgroup namespace whose root has controllers on
 * for its children: EBUSY), the guardian makes a leaf of its own there,
 * criu-lite-guardian-PID (criu-lite's pid), and moves into it. criu-lite
 * removes it once the guardian is reaped; if criu-lite died, the guardian,
 * the last process in it, cannot remove it, so each guardian first removes
 * such leaves that are empty.
 *
 * Which hierarchies: v2, and the v1 hierarchies that track processes
 * rather than limit them (name=systemd, name=elogind...): that is where a
 * service manager finds a unit's processes to kill them. v1 controller
 * hierarchies (memory, pids, cpu...) have no group kill (no cgroup.kill,
 * no oom.group in v1); leaving them would only take the guardian out of
 * the limits an admin set. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/cgroup.h"
#include "criu-lite/survive/guardian_journal.h"
#include "images/log.h"

#define LEAF_PREFIX "criu-lite-guardian-"
#define RMDIR_TRIES 200		/* 10 ms apart: the guardian is reaped, its cgroup
				 * unpopulated a moment later */

/* Empty leaves of dead guardians (criu-lite died; see above). A live
 * guardian's is populated: rmdir fails with EBUSY. One just made and not
 * yet entered may go: its maker retries. */
static void sweep_leaves(const char *mnt)
{
	char path[1024];
	struct dirent *e;
	DIR *d = opendir(mnt);

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, LEAF_PREFIX, strlen(LEAF_PREFIX))) {
			snprintf(path, sizeof(path), "%s/%s", mnt, e->d_name);
			rmdir(path);
		}
	if (d)
		closedir(d);
}

static int enter_leaf(const char *mnt, pid_t dumper, char *leaf, size_t len)
{
	int r = -ENOENT;

	sweep_leaves(mnt);
	if (snprintf(leaf, len, "%s/" LEAF_PREFIX "%d", mnt, (int)dumper) >= (int)len)
		return -ENAMETOOLONG;
	for (int tries = 0; tries < 3 && r == -ENOENT; tries++) {
		if (mkdir(leaf, 0755) && errno != EEXIST)
			return -errno;
		r = cgroup_move(leaf, getpid());
	}
	if (r)
		rmdir(leaf);
	return r;
}

struct leave {
	int sock;
	pid_t dumper;
	struct gj_rec *ack;
};

static int leave_one(const struct cgroup_hier *h, void *arg)
{
	struct leave *l = arg;
	struct gj_rec made = { .kind = GJ_CGLEAF };
	int r;

	if (h->at_root || (!h->v2 && strncmp(h->ctrl, "name=", 5)))
		return 0;
	r = cgroup_move(h->mnt, getpid());
	if (r == -EBUSY && h->v2) {
		r = enter_leaf(h->mnt, l->dumper, made.path, sizeof(made.path));
		if (!r)
			send(l->sock, &made, sizeof(made), MSG_NOSIGNAL);
	}
	if (!r)
		pr_debug("guardian: out of cgroup %s", h->dir);
	if (r && !l->ack->flag) {
		l->ack->flag = r;
		snprintf(l->ack->path, sizeof(l->ack->path), "%.*s", (int)sizeof(l->ack->path) - 1,
			 h->dir);
	}
	return 0;
}

void gc_leave(int sock, pid_t dumper)
{
	struct gj_rec ack = { .kind = GJ_ACK };
	struct leave l = { sock, dumper, &ack };
	int r = cgroup_each(getpid(), leave_one, &l);

	if (r && !ack.flag) {
		ack.flag = r;
		snprintf(ack.path, sizeof(ack.path), "/proc/self/cgroup");
	}
	send(sock, &ack, sizeof(ack), MSG_NOSIGNAL);
}

int gc_await(int sock, char *leaf, size_t len)
{
	struct timeval tv = { .tv_sec = 10 };
	struct gj_rec r;
	ssize_t k;

	leaf[0] = 0;
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	do {
		while ((k = recv(sock, &r, sizeof(r), 0)) < 0 && errno == EINTR)
			;
		if (k != sizeof(r)) {
			pr_err("the guardian did not start (%s)", k < 0 ? strerror(errno) : "it died");
			return -ECHILD;
		}
		if (r.kind == GJ_CGLEAF)
			snprintf(leaf, len, "%s", r.path);
	} while (r.kind != GJ_ACK);
	tv.tv_sec = 0;
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (r.flag)
		pr_warn("the guardian cannot leave cgroup %s (%s): if that cgroup is killed as a "
			"whole, the tree keeps what this dump does to it", r.path,
			strerror(-r.flag));
	return 0;
}

void gc_remove(const char *leaf)
{
	struct timespec ts = { 0, 10 * 1000000L };

	int i = 0;

	while (leaf[0] && rmdir(leaf) && errno == EBUSY && ++i < RMDIR_TRIES)
		nanosleep(&ts, NULL);
	if (leaf[0] && i == RMDIR_TRIES)
		pr_warn("cannot remove the guardian's cgroup %s: %m", leaf);
}
