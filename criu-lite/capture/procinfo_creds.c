#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

#include "common/procfs.h"
#include "criu-lite/capture/procinfo.h"
#include "images/log.h"

/* "Uid:" and "Gid:" list real, effective, saved and filesystem ids. */
static int id_quad(const char *status, const char *key, uint32_t id[4])
{
	const char *v = procfs_field(status, key, NULL);
	char *end;

	for (int i = 0; i < 4; i++) {
		if (!v)
			return -EINVAL;
		id[i] = (uint32_t)strtoul(v, &end, 10);
		if (end == v)
			return -EINVAL;
		v = end;
	}
	return 0;
}

static int groups(const char *status, CredsEntry *ce)
{
	size_t len, cap = 0;
	const char *v = procfs_field(status, "Groups", &len), *end;
	char *e;

	if (!v)
		return -EINVAL;
	for (end = v + len; v < end;) {
		unsigned long g = strtoul(v, &e, 10);

		if (e == v || e > end)
			break;
		if (ce->n_groups == cap) {
			uint32_t *n = realloc(ce->groups, (cap = cap ? cap * 2 : 16) * sizeof(*n));

			if (!n)
				return -ENOMEM;
			ce->groups = n;
		}
		ce->groups[ce->n_groups++] = (uint32_t)g;
		v = e;
	}
	return 0;
}

static uint64_t cap_mask(cap_t caps, cap_flag_t which)
{
	uint64_t m = 0;
	int max = cap_max_bits();

	for (int c = 0; c < max && c < 64; c++) {
		cap_flag_value_t on;

		if (!cap_get_flag(caps, c, which, &on) && on == CAP_SET)
			m |= 1ull << c;
	}
	return m;
}

static int caps_libcap(pid_t pid, CredsEntry *ce)
{
	cap_t caps = cap_get_pid(pid);

	if (!caps)
		return pr_perror("cannot read the capabilities of %d", pid);
	ce->cap_inh = cap_mask(caps, CAP_INHERITABLE);
	ce->cap_prm = cap_mask(caps, CAP_PERMITTED);
	ce->cap_eff = cap_mask(caps, CAP_EFFECTIVE);
	cap_free(caps);
	return 0;
}

int procinfo_creds(pid_t pid, const char *status, CredsEntry **out)
{
	CredsEntry *ce = malloc(sizeof(*ce));
	uint32_t uid[4], gid[4];
	uint64_t v;
	int r;

	if (!ce)
		return -ENOMEM;
	creds_entry__init(ce);
	r = id_quad(status, "Uid", uid);
	if (!r)
		r = id_quad(status, "Gid", gid);
	if (r) {
		pr_err("/proc/%d/status: malformed Uid/Gid", pid);
		goto fail;
	}
	ce->uid = uid[0], ce->euid = uid[1], ce->suid = uid[2], ce->fsuid = uid[3];
	ce->gid = gid[0], ce->egid = gid[1], ce->sgid = gid[2], ce->fsgid = gid[3];
	if ((r = groups(status, ce)) < 0 || (r = caps_libcap(pid, ce)) < 0)
		goto fail;
	/* libcap has no call for another process's bounding or ambient set. */
	if ((r = procfs_field_u64(status, "CapBnd", 16, &ce->cap_bnd)) < 0 ||
	    (r = procfs_field_u64(status, "CapAmb", 16, &ce->cap_amb)) < 0) {
		pr_err("/proc/%d/status: no CapBnd/CapAmb", pid);
		goto fail;
	}
	if (!procfs_field_u64(status, "NoNewPrivs", 10, &v))
		ce->has_no_new_privs = 1, ce->no_new_privs = (uint32_t)v;
	if (!procfs_field_u64(status, "Seccomp", 10, &v))
		ce->has_seccomp_mode = 1, ce->seccomp_mode = (uint32_t)v;
	*out = ce;
	return 0;
fail:
	img_free(ce);
	return r;
}
