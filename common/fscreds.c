/* Path lookups as the restored process: see fscreds.h. Per thread: the
 * credentials changed here are the calling thread's (the kernel keeps them
 * per thread; only glibc's wrappers make them look per process). */
#include <errno.h>
#include <stdbool.h>
#include <linux/capability.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "common/fscreds.h"

#define NGROUPS_KEEP 1024
/* What restoring sockets needs and no path lookup uses: TCP repair, raw and
 * packet sockets, binding a port below 1024. */
#define CAPS_NET ((1ull << CAP_NET_BIND_SERVICE) | (1ull << CAP_NET_ADMIN) | \
		  (1ull << CAP_NET_RAW))

struct own {
	uint32_t uid, gid;
	uint32_t groups[NGROUPS_KEEP];
	int n_groups;
	struct __user_cap_data_struct caps[2];
};

static __thread struct own own;
static __thread const struct fscreds *cur;

static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

static int caps_set(const struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* setfsuid/setfsgid report no error: the id now is read back. */
static int set_fs_ids(uint32_t uid, uint32_t gid)
{
	syscall(SYS_setfsgid, gid);
	syscall(SYS_setfsuid, uid);
	if ((uint32_t)syscall(SYS_setfsgid, -1) != gid || (uint32_t)syscall(SYS_setfsuid, -1) != uid)
		return -EPERM;
	return 0;
}

static int save_own(void)
{
	own.uid = (uint32_t)syscall(SYS_setfsuid, -1);
	own.gid = (uint32_t)syscall(SYS_setfsgid, -1);
	own.n_groups = (int)syscall(SYS_getgroups, NGROUPS_KEEP, own.groups);
	if (own.n_groups < 0)
		return -errno;
	return caps_get(own.caps);
}

static void back_to_own(void)
{
	/* Capabilities first: the id changes below need CAP_SETUID/SETGID. */
	caps_set(own.caps);
	syscall(SYS_setgroups, own.n_groups, own.groups);
	set_fs_ids(own.uid, own.gid);
}

static uint64_t own_effective(void)
{
	return own.caps[0].effective | (uint64_t)own.caps[1].effective << 32;
}

/* The effective set paths are looked up with for c: its own, plus what
 * restoring sockets needs, within what criu-lite may hold. */
static uint64_t effective_for(const struct fscreds *c)
{
	uint64_t prm = own.caps[0].permitted | (uint64_t)own.caps[1].permitted << 32;

	return (c->cap_eff | (own_effective() & CAPS_NET)) & prm;
}

static int apply(const struct fscreds *c)
{
	struct __user_cap_data_struct d[2];
	uint64_t eff = effective_for(c);
	int r;

	if (syscall(SYS_setgroups, c->n_groups, c->groups))
		return -errno;
	if ((r = set_fs_ids(c->uid, c->gid)))
		return r;
	memcpy(d, own.caps, sizeof(d));
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	return caps_set(d);
}

static bool in_groups(uint32_t g, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == g)
			return true;
	return false;
}

/* c would look paths up exactly as criu-lite does now (root restoring
 * root's dump): no switch, which costs a dozen syscalls per file opened. */
static bool same_as_own(const struct fscreds *c)
{
	if (c->uid != own.uid || c->gid != own.gid || c->n_groups != (size_t)own.n_groups)
		return false;
	for (size_t i = 0; i < c->n_groups; i++)
		if (!in_groups(c->groups[i], own.groups, c->n_groups) ||
		    !in_groups(own.groups[i], c->groups, c->n_groups))
			return false;
	return effective_for(c) == own_effective();
}

/* From cur to c (either NULL: criu-lite's own). */
static int switch_to(const struct fscreds *c)
{
	int r = 0;

	if (c == cur)
		return 0;
	if (!cur && (r = save_own()))
		return r;
	if (!cur && c && same_as_own(c))
		return 0;	/* cur stays NULL: leaving is a no-op too */
	if (cur)
		back_to_own();
	cur = NULL;
	if (c && (r = apply(c))) {
		back_to_own();
		return r;
	}
	cur = c;
	return 0;
}

int fscreds_enter(const struct fscreds *c, const struct fscreds **prev)
{
	const struct fscreds *was = cur;
	int r = switch_to(c);

	*prev = was;
	if (r)
		switch_to(was);
	return r;
}

void fscreds_leave(const struct fscreds *prev)
{
	switch_to(prev);
}

const struct fscreds *fscreds_current(void)
{
	return cur;
}
