/* Memory of one process into mm-PID.img (the VMAs), pagemap-PID.img (page
 * runs) and pages-PID.img (raw page-aligned bytes). See pagemap.c for what
 * is captured and pages_write.c for how it is read and written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "criu-lite/memory/mem.h"
#include "criu-lite/memory/mem_internal.h"
#include "images/log.h"


struct mem_dump {
	int dirfd;
	pid_t pid;
	char pages_name[64];
	struct img *mm, *pm;
	int pages_fd;
	struct mem_files files;
	struct pw pw;
	struct pm_ctx pc;
};

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

/* Which pages of each VMA, and from where, is the source's business. */
static int dump_all(struct mem_dump *md, const struct vma_list *vl, struct page_src *src)
{
	for (size_t i = 0; i < vl->nr; i++) {
		struct mem_vma mv;
		int r = mem_vma_classify(md->pid, &vl->v[i], &md->files, &mv);

		if (r >= 0)
			r = mem_vma_write(md->mm, &mv);
		if (r >= 0)
			r = src->ops->scan(src, &md->pc, &mv, (uint32_t)i);
		if (r < 0)
			return r;
	}
	return pw_finish(&md->pw);
}

int mem_dump_src(int dirfd, pid_t pid, const struct vma_list *vl, struct page_src *src,
		 struct dump_stats *st)
{
	struct mem_dump md = { .dirfd = dirfd, .pid = pid, .pages_fd = -1 };
	struct dump_stats local = { 0 };
	int r, r2;

	r = pw_init(&md.pw, &local);
	md.pw.pid = pid;
	if (r >= 0)
		r = open_images(&md);
	if (r >= 0)
		r = pm_init(&md.pc, &md.pw);
	if (r >= 0)
		r = dump_all(&md, vl, src);

	pm_fini(&md.pc);
	pw_fini(&md.pw);
	mem_files_free(&md.files);
	r2 = md.mm ? img_close(md.mm) : 0;
	r = r < 0 ? r : r2;
	r2 = md.pm ? img_close(md.pm) : 0;
	r = r < 0 ? r : r2;
	if (md.pages_fd >= 0 && close(md.pages_fd) && r >= 0)
		r = pr_perror("cannot close %s", md.pages_name);
	if (r >= 0)
		img_sum_note(dirfd, md.pages_name, md.pw.writer.written, md.pw.writer.hash, -1);
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

int mem_dump(int dirfd, pid_t pid, struct dump_stats *st)
{
	struct live_src live;
	struct vma_list vl;
	int r = mem_read_vmas(pid, &vl);

	if (r < 0)
		return r;
	live_src_init(&live, pid, false);
	r = mem_dump_src(dirfd, pid, &vl, &live.s, st);
	live_src_fini(&live);
	vma_list_free(&vl);
	return r;
}
