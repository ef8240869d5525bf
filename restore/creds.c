/* Credentials and capabilities, injected per thread (they are per-thread
 * in the kernel; glibc only makes them look per-process) and last: once a
 * thread is no longer root, it could not clone3(set_tid), map an exe_fd or
 * drop bounding capabilities. Nothing is done when the thread already has
 * the dumped creds, which is the case for a tree dumped as root. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "common/procfs.h"
#include "images/log.h"
#include "restore/rst.h"

#define NGROUPS_LIMIT 1024

struct cur_creds {
	uint32_t uid[4], gid[4];
	uint32_t groups[NGROUPS_LIMIT];
	size_t ngroups;
	uint64_t inh, prm, eff, bnd, amb;
	uint32_t nnp;
};

static int read_creds(pid_t pid, pid_t tid, struct cur_creds *c)
{
	char name[64], line[8192];
	FILE *f;

	snprintf(name, sizeof(name), "task/%d/status", tid);
	f = procfs_fopen(pid, name, 0);
	if (!f)
		return -errno;
	memset(c, 0, sizeof(*c));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "Uid: %u %u %u %u", &c->uid[0], &c->uid[1], &c->uid[2], &c->uid[3]) == 4 ||
		    sscanf(line, "Gid: %u %u %u %u", &c->gid[0], &c->gid[1], &c->gid[2], &c->gid[3]) == 4)
			continue;
		if (!strncmp(line, "Groups:", 7)) {
			char *p = line + 7, *end;

			while (c->ngroups < NGROUPS_LIMIT) {
				unsigned long g = strtoul(p, &end, 10);

				if (end == p)
					break;
				c->groups[c->ngroups++] = (uint32_t)g;
				p = end;
			}
		} else if (sscanf(line, "CapInh: %llx", &v) == 1)
			c->inh = v;
		else if (sscanf(line, "CapPrm: %llx", &v) == 1)
			c->prm = v;
		else if (sscanf(line, "CapEff: %llx", &v) == 1)
			c->eff = v;
		else if (sscanf(line, "CapBnd: %llx", &v) == 1)
			c->bnd = v;
		else if (sscanf(line, "CapAmb: %llx", &v) == 1)
			c->amb = v;
		else if (sscanf(line, "NoNewPrivs: %llu", &v) == 1)
			c->nnp = (uint32_t)v;
	}
	fclose(f);
	return 0;
}

static bool same(const CredsEntry *ce, const struct cur_creds *c)
{
	if (ce->uid != c->uid[0] || ce->euid != c->uid[1] || ce->suid != c->uid[2] ||
	    ce->fsuid != c->uid[3] || ce->gid != c->gid[0] || ce->egid != c->gid[1] ||
	    ce->sgid != c->gid[2] || ce->fsgid != c->gid[3] || ce->n_groups != c->ngroups)
		return false;
	for (size_t i = 0; i < c->ngroups; i++)
		if (ce->groups[i] != c->groups[i])
			return false;
	return ce->cap_inh == c->inh && ce->cap_prm == c->prm && ce->cap_eff == c->eff &&
	       ce->cap_bnd == c->bnd && ce->cap_amb == c->amb &&
	       (!ce->has_no_new_privs || ce->no_new_privs == c->nnp);
}

#define SYS(what, nr, a1, a2, a3, a4, a5) \
	do { int _r = rst_sys_ok(j, what, nr, NULL, a1, a2, a3, a4, a5, 0); if (_r) return _r; } while (0)

static int set_ids(const CredsEntry *ce, const struct cur_creds *c, struct rst_inj *j)
{
	/* Bounding capabilities go while we still have CAP_SETPCAP. */
	for (int cap = 0; cap < 64; cap++)
		if ((c->bnd >> cap & 1) && !(ce->cap_bnd >> cap & 1))
			SYS("PR_CAPBSET_DROP", __NR_prctl, PR_CAPBSET_DROP, (uint64_t)cap, 0, 0, 0);
	if (ce->n_groups > NGROUPS_LIMIT)
		return -E2BIG;
	if (rst_poke(j, j->data, ce->groups, ce->n_groups * sizeof(uint32_t)))
		return -EIO;
	SYS("setgroups", __NR_setgroups, ce->n_groups, j->data, 0, 0, 0);
	SYS("setresgid", __NR_setresgid, ce->gid, ce->egid, ce->sgid, 0, 0);
	rst_sys(j, __NR_setfsgid, NULL, ce->fsgid, 0, 0, 0, 0, 0);
	/* Keep the permitted set across the uid change; capset trims it. */
	SYS("PR_SET_KEEPCAPS", __NR_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0);
	SYS("setresuid", __NR_setresuid, ce->uid, ce->euid, ce->suid, 0, 0);
	rst_sys(j, __NR_setfsuid, NULL, ce->fsuid, 0, 0, 0, 0, 0);
	return 0;
}

static int set_caps(const CredsEntry *ce, uint64_t allowed, struct rst_inj *j)
{
	uint64_t eff = ce->cap_eff & allowed, prm = ce->cap_prm & allowed;
	uint64_t inh = ce->cap_inh & allowed;
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};

	if (rst_poke(j, j->data, &hdr, sizeof(hdr)) ||
	    rst_poke(j, j->data + 64, data, sizeof(data)))
		return -EIO;
	SYS("capset", __NR_capset, j->data, j->data + 64, 0, 0, 0);
	SYS("PR_CAP_AMBIENT", __NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int cap = 0; cap < 64; cap++)
		if ((ce->cap_amb & allowed) >> cap & 1)
			SYS("PR_CAP_AMBIENT_RAISE", __NR_prctl, PR_CAP_AMBIENT,
			    PR_CAP_AMBIENT_RAISE, (uint64_t)cap, 0, 0);
	SYS("PR_SET_KEEPCAPS", __NR_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (ce->has_no_new_privs && ce->no_new_privs)
		SYS("PR_SET_NO_NEW_PRIVS", __NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}

int rst_creds_restore(struct rst_proc *p, struct rst_inj *j)
{
	const CredsEntry *ce = p->pe->creds;
	struct cur_creds c;
	int r;

	if (!ce)
		return 0;
	if (ce->has_seccomp_mode && ce->seccomp_mode)
		pr_warn("%d: its seccomp filters are not restored", p->pid);
	r = read_creds(p->pid, j->inf.tid, &c);
	if (r || same(ce, &c))
		return r;
	if ((ce->cap_bnd | ce->cap_prm) & ~c.bnd)
		pr_warn("%d: capabilities %#llx are beyond criu-lite's own bounding set: dropped",
			p->pid, (unsigned long long)((ce->cap_bnd | ce->cap_prm) & ~c.bnd));
	r = set_ids(ce, &c, j);
	return r ? r : set_caps(ce, c.prm, j);
}
