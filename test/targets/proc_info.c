/* A process with unusual, known identity for procinfo tests: cwd DIR, odd
 * soft rlimits, umask 027, ADDR_NO_RANDOMIZE, coredump_filter 0x37, nice 5,
 * no_new_privs, supplementary groups, split uids/gids, reduced capability
 * sets. It reports what it sees of itself (via syscalls, not /proc) in
 * READY: the test compares that with what procinfo read from /proc.
 * Usage: proc_info DIR [args...] */
#define _GNU_SOURCE
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "target.h"

static uint64_t mask_of(int (*is_set)(int))
{
	uint64_t m = 0;

	for (int c = 0; c < 64; c++)
		if (is_set(c) > 0)
			m |= 1ull << c;
	return m;
}

static int bnd_set(int c) { return prctl(PR_CAPBSET_READ, c, 0, 0, 0); }
static int amb_set(int c) { return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0); }

static int capsets(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return syscall(SYS_capget, &h, d);
}

int main(int argc, char **argv)
{
	static const gid_t groups[] = { 4, 7, 1234 };
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct rlimit rl;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	FILE *f;
	void *heap = malloc(100);

	if (argc < 2 || chdir(argv[1]))
		return 2;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 777;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_CORE, &rl);
	rl.rlim_cur = 12289;
	setrlimit(RLIMIT_CORE, &rl);
	umask(027);
	personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE);
	f = fopen("/proc/self/coredump_filter", "w");
	if (f) {
		fputs("0x37", f);
		fclose(f);
	}
	if (nice(5) < 0)
		return 3;

	/* Capabilities: inheritable {NET_BIND_SERVICE} raised to ambient,
	 * NET_RAW out of the bounding set, then euid 1000 empties effective. */
	capsets(d);
	d[0].inheritable = 1u << CAP_NET_BIND_SERVICE;
	d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) ||
	    prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) ||
	    setgroups(3, groups) || setresgid(100, 200, 300) || setresuid(0, 1000, 0) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return 4;

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	capsets(d);
	target_ready("heap=%p uid=%u euid=%u suid=%u gid=%u egid=%u sgid=%u inh=0x%llx prm=0x%llx "
		     "eff=0x%llx bnd=0x%llx amb=0x%llx",
		     heap, ru, eu, su, rg, eg, sg,
		     (unsigned long long)d[0].inheritable | (unsigned long long)d[1].inheritable << 32,
		     (unsigned long long)d[0].permitted | (unsigned long long)d[1].permitted << 32,
		     (unsigned long long)d[0].effective | (unsigned long long)d[1].effective << 32,
		     (unsigned long long)mask_of(bnd_set), (unsigned long long)mask_of(amb_set));
	for (;;)
		pause();
}
