/* `criu-lite check`: every feature gets a yes/no line and the exit status is
 * 0; the answers match what this test finds by probing the machine itself
 * (cgroup freezers, uffd-wp, soft-dirty, capabilities, XCR0, the vdso
 * layout), so the suite holds on any kernel. */
#include <criterion/criterion.h>
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/kerndat.h"
#include "test/helpers.h"

#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

TestSuite(check, .timeout = 60);

static char out[16384];

static void run_check(void)
{
	int st = run_cmd(out, sizeof(out), "'%s' check", criu_lite_path());

	cr_assert_eq(st, 0, "check exited %d:\n%s", st, out);
}

/* The line of feature `name`: its verdict ("yes"/"no"/method) and the rest. */
static const char *answer(const char *name, char *verdict, size_t vlen)
{
	size_t nl = strlen(name);

	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, name, nl) || l[nl] != ' ')
			continue;
		l += nl + strspn(l + nl, " ");
		snprintf(verdict, vlen, "%.*s", (int)strcspn(l, " \n"), l);
		return l;
	}
	cr_assert_fail("no line for %s in:\n%s", name, out);
	return NULL;
}

static bool yes(const char *name)
{
	char v[32];

	answer(name, v, sizeof(v));
	cr_assert(!strcmp(v, "yes") || !strcmp(v, "no"), "%s: verdict '%s'", name, v);
	return !strcmp(v, "yes");
}

Test(check, every_feature_has_a_line)
{
	char v[64];

	run_check();
	for (int i = 0; i < KD_NR_FEATURES; i++)
		yes(kerndat_feature_name(i));
	answer("track-mem", v, sizeof(v));
	cr_assert(!strcmp(v, "soft-dirty") || !strcmp(v, "pagemap-scan+uffd-wp") ||
		  !strcmp(v, "page"), "track-mem '%s'", v);
	/* as root here, ptrace of our own child must work */
	if (geteuid() == 0)
		cr_assert(yes("ptrace-seize"), "%s", out);
}

/* ---- the test's own probes ---- */

/* Mount point of the first mount of fstype whose super options hold `opt`. */
static bool find_mount(const char *fstype, const char *opt, char *mnt, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[2048], point[512], fs[64], super[512];
	bool found = false;

	cr_assert_not_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - "), sup[520];

		if (!dash || sscanf(line, "%*s %*s %*s %*s %511s", point) != 1 ||
		    sscanf(dash + 3, "%63s %*s %511s", fs, super) != 2 || strcmp(fs, fstype))
			continue;
		snprintf(sup, sizeof(sup), ",%s,", super);
		if (opt && !strstr(sup, opt))
			continue;
		snprintf(mnt, len, "%s", point);
		found = true;
	}
	fclose(f);
	return found;
}

/* Make a child cgroup and see whether it has `file`; if we cannot make one
 * (not root), the freezer is not usable by us either. */
static bool cgroup_child_has(const char *mnt, const char *file)
{
	char d[600], p[700];
	bool has;

	snprintf(d, sizeof(d), "%s/criu-lite-test-check-%d", mnt, getpid());
	if (mkdir(d, 0700))
		return false;
	snprintf(p, sizeof(p), "%s/%s", d, file);
	has = access(p, F_OK) == 0;
	rmdir(d);
	return has;
}

Test(check, cgroup_freezers_match_the_machine)
{
	char mnt[512];
	bool v2 = false, v1 = false;

	if (find_mount("cgroup2", NULL, mnt, sizeof(mnt)))
		v2 = cgroup_child_has(mnt, "cgroup.freeze");
	if (find_mount("cgroup", ",freezer,", mnt, sizeof(mnt)))
		v1 = cgroup_child_has(mnt, "freezer.state");
	run_check();
	cr_assert_eq(yes("cgroup2-freezer"), v2, "we found cgroup2 freezer=%d:\n%s", v2, out);
	cr_assert_eq(yes("cgroup1-freezer"), v1, "we found v1 freezer=%d:\n%s", v1, out);
}

static bool uffd_offers_wp_async(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	/* 1 is UFFD_USER_MODE_ONLY: allowed without privilege since 5.11 */
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | 1);
	bool ok;

	if (fd < 0)
		fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = !ioctl(fd, UFFDIO_API, &api) && (api.features & UFFD_FEATURE_WP_ASYNC);
	close(fd);
	return ok;
}

static bool soft_dirty_works(void)
{
	long psz = sysconf(_SC_PAGESIZE);
	volatile char *p = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int pm = open("/proc/self/pagemap", O_RDONLY), cr = open("/proc/self/clear_refs", O_WRONLY);
	uint64_t e = 0;
	bool ok = false;

	cr_assert(p != MAP_FAILED && pm >= 0);
	p[0] = 1;
	if (cr >= 0 && write(cr, "4", 1) == 1) {
		p[0] = 2;
		ok = pread(pm, &e, 8, (uintptr_t)p / psz * 8) == 8 && (e >> 55 & 1);
	}
	if (cr >= 0)
		close(cr);
	close(pm);
	munmap((void *)p, psz);
	return ok;
}

Test(check, memory_tracking_matches_the_machine)
{
	bool wp = uffd_offers_wp_async(), sd = soft_dirty_works();
	const char *line, *eol;
	char v[64];

	run_check();
	cr_assert_eq(yes("soft-dirty"), sd, "our soft-dirty probe says %d:\n%s", sd, out);
	/* WP_ASYNC came with PAGEMAP_SCAN (6.7): one without the other is a bug */
	cr_assert_eq(yes("uffd-wp-async"), wp, "UFFDIO_API offers WP_ASYNC=%d:\n%s", wp, out);
	cr_assert_eq(yes("pagemap-scan"), wp, "%s", out);
	answer("track-mem", v, sizeof(v));
	cr_assert_str_eq(v, sd ? "soft-dirty" : wp ? "pagemap-scan+uffd-wp" : "page", "%s", out);
	/* --snapshot wp rides on the same kernel support (6.7+) */
	line = strstr(out, "\nsnapshot ");
	cr_assert_not_null(line, "no snapshot line:\n%s", out);
	eol = strchr(line + 1, '\n');
	cr_assert_eq(memmem(line, eol ? (size_t)(eol - line) : strlen(line), " wp", 3) != NULL, wp,
		     "snapshot modes do not match the kernel (WP_ASYNC=%d):\n%s", wp, out);
}

static uint64_t cap_eff(void)
{
	char buf[64];

	cr_assert(proc_status_field(getpid(), "CapEff", buf, sizeof(buf)));
	return strtoull(buf, NULL, 16);
}

Test(check, capabilities_match_status)
{
	uint64_t eff = cap_eff();

	run_check();
	cr_assert_eq(yes("cap-sys-ptrace"), (bool)(eff >> 19 & 1), "%s", out);
	cr_assert_eq(yes("cap-sys-admin"), (bool)(eff >> 21 & 1), "%s", out);
	cr_assert_eq(yes("cap-checkpoint-restore"), (bool)(eff >> 40 & 1), "%s", out);
}

Test(check, xcr0_and_vdso_layout_match)
{
	unsigned a, b, c, d;
	uint32_t lo, hi;
	char v[32], want[64], maps[65536];
	const char *why;
	bool vclock;

	cr_assert(__get_cpuid(1, &a, &b, &c, &d));
	run_check();
	why = answer("xsave", v, sizeof(v));
	if (c & bit_OSXSAVE) {
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		snprintf(want, sizeof(want), "XCR0 %#llx ", (unsigned long long)hi << 32 | lo);
		cr_assert(strstr(why, want), "expected '%s' in: %s", want, why);
	}
	cr_assert_eq(run_cmd(maps, sizeof(maps), "cat /proc/self/maps"), 0);
	vclock = strstr(maps, "[vvar_vclock]") != NULL;
	why = answer("vdso-layout", v, sizeof(v));
	cr_assert_str_eq(v, "yes");
	cr_assert(strstr(why, vclock ? "[vvar_vclock] present" : "[vvar_vclock] absent"), "%s", why);
}

/* As nobody without capabilities: still exit 0, and the privileged things
 * are said to be missing. */
Test(check, unprivileged_caller)
{
	char dir[256], bin[512], v[32];
	int st;

	make_tmpdir(dir, sizeof(dir), "check");
	cr_assert_eq(chmod(dir, 0755), 0);
	snprintf(bin, sizeof(bin), "%s/criu-lite", dir);
	cr_assert_eq(run_cmd(NULL, 0, "cp '%s' '%s' && chmod 755 '%s'", criu_lite_path(), bin, bin),
		     0);
	st = run_cmd(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 --clear-groups "
		     "--inh-caps=-all --bounding-set=-all '%s' check", bin);
	rm_rf(dir);
	cr_assert_eq(st, 0, "exit %d:\n%s", st, out);
	cr_assert(strstr(out, "uid 65534"), "%s", out);
	cr_assert(!yes("cap-sys-ptrace") && !yes("cap-sys-admin") && !yes("cap-checkpoint-restore"),
		  "%s", out);
	cr_assert(!yes("clone3-set-tid"), "set_tid without privilege:\n%s", out);
	cr_assert(yes("ptrace-seize"), "a child of our own is always traceable:\n%s", out);
	answer("pagemap-pfn", v, sizeof(v));
	cr_assert_str_eq(v, "no", "PFNs need CAP_SYS_ADMIN:\n%s", out);
}

/* The API dump uses: the same answers in-process, and a consistent method. */
Test(check, kerndat_probe_api)
{
	struct kerndat kd;
	char mnt[512];

	cr_assert_eq(kerndat_probe(&kd), 0);
	cr_assert_eq(kd.cgroup2_mount[0] != '\0', find_mount("cgroup2", NULL, mnt, sizeof(mnt)));
	cr_assert_eq(kd.f[KD_UFFD_WP_ASYNC].ok, uffd_offers_wp_async());
	if (kd.f[KD_SOFT_DIRTY].ok)
		cr_assert_eq(kd.track_mem, KD_TRACK_SOFT_DIRTY);
	else if (kd.f[KD_PAGEMAP_SCAN].ok && kd.f[KD_UFFD_WP_ASYNC].ok)
		cr_assert_eq(kd.track_mem, KD_TRACK_PAGEMAP_SCAN);
	else
		cr_assert_eq(kd.track_mem, KD_TRACK_HASHES);
	cr_assert_eq(kerndat_track_mem(), kd.track_mem, "the cheap probe dump uses disagrees");
	cr_assert(kd.vdso.end > kd.vdso.start);
	for (int i = 0; i < KD_NR_FEATURES; i++)
		cr_assert(kd.f[i].why[0] && strcmp(kd.f[i].why, "not probed"), "%s not probed",
			  kerndat_feature_name(i));
}
