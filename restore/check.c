/* Refusals decided before any process is created: a restore that cannot
 * succeed should not leave anything behind, so everything knowable from the
 * images and the filesystem is checked first. The children check their
 * files again once opened (a file can change in between). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "common/buildid.h"
#include "images/log.h"
#include "restore/rst.h"

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* What this machine must share with the dumped one (the dump's own sanity
 * was checked as it was read). */
static int check_inventory(struct rst_tree *t)
{
	const InventoryEntry *inv = t->inv;
	uint64_t xcr0 = xgetbv0();

	if (inv->page_size != (uint32_t)getpagesize()) {
		pr_err("%s: dumped with %u-byte pages, this system has %d", t->dir, inv->page_size,
		       getpagesize());
		return -EINVAL;
	}
	/* Registers of features this CPU lacks cannot be handed back. */
	if (inv->xcr0 & ~xcr0) {
		pr_err("%s: the dumped CPU state uses XSAVE features %#llx this CPU does not "
		       "enable (XCR0 %#llx)", t->dir, (unsigned long long)inv->xcr0,
		       (unsigned long long)xcr0);
		return -EINVAL;
	}
	return 0;
}

int rst_file_matches(const FileIdentity *id, const struct stat *st, int fd, char *why, size_t len)
{
	uint64_t mtime = (uint64_t)st->st_mtim.tv_sec * 1000000000ull + st->st_mtim.tv_nsec;

	if (id->has_size && (uint64_t)st->st_size != id->size) {
		snprintf(why, len, "its size changed from %llu to %llu bytes since the dump",
			 (unsigned long long)id->size, (unsigned long long)st->st_size);
		return -ESTALE;
	}
	if (id->has_build_id && fd >= 0) {
		uint8_t b[BUILDID_MAX];
		int n = buildid_read(fd, b, sizeof(b));

		if (n != (int)id->build_id.len || memcmp(b, id->build_id.data, n)) {
			snprintf(why, len, "its ELF build-id differs from the dumped one");
			return -ESTALE;
		}
		return 0;	/* same build: a copy or reinstall of the same file */
	}
	if (id->has_mtime_ns && mtime != id->mtime_ns) {
		snprintf(why, len, "it was modified since the dump");
		return -ESTALE;
	}
	return 0;
}

/* A file the address space maps (or the exe): must be there, and unchanged
 * if mapped privately (`exact`): pages the program wrote would sit beside
 * pages read from another file. A shared mapping shows the file as it is:
 * the program would have seen another process change it. */
static int check_mapped(const char *what, const FileIdentity *id, pid_t pid, bool exact)
{
	char why[160];
	struct stat st;
	int fd, r;

	/* O_NONBLOCK: a FIFO now at that path must not block the open. */
	fd = open(id->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		r = -errno;
		pr_err("cannot restore %d: %s %s is gone: %s", pid, what, id->path, strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	r = exact ? rst_file_matches(id, &st, fd, why, sizeof(why)) : 0;
	close(fd);
	if (r)
		pr_err("cannot restore %d: %s %s changed: %s", pid, what, id->path, why);
	return r;
}

static int check_vmas(struct rst_proc *p)
{
	pid_t pid = (pid_t)p->ps->pid;
	int r;

	for (size_t i = 0; i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];

		if (v->status & (VMA_VDSO | VMA_VVAR | VMA_VSYSCALL))
			continue;
		if (!(v->status & VMA_AREA_REGULAR)) {
			pr_err("cannot restore %d: mapping %#llx-%#llx %s is not one a process can "
			       "recreate (device or kernel mapping)", pid,
			       (unsigned long long)v->start, (unsigned long long)v->end,
			       v->name ? v->name : "");
			return -ENOTSUP;
		}
		if (v->end <= v->start || (v->start | v->end) & 4095) {
			pr_err("mm-%d.img: bad mapping %#llx-%#llx", pid,
			       (unsigned long long)v->start, (unsigned long long)v->end);
			return -EINVAL;
		}
		if (i && v->start < p->vma[i - 1]->end) {
			pr_err("mm-%d.img: mappings overlap or are out of order at %#llx", pid,
			       (unsigned long long)v->start);
			return -EINVAL;
		}
		if (!(v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) ||
		    v->status & VMA_FILE_DELETED)
			continue;
		if (!v->file) {
			pr_err("mm-%d.img: file mapping at %#llx has no file identity", pid,
			       (unsigned long long)v->start);
			return -EINVAL;
		}
		r = check_mapped("mapped file", v->file, pid, !(v->status & VMA_FILE_SHARED));
		if (r)
			return r;
	}
	return 0;
}

static bool pid_taken(uint32_t pid)
{
	return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* Dumped pids and tids in use now: fatal with --same-pids, else said. */
static int check_pids(struct rst_tree *t)
{
	char list[512] = "";
	size_t n = 0, used = 0;

	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];

		for (size_t j = 0; j < p->nr_th; j++) {
			if (!pid_taken(p->th[j]->tid))
				continue;
			n++;
			if (used + 16 < sizeof(list))
				used += snprintf(list + used, sizeof(list) - used, "%s%u",
						 used ? " " : "", p->th[j]->tid);
		}
	}
	if (!n)
		return 0;
	if (t->opts.same_pids) {
		pr_err("cannot restore with --same-pids: pid%s %s %s in use", n > 1 ? "s" : "",
		       list, n > 1 ? "are" : "is");
		return -EEXIST;
	}
	pr_warn("pid%s %s %s in use: restoring with new pid%s", n > 1 ? "s" : "", list,
		n > 1 ? "are" : "is", n > 1 ? "s" : "");
	return 0;
}

static int check_kernel(struct rst_tree *t)
{
	struct utsname u;

	/* Code keeps pointers into the vdso (glibc resolves its functions at
	 * start-up); another kernel's vdso has other offsets. A dump that
	 * does not name its kernel is judged by the vdso itself. */
	if (!t->inv->kernel_release || !t->inv->kernel_release[0])
		return rst_vdso_check(t);
	if (!uname(&u) && strcmp(u.release, t->inv->kernel_release)) {
		pr_err("%s was dumped on kernel %s, this is %s: the vdso the program uses "
		       "would differ", t->dir, t->inv->kernel_release, u.release);
		return -EINVAL;
	}
	return 0;
}

int rst_check(struct rst_tree *t)
{
	int r;

	/* clone3(set_tid), PR_SET_MM_MAP's exe_fd, map_files and tracing
	 * processes that change uid all need it. */
	if (geteuid() != 0) {
		pr_err("restore needs root (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, CAP_SYS_PTRACE)");
		return -EPERM;
	}
	/* What the dump holds that restore cannot bring back (a CRIU dump's
	 * namespaces, cgroups, queued socket bytes...): refused, not dropped. */
	if (t->dr.unrestorable) {
		pr_err("cannot restore %s: %s", t->dir, t->dr.unrestorable);
		return -ENOTSUP;
	}
	r = check_inventory(t);
	if (!r)
		r = check_kernel(t);
	if (!r)
		r = rst_fds_prepare(t);
	for (size_t i = 0; !r && i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];
		const struct fscreds *prev;

		/* The paths it names are looked at as it: one it could not
		 * open is refused here already, and root opens none of them. */
		if ((r = rst_as_proc(p, &prev)))
			break;
		/* One run from a memfd comes back from its saved copy (fds.c). */
		if (p->pe->exe && !(p->pe->exe->path[0] == '\0') && !p->ps->has_exe_ghost_id)
			r = check_mapped("executable", p->pe->exe, (pid_t)p->ps->pid, true);
		if (!r)
			r = check_vmas(p);
		if (!r)
			r = rst_fds_check(t, p);
		fscreds_leave(prev);
		if (!r)
			r = rst_check_procstate(t, p);
	}
	/* A replay has a pid namespace of its own: every dumped pid is free. */
	if (!r && !t->opts.replay)
		r = check_pids(t);
	return r;
}
