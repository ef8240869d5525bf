/* What this kernel and the caller's privilege allow, probed once by trying
 * each thing for real (a feature compiled in can still be forbidden, and a
 * header constant says nothing about the running kernel). `check` prints it;
 * dump and restore consult it (e.g. --track-mem picks its method here). */
#ifndef CRIU_LITE_KERNDAT_H
#define CRIU_LITE_KERNDAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kd_feature {
	KD_PTRACE_SEIZE,
	KD_CAP_SYS_PTRACE,
	KD_CAP_SYS_ADMIN,
	KD_CAP_CHECKPOINT_RESTORE,
	KD_PTRACE_SCOPE,
	KD_CGROUP2_FREEZER,
	KD_CGROUP1_FREEZER,
	KD_PROCESS_VM_READV,
	KD_PAGEMAP,		/* present/swap/flag bits readable */
	KD_PAGEMAP_PFN,		/* PFNs visible (CAP_SYS_ADMIN) */
	KD_SOFT_DIRTY,
	KD_PAGEMAP_SCAN,
	KD_UFFD_WP_ASYNC,
	KD_CLONE3_SET_TID,
	KD_PR_SET_MM_MAP,
	KD_VDSO,
	KD_XSAVE,
	KD_CORE_MODES,
	KD_NR_FEATURES
};

enum kd_track_mem {
	KD_TRACK_SOFT_DIRTY,		/* clear_refs 4 + pagemap bit 55 */
	KD_TRACK_PAGEMAP_SCAN,		/* uffd-wp async + PAGEMAP_SCAN PAGE_IS_WRITTEN */
	KD_TRACK_HASHES,		/* compare page hashes with the parent images */
};

struct kd_result {
	bool ok;
	char why[200];
};

struct kd_range {
	uint64_t start, end;		/* 0, 0 when absent */
};

struct kerndat {
	struct kd_result f[KD_NR_FEATURES];
	char release[65];

	int ptrace_scope;		/* yama's, or -1 without yama */
	char cgroup2_mount[256];	/* "" when there is no cgroup2 mount */
	char cgroup1_freezer_mount[256];	/* "" when no v1 freezer hierarchy */

	uint64_t uffd_features;		/* what UFFDIO_API offers, 0 if no userfaultfd */

	/* The special mappings of this kernel, as /proc/self/maps shows them. */
	struct kd_range vdso, vvar, vvar_vclock, vsyscall;

	uint64_t xcr0;			/* 0 without XSAVE */
	uint32_t xsave_size;		/* CPUID(0xD,0).EBX: size for the enabled XCR0 */
	uint32_t xsave_regset_size;	/* what PTRACE_GETREGSET NT_X86_XSTATE gave, 0 if not probed */

	char core_modes[64];		/* /proc/sys/kernel/core_modes, "" if absent */
	char core_pattern[256];

	enum kd_track_mem track_mem;
};

/* Probe everything; always fills every field (with ok = false and a reason
 * where a probe could not run). Forks one short-lived child for the ptrace
 * and process_vm_readv probes. Returns 0, or -errno if nothing could run. */
int kerndat_probe(struct kerndat *kd);
/* Only the memory-tracking probes (cheap: no fork, no cgroup), cached: the
 * method `dump --track-mem` / `pre-dump` should use on this machine. */
enum kd_track_mem kerndat_track_mem(void);
/* Short stable name of a feature ("ptrace-seize", "cgroup2-freezer", ...). */
const char *kerndat_feature_name(enum kd_feature f);
/* "soft-dirty", "pagemap-scan+uffd-wp" or "page hashes". */
const char *kerndat_track_mem_name(enum kd_track_mem m);

/* kerndat_result.c, for the kerndat*.c files only. */
void kd_set(struct kd_result *r, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kd_read_line(const char *path, char *buf, size_t len);
/* kerndat_mm.c: pagemap, soft-dirty, PAGEMAP_SCAN, uffd-wp, clone3, PR_SET_MM_MAP. */
void kerndat_probe_mm(struct kerndat *kd);

#endif
