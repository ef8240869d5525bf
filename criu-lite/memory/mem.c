/* Memory of one process into mm-PID.img (the VMAs), pagemap-PID.img (page
 * runs) and pages-PID.img (raw page-aligned bytes). See pagemap.c for what
 * is captured and pages_write.c for how it is read and written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/kerndat.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/memory/mem_internal.h"
#include "images/log.h"


struct mem_dump {
	int dirfd;
	pid_t pid, mem_pid;
	char pages_name[64];
	struct img *mm, *pm;
	int pages_fd;
	struct vma_list copy_vmas;	/* the fork()ed copy's VMAs, when needed */
	const struct mem_extra *x;	/* or NULL */
	struct mem_files files;
	struct pw pw;
	struct pm_ctx pc;
};

/* A fork()ed copy lacks MADV_DONTFORK ranges and has WIPEONFORK ones
 * emptied: those must come from the original, unless the copy shows the
 * range intact (the snapshot cleared the flags around its fork()). */
static pid_t source_of(const struct mem_dump *md, const struct vma *v)
{
	const struct vma *c;

	if (md->mem_pid == md->pid || !(v->vmf & (VMF_DONTCOPY | VMF_WIPEONFORK)))
		return md->mem_pid;
	c = vma_list_find(&md->copy_vmas, v->start);
	if (c && c->start == v->start && c->end == v->end && !(c->vmf & VMF_WIPEONFORK))
		return md->mem_pid;
	pr_warn("%#llx-%#llx is MADV_DONTFORK/WIPEONFORK: read from the live process %d",
		(unsigned long long)v->start, (unsigned long long)v->end, md->pid);
	return md->pid;
}

static int open_images(struct mem_dump *md)
{
	PagemapHead head = PAGEMAP_HEAD__INIT;
	int r;

	snprintf(md->pages_name, sizeof(md->pages_name), "pages-%d.img", md->pid);
	md->mm = img_create(md->dirfd, IMG_MM, md->pid);
	if (!md->mm)
		return -errno;
	md->pm = img_create(md->dirfd, IMG_PAGEMAP, md->pid);
	if (!md->pm)
		return -errno;
	md->pages_fd = img_create_raw(md->dirfd, md->pages_name);
	if (md->pages_fd < 0)
		return md->pages_fd;
	head.pages_file = md->pages_name;
	r = img_write(md->pm, &head);
	if (r >= 0) {
		md->pw.pages_fd = md->pages_fd;
		md->pw.pm = md->pm;
		r = pww_start(&md->pw.writer, md->pages_fd);
	}
	return r;
}

static bool is_frozen(const struct mem_dump *md, size_t i)
{
	return md->x && md->x->frozen && md->x->frozen[i];
}

static enum wp_kind wp_kind_of(const struct mem_dump *md, size_t i)
{
	return md->x && md->x->wp_kind ? (enum wp_kind)md->x->wp_kind[i] : WPK_NONE;
}

/* --snapshot wp: the pages populated at the freeze, from the live process
 * (pages_write's overlay puts back those it wrote since). A page populated
 * since then was a hole at the freeze: it stays one. */
size_t wp_run_first_after(const struct wp_run *runs, size_t nr, uint64_t addr)
{
	size_t lo = 0, hi = nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (runs[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int queue_wp_runs(struct mem_dump *md, const struct vma *v, uint32_t idx)
{
	const struct mem_extra *x = md->x;
	uint64_t covered = 0;

	for (size_t k = wp_run_first_after(x->wp_runs, x->nr_wp_runs, v->start);
	     k < x->nr_wp_runs && x->wp_runs[k].start < v->end; k++) {
		uint64_t s = x->wp_runs[k].start > v->start ? x->wp_runs[k].start : v->start;
		uint64_t e = x->wp_runs[k].end < v->end ? x->wp_runs[k].end : v->end;
		int r = pw_add_copy(&md->pw, s, (e - s) / MEM_PAGE, idx, PW_SRC_VM, md->pid, -1, 0);

		if (r < 0)
			return r;
		covered += (e - s) / MEM_PAGE;
	}
	md->pw.st->pages_scanned += (v->end - v->start) / MEM_PAGE;
	md->pw.st->pages_unpopulated += (v->end - v->start) / MEM_PAGE - covered;
	return 0;
}

static int dump_all(struct mem_dump *md, const struct vma_list *vl)
{
	bool need_copy_vmas = false;
	int r;

	for (size_t i = 0; i < vl->nr; i++)
		need_copy_vmas |= !!(vl->v[i].vmf & (VMF_DONTCOPY | VMF_WIPEONFORK)) &&
				  !is_frozen(md, i);
	if (md->mem_pid != md->pid && need_copy_vmas &&
	    (r = vma_list_read(md->mem_pid, true, &md->copy_vmas)) < 0)
		return r;
	for (size_t i = 0; i < vl->nr; i++) {
		const struct vma *v = &vl->v[i];
		struct mem_vma mv;
		pid_t src = source_of(md, v);

		r = mem_vma_classify(md->pid, v, &md->files, &mv);
		if (r >= 0)
			r = mem_vma_write(md->mm, &mv);
		if (r >= 0 && wp_kind_of(md, i) == WPK_PROTECTED) {
			r = queue_wp_runs(md, v, (uint32_t)i);
			if (r < 0)
				return r;
			continue;
		}
		if (r >= 0 && wp_kind_of(md, i) == WPK_FILE && mv.policy == MP_PRIV_FILE)
			mv.policy = MP_SHARED_FILE;	/* what is resident is the file's */
		if (r >= 0 && is_frozen(md, i)) {
			r = pm_scan_frozen(&md->pc, &mv, (uint32_t)i, md->x->frozen_fd);
			if (r < 0)
				return r;
			continue;
		}
		if (r >= 0 && src != md->pid && mv.policy == MP_PRIV_FILE &&
		    (r = pm_has_pages(&md->pc, src, v->start, v->end)) == 0) {
			/* fork() copies no page tables of a private file mapping
			 * that has no anonymous page: what the original has
			 * resident there was the file's at the fork. */
			mv.policy = MP_SHARED_FILE;
			r = pm_scan_vma(&md->pc, &mv, (uint32_t)i, md->pid, md->pid, md->pid);
			if (r < 0)
				return r;
			continue;
		}
		/* Shared pages are not copied into a fork()ed child's page
		 * tables: the original's pagemap says what is populated. */
		if (r >= 0)
			r = pm_scan_vma(&md->pc, &mv, (uint32_t)i, v->shared ? md->pid : src, src, src);
		if (r < 0)
			return r;
	}
	return pw_finish(&md->pw);
}

int mem_dump_vmas(int dirfd, pid_t pid, pid_t mem_pid, const struct vma_list *vl,
		  struct dump_stats *st)
{
	return mem_dump_ex(dirfd, pid, mem_pid, vl, NULL, st);
}

int mem_dump_ex(int dirfd, pid_t pid, pid_t mem_pid, const struct vma_list *vl,
		const struct mem_extra *x, struct dump_stats *st)
{
	struct mem_dump md = { .dirfd = dirfd, .pid = pid, .mem_pid = mem_pid, .pages_fd = -1,
			       .x = x };
	struct dump_stats local = { 0 };
	int r, r2;

	r = pw_init(&md.pw, &local);
	md.pw.pid = pid;
	if (r >= 0)
		r = open_images(&md);
	if (r >= 0)
		r = pm_init(&md.pc, &md.pw);
	if (r >= 0 && x && x->parent) {
		md.pc.parent = x->parent;
		md.pc.track = x->track;
		if (x->track == KD_TRACK_HASHES)
			md.pw.cmp_parent = x->parent;
	}
	if (x)
		md.pw.best_effort = x->best_effort;
	if (x && x->wp_kind) {
		md.pw.overlay_fd = x->frozen_fd;
		md.pw.overlay_pid = pid;
		md.pw.read_upto = x->read_upto;
	}
	md.pc.procmem = mem_pid != pid;		/* a fork()ed copy */
	if (r >= 0)
		r = dump_all(&md, vl);

	pm_fini(&md.pc);
	pw_fini(&md.pw);
	mem_files_free(&md.files);
	vma_list_free(&md.copy_vmas);
	r2 = md.mm ? img_close(md.mm) : 0;
	r = r < 0 ? r : r2;
	r2 = md.pm ? img_close(md.pm) : 0;
	r = r < 0 ? r : r2;
	if (md.pages_fd >= 0 && close(md.pages_fd) && r >= 0)
		r = pr_perror("cannot close %s", md.pages_name);
	if (r < 0) {
		char name[64];

		/* No half images: the orchestrator writes no inventory either. */
		for (int k = IMG_MM; k <= IMG_PAGEMAP; k++)
			if (!img_name(k, pid, name, sizeof(name)))
				unlinkat(dirfd, name, 0);
		unlinkat(dirfd, md.pages_name, 0);
		return r;
	}
	st->bytes_scanned += local.bytes_scanned;
	st->bytes_written += local.bytes_written;
	st->pages_scanned += local.pages_scanned;
	st->pages_written += local.pages_written;
	st->pages_zero += local.pages_zero;
	st->pages_unpopulated += local.pages_unpopulated;
	st->pages_file += local.pages_file;
	st->pages_parent += local.pages_parent;
	return 0;
}

int mem_dump(int dirfd, pid_t pid, pid_t mem_pid, struct dump_stats *st)
{
	struct vma_list vl;
	int r = mem_read_vmas(pid, &vl);

	if (r < 0)
		return r;
	r = mem_dump_vmas(dirfd, pid, mem_pid, &vl, st);
	vma_list_free(&vl);
	return r;
}
