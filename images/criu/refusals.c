/* What a CRIU dump holds that criu-lite's restore cannot bring back:
 * namespaces and cgroups (a container's), kinds of files and sockets it
 * does not recreate, queued socket bytes, POSIX timers, seccomp filters,
 * zombies... Restore must refuse such a dump rather than start something
 * that differs from what was dumped; convert, show and import have no use
 * for this. Collected into one line, each kind named once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images/criu/criu.h"
#include "images/log.h"

#define LOGINUID_UNSET 0xffffffffu

/* Images whose mere content (one entry or more) is state restore lacks. */
static const struct { enum cimg_kind k; const char *what; } kinds[] = {
	{ CIMG_MNTS, "mount namespaces" }, { CIMG_NETNS, "network namespaces" },
	{ CIMG_UTSNS, "UTS namespaces" }, { CIMG_IPCNS_VAR, "IPC namespaces" },
	{ CIMG_IPCNS_SHM, "SysV shared memory" }, { CIMG_IPCNS_MSG, "SysV message queues" },
	{ CIMG_IPCNS_SEM, "SysV semaphores" }, { CIMG_USERNS, "user namespaces" },
	{ CIMG_PIDNS, "pid namespaces" }, { CIMG_CGROUP, "cgroup memberships" },
	{ CIMG_TTY_FILES, "terminals" }, { CIMG_TTY_INFO, "terminals" },
	{ CIMG_INETSK, "TCP/UDP sockets" }, { CIMG_TCP_STREAM, "TCP connections" },
	{ CIMG_PACKETSK, "packet sockets" }, { CIMG_NETLINKSK, "netlink sockets" },
	{ CIMG_FILE_LOCKS, "file locks" }, { CIMG_POSIX_TIMERS, "POSIX timers" },
	{ CIMG_INOTIFY, "inotify watches" }, { CIMG_FANOTIFY, "fanotify marks" },
	{ CIMG_MEMFD_INODE, "memfd files" }, { CIMG_GHOST_FILE, "deleted files" },
	{ CIMG_REMAP_FPATH, "deleted or moved files" }, { CIMG_EXT_FILES, "external files" },
	{ CIMG_TUNFILE, "tun devices" }, { CIMG_NS_FILES, "namespace files" },
	{ CIMG_BPFMAP_FILE, "BPF maps" }, { CIMG_AUTOFS, "autofs mounts" },
	{ CIMG_BINFMT_MISC, "binfmt_misc entries" }, { CIMG_APPARMOR, "AppArmor profiles" },
	{ CIMG_SHMEM_PAGEMAP, "shared anonymous memory" },
	{ CIMG_EVENTFD, "eventfds (old images)" }, { CIMG_EVENTPOLL, "epolls (old images)" },
	{ CIMG_SIGNALFD, "signalfds (old images)" }, { CIMG_TIMERFD, "timerfds (old images)" },
	{ CIMG_SIGACT, "images of CRIU before 3.0" }, { CIMG_CREDS, "images of CRIU before 3.0" },
};

/* Add `what` to the refusal, once. */
static int refuse(struct cdump *cd, const char *what)
{
	static const char head[] = "the CRIU dump holds what criu-lite cannot restore: ";
	char *n;

	if (cd->refusal && strstr(cd->refusal, what))
		return 0;
	if (asprintf(&n, "%s%s%s", cd->refusal ? cd->refusal : head, cd->refusal ? ", " : "",
		     what) < 0)
		return -ENOMEM;
	free(cd->refusal);
	cd->refusal = n;
	return 0;
}

static int refuse_images(struct cdump *cd)
{
	char **names;
	size_t n;
	int r = csrc_names(cd->src, &names, &n);

	for (size_t i = 0; !r && i < n; i++) {
		uint64_t id;
		size_t entries;
		int k = cimg_kind_of_name(names[i], &id);

		for (size_t j = 0; k >= 0 && !r && j < sizeof(kinds) / sizeof(kinds[0]); j++) {
			if ((int)kinds[j].k != k)
				continue;
			r = cimg_count(cd->src, k, id, &entries);
			if (!r && entries)
				r = refuse(cd, kinds[j].what);
		}
	}
	if (r >= 0)
		csrc_names_free(names, n);
	return r;
}

static int refuse_seccomp(struct cdump *cd)
{
	Criu__SeccompEntry *s;
	int r = cimg_read_one(cd->src, CIMG_SECCOMP, 0, false, (void **)&s);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (s->n_seccomp_filters)
		r = refuse(cd, "seccomp filters");
	cimg_free(s);
	return r;
}

int crefuse_dump(struct cdump *cd)
{
	uint64_t queued = 0;
	char buf[96];
	int r = refuse_images(cd);

	if (!r)
		r = refuse_seccomp(cd);
	for (size_t i = 0; i < cd->nr_skq; i++)
		queued += cd->skq[i].bytes;
	if (!r && queued) {
		snprintf(buf, sizeof(buf), "%llu bytes queued in sockets",
			 (unsigned long long)queued);
		r = refuse(cd, buf);
	}
	return r;
}

int crefuse_core(struct cdump *cd, const Criu__PstreeEntry *ps, const Criu__CoreEntry *core)
{
	const Criu__TaskCoreEntry *tc = core->tc;
	const Criu__ThreadCoreEntry *th = core->thread_core;
	int r = 0;

	(void)ps;
	if (!tc)
		return 0;
	if (tc->task_state == 2 || tc->task_state == 6)
		r = refuse(cd, "zombie processes");
	if (!r && tc->timers && tc->timers->n_posix)
		r = refuse(cd, "POSIX timers");
	if (!r && tc->has_child_subreaper && tc->child_subreaper)
		r = refuse(cd, "child subreapers");
	if (!r && tc->has_oom_score_adj && tc->oom_score_adj)
		r = refuse(cd, "an oom_score_adj");
	if (!r && tc->has_loginuid && tc->loginuid != LOGINUID_UNSET)
		r = refuse(cd, "an audit login uid");
	if (!r && th && th->has_pdeath_sig && th->pdeath_sig)
		r = refuse(cd, "parent-death signals");
	if (!r && th && th->has_seccomp_mode && th->seccomp_mode == CRIU__SECCOMP_MODE__filter)
		r = refuse(cd, "seccomp filters");
	return r;
}
