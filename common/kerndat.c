/* Probes of the process-level facilities: privilege, ptrace, cgroup
 * freezers, the special mappings, XSAVE and core_pattern. Memory-tracking
 * and clone3/prctl probes are in kerndat_mm.c. */
#include <cpuid.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/kerndat.h"
#include "common/mountinfo.h"
#include "images/log.h"

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

static const char *const feature_names[KD_NR_FEATURES] = {
	[KD_PTRACE_SEIZE] = "ptrace-seize",
	[KD_CAP_SYS_PTRACE] = "cap-sys-ptrace",
	[KD_CAP_SYS_ADMIN] = "cap-sys-admin",
	[KD_CAP_CHECKPOINT_RESTORE] = "cap-checkpoint-restore",
	[KD_PTRACE_SCOPE] = "ptrace-scope",
	[KD_CGROUP2_FREEZER] = "cgroup2-freezer",
	[KD_CGROUP1_FREEZER] = "cgroup1-freezer",
	[KD_PROCESS_VM_READV] = "process-vm-readv",
	[KD_PAGEMAP] = "pagemap",
	[KD_PAGEMAP_PFN] = "pagemap-pfn",
	[KD_SOFT_DIRTY] = "soft-dirty",
	[KD_PAGEMAP_SCAN] = "pagemap-scan",
	[KD_UFFD_WP_ASYNC] = "uffd-wp-async",
	[KD_CLONE3_SET_TID] = "clone3-set-tid",
	[KD_PR_SET_MM_MAP] = "prctl-set-mm-map",
	[KD_VDSO] = "vdso-layout",
	[KD_XSAVE] = "xsave",
	[KD_CORE_MODES] = "core-modes",
};

static const char *const track_names[] = {
	[KD_TRACK_SOFT_DIRTY] = "soft-dirty",
	[KD_TRACK_PAGEMAP_SCAN] = "pagemap-scan+uffd-wp",
	[KD_TRACK_HASHES] = "page hashes",
};

const char *kerndat_feature_name(enum kd_feature f)
{
	return f < KD_NR_FEATURES ? feature_names[f] : "?";
}

const char *kerndat_track_mem_name(enum kd_track_mem m)
{
	return m <= KD_TRACK_HASHES ? track_names[m] : "?";
}

static void probe_caps(struct kerndat *kd)
{
	static const struct { enum kd_feature f; cap_value_t cap; const char *use; } caps[] = {
		{ KD_CAP_SYS_PTRACE, CAP_SYS_PTRACE, "trace processes of other users" },
		{ KD_CAP_SYS_ADMIN, CAP_SYS_ADMIN, "see PFNs, choose pids, set exe" },
		{ KD_CAP_CHECKPOINT_RESTORE, CAP_CHECKPOINT_RESTORE, "choose pids, set exe (5.9+)" },
	};
	cap_t c = cap_get_proc();
	char last[16] = "";

	kd_read_line("/proc/sys/kernel/cap_last_cap", last, sizeof(last));
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		cap_flag_value_t v = CAP_CLEAR;

		if (last[0] && caps[i].cap > atoi(last)) {
			kd_set(&kd->f[caps[i].f], false, "this kernel does not know it (cap_last_cap %s)",
			       last);
			continue;
		}
		if (!c || cap_get_flag(c, caps[i].cap, CAP_EFFECTIVE, &v)) {
			kd_set(&kd->f[caps[i].f], false, "cannot read capabilities: %s", strerror(errno));
			continue;
		}
		kd_set(&kd->f[caps[i].f], v == CAP_SET, "%s effective set: %s",
		       v == CAP_SET ? "in the" : "not in the", caps[i].use);
	}
	if (c)
		cap_free(c);
}

static void probe_ptrace_scope(struct kerndat *kd)
{
	static const char *const meaning[] = {
		"classic: any process of the same uid",
		"restricted: only descendants without CAP_SYS_PTRACE",
		"admin-only: CAP_SYS_PTRACE required",
		"no attach at all",
	};
	bool admin = kd->f[KD_CAP_SYS_PTRACE].ok;
	char buf[16];
	int s;

	if (kd_read_line("/proc/sys/kernel/yama/ptrace_scope", buf, sizeof(buf)) < 0) {
		kd->ptrace_scope = -1;
		kd_set(&kd->f[KD_PTRACE_SCOPE], true,
		       "no Yama: the usual same-uid or CAP_SYS_PTRACE rule applies");
		return;
	}
	s = atoi(buf);
	kd->ptrace_scope = s;
	if (s < 0 || s > 3) {
		kd_set(&kd->f[KD_PTRACE_SCOPE], false, "yama ptrace_scope %d: unknown value", s);
		return;
	}
	/* Scope 1 stops us tracing a process that is not our descendant, the
	 * usual case for `dump -t PID`, unless we hold CAP_SYS_PTRACE. */
	kd_set(&kd->f[KD_PTRACE_SCOPE], s == 0 || (s < 3 && admin), "yama ptrace_scope %d (%s)%s", s,
	       meaning[s], s == 3 ? "" : admin ? ", and we have CAP_SYS_PTRACE" : "");
}

/* A child to trace: it only waits to be killed, and dies with us. */
static pid_t spawn_idle_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return pid;
}

static int wait_ptrace_stop(pid_t pid)
{
	int st;

	for (;;) {
		if (waitpid(pid, &st, __WALL) < 0)
			return -errno;
		if (!WIFSTOPPED(st))
			return -ECHILD;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			return 0;
		/* a signal-delivery stop: pass the signal on and wait again */
		ptrace(PTRACE_CONT, pid, 0, WSTOPSIG(st));
	}
}

static void probe_xstate_regset(struct kerndat *kd, pid_t pid)
{
	static uint8_t buf[64 * 1024];
	struct iovec iov = { buf, sizeof(buf) };

	if (!ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov))
		kd->xsave_regset_size = iov.iov_len;
}

static volatile uint64_t kd_canary;

static void probe_vm_readv(struct kerndat *kd, pid_t pid)
{
	uint64_t got = 0;
	struct iovec local = { &got, sizeof(got) };
	struct iovec remote = { (void *)&kd_canary, sizeof(got) };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n == sizeof(got) && got == kd_canary)
		kd_set(&kd->f[KD_PROCESS_VM_READV], true, "read a forked child's memory in one call");
	else if (n < 0)
		kd_set(&kd->f[KD_PROCESS_VM_READV], false, "%s%s", strerror(errno),
		       errno == ENOSYS ? " (CONFIG_CROSS_MEMORY_ATTACH off): use /proc/PID/mem" : "");
	else
		kd_set(&kd->f[KD_PROCESS_VM_READV], false, "read back the wrong bytes");
}

/* Seize a child of ours the way dump seizes a target; the same child serves
 * process_vm_readv and the XSTATE regset size. */
static void probe_ptrace(struct kerndat *kd)
{
	struct kd_result *r = &kd->f[KD_PTRACE_SEIZE];
	pid_t pid;
	int e;

	kd_canary = 0x6b65726e64617400ull ^ (uint64_t)getpid();
	pid = spawn_idle_child();
	if (pid < 0) {
		kd_set(r, false, "cannot fork a child to try it: %s", strerror(errno));
		kd_set(&kd->f[KD_PROCESS_VM_READV], false, "not probed: cannot fork");
		return;
	}
	probe_vm_readv(kd, pid);
	if (ptrace(PTRACE_SEIZE, pid, 0, 0)) {
		e = errno;
		kd_set(r, false, "PTRACE_SEIZE of our own child: %s%s", strerror(e),
		       e == EPERM ? " (seccomp, LSM or ptrace_scope 3?)" : "");
	} else if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) || (e = wait_ptrace_stop(pid)) < 0) {
		kd_set(r, false, "PTRACE_INTERRUPT did not stop the child: %s", strerror(errno));
	} else {
		probe_xstate_regset(kd, pid);
		kd_set(r, true, "PTRACE_SEIZE + PTRACE_INTERRUPT of a forked child work");
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

/* ---- cgroups ---- */

/* Into a kerndat mount field (256 bytes): a longer path is no place to use. */
static bool fits(const struct mountinfo *m)
{
	return strlen(m->point) < sizeof(((struct kerndat *)0)->cgroup2_mount);
}

static bool find_cgroup2(const struct mountinfo *m, void *arg)
{
	char *out = arg;

	if (strcmp(m->fstype, "cgroup2") || !fits(m))
		return false;
	/* prefer the conventional places over bind mounts elsewhere */
	if (!out[0] || !strcmp(m->point, "/sys/fs/cgroup") ||
	    !strcmp(m->point, "/sys/fs/cgroup/unified"))
		strcpy(out, m->point);
	return false;
}

static bool find_freezer1(const struct mountinfo *m, void *arg)
{
	char opts[sizeof(m->super) + 2], *out = arg;

	snprintf(opts, sizeof(opts), ",%s,", m->super);
	if (strcmp(m->fstype, "cgroup") || !strstr(opts, ",freezer,") || !fits(m))
		return false;
	strcpy(out, m->point);
	return true;
}

/* Does some non-root cgroup under `mnt` carry `file`? The root cgroup never
 * has the freezer files, so look at an existing child; failing that, make a
 * short-lived probe child (and remove it). */
static int cgroup_has_file(const char *mnt, const char *file, char *how, size_t len)
{
	char path[600];
	struct dirent *de;
	DIR *d = opendir(mnt);
	int r = -ENOENT;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", mnt, de->d_name, file);
		if (!access(path, F_OK)) {
			snprintf(how, len, "%s/%s has %s", mnt, de->d_name, file);
			r = 0;
			break;
		}
	}
	closedir(d);
	if (!r)
		return 0;
	snprintf(path, sizeof(path), "%s/criu-lite-probe-%d", mnt, getpid());
	if (mkdir(path, 0700))
		return -errno;
	snprintf(path, sizeof(path), "%s/criu-lite-probe-%d/%s", mnt, getpid(), file);
	r = access(path, F_OK) ? -ENOENT : 0;
	snprintf(how, len, "a new child cgroup %s %s", r ? "lacks" : "has", file);
	snprintf(path, sizeof(path), "%s/criu-lite-probe-%d", mnt, getpid());
	rmdir(path);
	return r;
}

static void probe_cgroup(struct kd_result *res, const char *mnt, const char *file,
			 const char *what)
{
	char how[700];
	int r;

	if (!mnt[0]) {
		kd_set(res, false, "no %s mounted", what);
		return;
	}
	r = cgroup_has_file(mnt, file, how, sizeof(how));
	if (r == 0)
		kd_set(res, true, "%s at %s: %s", what, mnt, how);
	else if (r == -ENOENT)
		kd_set(res, false, "%s at %s, but no cgroup there has %s", what, mnt, file);
	else if (r == -EACCES || r == -EPERM || r == -EROFS)
		kd_set(res, false, "%s at %s, but we may not create cgroups there (%s): not usable "
		       "without a delegated cgroup", what, mnt, strerror(-r));
	else
		kd_set(res, false, "%s at %s, cannot look for %s: %s", what, mnt, file, strerror(-r));
}

static void probe_cgroups(struct kerndat *kd)
{
	mountinfo_each(find_cgroup2, kd->cgroup2_mount);
	mountinfo_each(find_freezer1, kd->cgroup1_freezer_mount);
	probe_cgroup(&kd->f[KD_CGROUP2_FREEZER], kd->cgroup2_mount, "cgroup.freeze", "cgroup2");
	probe_cgroup(&kd->f[KD_CGROUP1_FREEZER], kd->cgroup1_freezer_mount, "freezer.state",
		     "cgroup v1 freezer");
}

/* ---- special mappings ---- */

static void probe_vdso(struct kerndat *kd)
{
	static const struct { const char *name; size_t off; } maps[] = {
		{ "[vdso]", offsetof(struct kerndat, vdso) },
		{ "[vvar]", offsetof(struct kerndat, vvar) },
		{ "[vvar_vclock]", offsetof(struct kerndat, vvar_vclock) },
		{ "[vsyscall]", offsetof(struct kerndat, vsyscall) },
	};
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512], name[64];
	unsigned long long s, e;
	long psz = sysconf(_SC_PAGESIZE);

	if (!f) {
		kd_set(&kd->f[KD_VDSO], false, "cannot read /proc/self/maps: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %63s", &s, &e, name) != 3)
			continue;
		for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
			struct kd_range *r = (void *)((char *)kd + maps[i].off);

			if (!strcmp(name, maps[i].name))
				r->start = s, r->end = e;
		}
	}
	fclose(f);
	if (!kd->vdso.start) {
		kd_set(&kd->f[KD_VDSO], false, "no [vdso] in /proc/self/maps");
		return;
	}
	kd_set(&kd->f[KD_VDSO], true, "[vvar] %llu pages, [vvar_vclock] %s, [vdso] %llu pages%s",
	       (unsigned long long)(kd->vvar.end - kd->vvar.start) / psz,
	       kd->vvar_vclock.start ? "present (6.13+ layout)" : "absent",
	       (unsigned long long)(kd->vdso.end - kd->vdso.start) / psz,
	       kd->vvar.end == (kd->vvar_vclock.start ? kd->vvar_vclock.start : kd->vdso.start) &&
	       (!kd->vvar_vclock.start || kd->vvar_vclock.end == kd->vdso.start) ?
	       ", adjacent in that order" : "");
}

/* ---- XSAVE ---- */

static void xsave_components(uint64_t xcr0, char *buf, size_t len)
{
	static const char *const names[] = {
		[0] = "x87", [1] = "sse", [2] = "avx", [3] = "bndregs", [4] = "bndcsr",
		[5] = "opmask", [6] = "zmm_hi256", [7] = "hi16_zmm", [9] = "pkru",
		[17] = "xtilecfg", [18] = "xtiledata", [19] = "apx",
	};
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned b = 0; b < 64 && used < len; b++) {
		const char *n = b < sizeof(names) / sizeof(names[0]) ? names[b] : NULL;

		if (!(xcr0 & (1ull << b)))
			continue;
		used += n ? snprintf(buf + used, len - used, "%s%s", used ? " " : "", n)
			  : snprintf(buf + used, len - used, "%sbit%u", used ? " " : "", b);
	}
}

static void probe_xsave(struct kerndat *kd)
{
	unsigned a, b, c, d;
	uint32_t lo, hi;
	char comps[160];

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) {
		kd_set(&kd->f[KD_XSAVE], false, "the CPU or the kernel does not enable XSAVE");
		return;
	}
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	kd->xcr0 = (uint64_t)hi << 32 | lo;
	__cpuid_count(0xd, 0, a, b, c, d);
	kd->xsave_size = b;
	xsave_components(kd->xcr0, comps, sizeof(comps));
	if (kd->xsave_regset_size)
		kd_set(&kd->f[KD_XSAVE], true, "XCR0 %#llx (%s), XSAVE area %u bytes, "
		       "NT_X86_XSTATE regset %u bytes", (unsigned long long)kd->xcr0, comps,
		       kd->xsave_size, kd->xsave_regset_size);
	else
		kd_set(&kd->f[KD_XSAVE], true, "XCR0 %#llx (%s), XSAVE area %u bytes",
		       (unsigned long long)kd->xcr0, comps, kd->xsave_size);
}

static void probe_core(struct kerndat *kd)
{
	int r = kd_read_line("/proc/sys/kernel/core_modes", kd->core_modes, sizeof(kd->core_modes));

	kd_read_line("/proc/sys/kernel/core_pattern", kd->core_pattern, sizeof(kd->core_pattern));
	if (r < 0) {
		kd->core_modes[0] = '\0';
		kd_set(&kd->f[KD_CORE_MODES], false, "no /proc/sys/kernel/core_modes (before 6.16): "
		       "file and pipe only; core_pattern \"%.120s\"", kd->core_pattern);
		return;
	}
	/* the file lists one mode a line; show them on one */
	FILE *f = fopen("/proc/sys/kernel/core_modes", "re");
	char w[32];
	size_t used = 0;

	while (f && fscanf(f, "%31s", w) == 1 && used < sizeof(kd->core_modes))
		used += snprintf(kd->core_modes + used, sizeof(kd->core_modes) - used, "%s%s",
				 used ? " " : "", w);
	if (f)
		fclose(f);
	kd_set(&kd->f[KD_CORE_MODES], true, "%s; core_pattern \"%.120s\"", kd->core_modes,
	       kd->core_pattern);
}

int kerndat_probe(struct kerndat *kd)
{
	struct utsname u;

	memset(kd, 0, sizeof(*kd));
	for (int i = 0; i < KD_NR_FEATURES; i++)
		kd_set(&kd->f[i], false, "not probed");
	if (!uname(&u))
		snprintf(kd->release, sizeof(kd->release), "%s", u.release);
	probe_caps(kd);
	probe_ptrace_scope(kd);
	probe_ptrace(kd);
	probe_cgroups(kd);
	kerndat_probe_mm(kd);
	probe_vdso(kd);
	probe_xsave(kd);
	probe_core(kd);
	return 0;
}
