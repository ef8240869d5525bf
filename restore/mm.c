/* Swap the address space of a seized child for the dumped one, through
 * injected syscalls:
 *   1. unmap all of criu-lite's memory but the kernel's [vvar]/[vdso];
 *   2. map a small scratch area (a `syscall` instruction and argument
 *      space) at an address free in the dumped layout;
 *   3. move [vvar]/[vvar_vclock]/[vdso] as one block to where the dumped
 *      [vdso] was: code keeps pointers into the vdso, and the vdso finds its
 *      data pages at a fixed offset from itself;
 *   4. map every dumped VMA at its address (MAP_FIXED_NOREPLACE: an overlap
 *      is a bug to report, not to paper over), files from the fds the
 *      child opened; fill the pages (pages.c); set the final protections;
 *   5. PR_SET_MM_MAP: code/data/brk/stack/arg/env bounds, auxv, exe.
 * The scratch area stays until threads and registers are done (proc.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "common/vma.h"
#include "images/log.h"
#include "restore/rst.h"

#define PAGE 4096ULL
#define USER_TOP 0x7ffffffff000ULL	/* 47-bit user space */
#define SCRATCH_FLOOR 0x100000000ULL	/* above any non-PIE binary and its brk */

struct range {
	uint64_t start, end;
};

/* The kernel's special mappings in the child now, and where they go. */
struct specials {
	struct range cur[4];
	int nr;
	int64_t delta;		/* dumped [vdso] start - current [vdso] start */
};

static bool overlaps(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 < e2 && s2 < e1;
}

static const VmaEntry *dumped_vdso(const struct rst_proc *p)
{
	for (size_t i = 0; i < p->nr_vma; i++)
		if (p->vma[i]->status & VMA_VDSO)
			return p->vma[i];
	return NULL;
}

/* Does [s, e) overlap a dumped mapping (other than the kernel's own)? */
static const VmaEntry *dumped_overlap(const struct rst_proc *p, uint64_t s, uint64_t e,
				      bool with_special)
{
	for (size_t i = 0; i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];

		if (!with_special && v->status & (VMA_VDSO | VMA_VVAR | VMA_VSYSCALL))
			continue;
		if (overlaps(s, e, v->start, v->end))
			return v;
	}
	return NULL;
}

static int find_specials(struct rst_proc *p, struct specials *sp)
{
	struct vma_list cur;
	uint64_t vdso = 0, vdso_len = 0;
	const VmaEntry *dv = dumped_vdso(p);
	int r = vma_list_read(p->pid, false, &cur);

	if (r)
		return r;
	memset(sp, 0, sizeof(*sp));
	for (size_t i = 0; i < cur.nr && sp->nr < 4; i++) {
		const struct vma *v = &cur.v[i];

		if (v->kind != VMAK_VDSO && v->kind != VMAK_VVAR)
			continue;
		sp->cur[sp->nr++] = (struct range){ v->start, v->end };
		if (v->kind == VMAK_VDSO) {
			vdso = v->start;
			vdso_len = v->end - v->start;
		}
	}
	vma_list_free(&cur);
	if (!dv)	/* dumped without a vdso: it just has to keep out of the way */
		return 0;
	if (!vdso || vdso_len != dv->end - dv->start) {
		pr_err("cannot restore %u: this kernel's vdso is %llu bytes, the dumped one %llu",
		       p->ps->pid, (unsigned long long)vdso_len,
		       (unsigned long long)(dv->end - dv->start));
		return -ENOTSUP;
	}
	sp->delta = (int64_t)(dv->start - vdso);
	for (int i = 0; i < sp->nr; i++) {
		const VmaEntry *o = dumped_overlap(p, sp->cur[i].start + sp->delta,
						   sp->cur[i].end + sp->delta, false);

		if (o) {
			pr_err("cannot restore %u: the vdso's data pages would land on the dumped "
			       "mapping at %#llx", p->ps->pid, (unsigned long long)o->start);
			return -ENOTSUP;
		}
	}
	return 0;
}

static bool busy(const struct rst_proc *p, const struct specials *sp, uint64_t s, uint64_t e)
{
	if (dumped_overlap(p, s, e, true))
		return true;
	for (int i = 0; i < sp->nr; i++)
		if (overlaps(s, e, sp->cur[i].start, sp->cur[i].end) ||
		    overlaps(s, e, sp->cur[i].start + sp->delta, sp->cur[i].end + sp->delta))
			return true;
	return false;
}

/* Lowest address at or above `floor` where len bytes (plus a guard page on
 * each side) are free in the dumped layout and around the vdso. */
static uint64_t find_free(const struct rst_proc *p, const struct specials *sp, uint64_t floor,
			  uint64_t len)
{
	uint64_t a = floor;

	while (a + len + 2 * PAGE < USER_TOP) {
		const VmaEntry *v = dumped_overlap(p, a, a + len + 2 * PAGE, true);

		if (v) {
			a = (v->end + PAGE - 1) & ~(PAGE - 1);
			continue;
		}
		if (!busy(p, sp, a, a + len + 2 * PAGE))
			return a + PAGE;
		a += 1ULL << 30;
	}
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Step 1: everything but the special mappings goes. */
static int unmap_all(struct rst_inj *j, struct specials *sp)
{
	uint64_t from = 0;
	int r;

	qsort(sp->cur, sp->nr, sizeof(sp->cur[0]), cmp_range);
	for (int i = 0; i <= sp->nr; i++) {
		uint64_t to = i < sp->nr ? sp->cur[i].start : USER_TOP;

		if (to > from) {
			r = rst_sys_ok(j, "munmap", __NR_munmap, NULL, from, to - from, 0, 0, 0, 0);
			if (r)
				return r;
		}
		if (i < sp->nr)
			from = sp->cur[i].end;
	}
	return 0;
}

/* Step 2: scratch = one code page with `syscall; int3`, then data. */
static int map_scratch(struct rst_proc *p, struct rst_inj *j, const struct specials *sp)
{
	static const uint8_t code[] = { 0x0f, 0x05, 0xcc, 0xcc };
	uint64_t at = find_free(p, sp, SCRATCH_FLOOR, RST_SCRATCH_LEN), ret;
	int r;

	if (!at) {
		pr_err("cannot restore %u: no room for the scratch area", p->ps->pid);
		return -ENOMEM;
	}
	r = rst_sys_ok(j, "mmap scratch", __NR_mmap, &ret, at, RST_SCRATCH_LEN,
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		       (uint64_t)-1, 0);
	if (r)
		return r;
	r = rst_poke(j, at, code, sizeof(code));
	if (!r)
		r = rst_sys_ok(j, "mprotect scratch", __NR_mprotect, NULL, at, PAGE,
			       PROT_READ | PROT_EXEC, 0, 0, 0);
	if (r)
		return r;
	j->scratch = at;
	j->scratch_len = RST_SCRATCH_LEN;
	j->inf.syscall_ip = at;	/* the vdso is about to move */
	j->data = at + 2 * PAGE;
	j->table = at + RST_SCRATCH_LEN - RST_BATCH_MAX * sizeof(struct infect_call);
	j->data_len = j->table - j->data;
	/* infect's batch loop lands wherever the kernel likes, which may be
	 * where a dumped VMA goes: move it into our second page. */
	r = infect_map_code(&j->inf);
	if (!r)
		r = rst_sys_ok(j, "mremap of the batch code", __NR_mremap, NULL, j->inf.code, PAGE,
			       PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, at + PAGE, 0);
	if (!r)
		j->inf.code = at + PAGE;
	return r;
}

static int move_specials_by(struct rst_inj *j, struct specials *sp, int64_t d)
{
	/* Like memmove: when moving up, the highest goes first. */
	for (int k = 0; k < sp->nr; k++) {
		int i = d > 0 ? sp->nr - 1 - k : k;
		uint64_t len = sp->cur[i].end - sp->cur[i].start;
		int r = rst_sys_ok(j, "mremap of the vdso", __NR_mremap, NULL, sp->cur[i].start,
				   len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
				   sp->cur[i].start + d, 0);

		if (r)
			return r;
		sp->cur[i].start += d;
		sp->cur[i].end += d;
	}
	return 0;
}

/* Step 3. A move shorter than the block would overlap itself: go through
 * a free spot first. */
static int move_specials(struct rst_proc *p, struct rst_inj *j, struct specials *sp)
{
	uint64_t lo, hi, tmp;
	int64_t d = sp->delta;
	int r;

	if (!sp->nr || !d)
		return 0;
	lo = sp->cur[0].start;
	hi = sp->cur[sp->nr - 1].end;
	if ((uint64_t)(d < 0 ? -d : d) < hi - lo) {
		/* Above the scratch area, which find_free does not know of. */
		tmp = find_free(p, sp, j->scratch + j->scratch_len + PAGE, hi - lo);
		if (!tmp || busy(p, sp, tmp, tmp + (hi - lo)))
			return -ENOMEM;
		r = move_specials_by(j, sp, (int64_t)(tmp - lo));
		if (r)
			return r;
		d = (int64_t)(lo + sp->delta - tmp);
	}
	return move_specials_by(j, sp, d);
}

static bool vma_is_anon_mapping(const VmaEntry *v)
{
	return !(v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) ||
	       v->status & (VMA_FILE_DELETED | VMA_ANON_SHARED) || !v->file;
}

static int map_vma(struct rst_proc *p, struct rst_inj *j, struct rst_batch *b, size_t idx)
{
	const VmaEntry *v = p->vma[idx];
	uint64_t prot = v->prot, flags = MAP_FIXED_NOREPLACE, fd = (uint64_t)-1, off = 0;

	if (rst_vma_needs_write(p, idx))
		prot |= PROT_WRITE;
	flags |= (v->flags & MAP_SHARED) || (v->status & VMA_ANON_SHARED) ? MAP_SHARED : MAP_PRIVATE;
	if ((v->flags & MAP_GROWSDOWN) || (v->status & VMA_STACK))
		flags |= MAP_GROWSDOWN;
	if (v->vmflags && strstr(v->vmflags, " nr"))
		flags |= MAP_NORESERVE;
	if (vma_is_anon_mapping(v)) {
		flags |= MAP_ANONYMOUS;
	} else {
		int k = rst_mf_find(p, v->file->path);

		if (k < 0)
			return -EINVAL;
		fd = (uint64_t)(p->mm_fd_base + k);
		off = v->pgoff;
	}
	return rst_batch_add(j, b, v->name && v->name[0] ? v->name : "mmap of an anonymous VMA",
			     __NR_mmap, v->start, v->end - v->start, prot,
			     rst_vma_mmap_flags(v, flags), fd, off);
}

/* MAP_FIXED_NOREPLACE either maps at the address or fails: a mapping
 * elsewhere would mean a kernel without it (before 4.17), refused here. */
static int check_mapped(struct rst_proc *p, struct rst_batch *b)
{
	for (int i = 0; i < b->n; i++)
		if (b->calls[i].nr == __NR_mmap && b->calls[i].ret != b->calls[i].args[0]) {
			pr_err("cannot restore %u: mapping %#llx %s landed at %#llx", p->ps->pid,
			       (unsigned long long)b->calls[i].args[0], b->what[i],
			       (unsigned long long)b->calls[i].ret);
			return -EFAULT;
		}
	return 0;
}

static bool is_shmem(const VmaEntry *v)
{
	return (v->status & VMA_ANON_SHARED) && v->has_ino && v->ino;
}

static const struct rst_shmem *shmem_find(const struct rst_tree *t, const VmaEntry *v)
{
	for (size_t i = 0; i < t->nr_shm; i++)
		if (t->shm[i].dev == v->dev && t->shm[i].ino == v->ino)
			return &t->shm[i];
	return NULL;
}

/* Which shared objects an earlier process of the tree has restored. */
static int shmem_mark(struct rst_tree *t, struct rst_proc *p)
{
	p->attached = calloc(p->nr_vma ? p->nr_vma : 1, sizeof(bool));
	if (!p->attached)
		return -ENOMEM;
	/* A deleted file mapped shared is one object only when restore made
	 * the file again for an fd of the tree (fds.c registered it). */
	for (size_t i = 0; i < p->nr_vma; i++)
		p->attached[i] = (is_shmem(p->vma[i]) ||
				  (p->vma[i]->status & (VMA_FILE_SHARED | VMA_FILE_DELETED)) ==
				  (VMA_FILE_SHARED | VMA_FILE_DELETED)) && shmem_find(t, p->vma[i]);
	return 0;
}

/* Map the object another process restored: its /proc/PID/map_files entry
 * (root only) is that very shmem file. */
static int shmem_attach(struct rst_tree *t, struct rst_inj *j,
			const VmaEntry *v)
{
	const struct rst_shmem *o = shmem_find(t, v);
	char path[96];
	uint64_t fd, ret;
	int r;

	if (o->fd >= 0)
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", o->pid, o->fd);
	else
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", o->pid,
			 (unsigned long long)o->start, (unsigned long long)o->end);
	r = rst_poke(j, j->data, path, strlen(path) + 1);
	if (!r)
		r = rst_sys_ok(j, path, __NR_openat, &fd, (uint64_t)AT_FDCWD, j->data,
			       v->prot & PROT_WRITE ? O_RDWR : O_RDONLY, 0, 0, 0);
	if (r)
		return r;
	r = rst_sys_ok(j, "mmap of shared memory", __NR_mmap, &ret, v->start, v->end - v->start,
		       v->prot, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, v->pgoff);
	rst_sys(j, __NR_close, NULL, fd, 0, 0, 0, 0, 0);
	if (!r && ret != v->start)
		r = -EFAULT;
	return r;
}

/* This process's shared objects, for the processes restored after it. */
static int shmem_register(struct rst_tree *t, struct rst_proc *p)
{
	for (size_t i = 0; i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];
		struct rst_shmem *n;

		if (!is_shmem(v) || p->attached[i] || shmem_find(t, v))
			continue;
		n = realloc(t->shm, (t->nr_shm + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->shm = n;
		t->shm[t->nr_shm++] = (struct rst_shmem){ v->dev, v->ino, p->pid, v->start, v->end,
							  -1 };
	}
	return 0;
}

static bool restorable(const VmaEntry *v)
{
	return (v->status & VMA_AREA_REGULAR) && !(v->status & (VMA_VDSO | VMA_VVAR | VMA_VSYSCALL));
}

/* After the pages: the dumped protections and madvise state (mm_kinds.c). */
static int finish_vma(struct rst_proc *p, struct rst_inj *j, struct rst_batch *b, size_t idx)
{
	const VmaEntry *v = p->vma[idx];
	uint64_t len = v->end - v->start;
	int r;

	if (rst_vma_needs_write(p, idx) && !(v->prot & PROT_WRITE)) {
		r = rst_batch_add(j, b, "mprotect", __NR_mprotect, v->start, len, v->prot, 0, 0, 0);
		if (r)
			return r;
	}
	return rst_vma_advise(p, j, b, idx);
}

#define AUXV_MAX (2 * 8 * 26)	/* sizeof(mm->saved_auxv) on x86_64 */

static int set_mm_map(struct rst_proc *p, struct rst_inj *j)
{
	const MmFields *m = p->pe->mm;
	struct prctl_mm_map map;
	size_t auxv_len = p->pe->has_auxv ? p->pe->auxv.len : 0;
	int r;

	if (!m)
		return 0;
	if (auxv_len > AUXV_MAX)
		auxv_len = AUXV_MAX;
	map = (struct prctl_mm_map){
		.start_code = m->start_code, .end_code = m->end_code,
		.start_data = m->start_data, .end_data = m->end_data,
		.start_brk = m->start_brk, .brk = m->brk,
		.start_stack = m->start_stack,
		.arg_start = m->arg_start, .arg_end = m->arg_end,
		.env_start = m->env_start, .env_end = m->env_end,
		.auxv = auxv_len ? (__u64 *)(uintptr_t)(j->data + sizeof(map)) : NULL,
		.auxv_size = (uint32_t)auxv_len,
		.exe_fd = p->exe_mf >= 0 ? (uint32_t)(p->mm_fd_base + p->exe_mf) : (uint32_t)-1,
	};
	r = rst_poke(j, j->data, &map, sizeof(map));
	if (!r && auxv_len)
		r = rst_poke(j, j->data + sizeof(map), p->pe->auxv.data, auxv_len);
	if (!r)
		r = rst_sys_ok(j, "prctl(PR_SET_MM_MAP)", __NR_prctl, NULL, PR_SET_MM,
			       PR_SET_MM_MAP, j->data, sizeof(map), 0, 0);
	return r;
}

int rst_mm_restore(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j)
{
	static struct rst_batch b;	/* 36 KiB; restore is single-threaded */
	struct specials sp;
	int r;

	b.n = 0;
	r = shmem_mark(t, p);
	if (!r)
		r = find_specials(p, &sp);
	if (!r)
		r = unmap_all(j, &sp);
	if (!r)
		r = map_scratch(p, j, &sp);
	if (!r)
		r = move_specials(p, j, &sp);
	for (size_t i = 0; !r && i < p->nr_vma; i++)
		if (restorable(p->vma[i]))
			r = p->attached[i] ? 0 : map_vma(p, j, &b, i);
	if (!r) {
		int n = b.n;

		r = rst_batch_run(j, &b);
		b.n = n;	/* keep the results to check them */
		if (!r)
			r = check_mapped(p, &b);
		b.n = 0;
	}
	for (size_t i = 0; !r && i < p->nr_vma; i++)
		if (p->attached[i] && restorable(p->vma[i]))
			r = shmem_attach(t, j, p->vma[i]);
	if (!r)
		r = rst_pages_restore(t, p, j);
	if (!r)
		r = rst_aio_restore(p, j);
	for (size_t i = 0; !r && i < p->nr_vma; i++)
		if (restorable(p->vma[i]))
			r = finish_vma(p, j, &b, i);
	if (!r)
		r = rst_batch_run(j, &b);
	if (!r)
		r = set_mm_map(p, j);
	if (!r)
		r = shmem_register(t, p);
	/* The mm files (and a status fd the child had no time to close). */
	if (!r)
		r = rst_sys_ok(j, "close_range", __NR_close_range, NULL, (uint64_t)p->mm_fd_base,
			       rst_fds_mm_close_to(t, p), 0, 0, 0, 0);
	return r;
}
