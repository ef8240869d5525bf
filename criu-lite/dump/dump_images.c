/* The images that describe a whole dump or pre-dump rather than one of its
 * processes: pstree.img, stats.img and inventory.img (written last: it is
 * what declares the directory complete). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cpu.h"
#include "criu-lite/dump/dump_images.h"
#include "images/clock.h"
#include "images/log.h"

int dump_write_pstree(int dirfd, const struct dump_tree *tree, const int *track_fd,
		      const struct fd_dump_tree *files)
{
	struct img *img = img_create(dirfd, IMG_PSTREE, 0);
	int r = 0;

	if (!img)
		return -errno;
	for (int n = 0; n < tree->nr_procs && !r; n++) {
		const struct dump_proc *p = &tree->procs[n];
		PstreeEntry pe = PSTREE_ENTRY__INIT;
		pid_t files_with, fs_with;
		uint32_t *threads = malloc(p->nr_threads * sizeof(*threads) + 1);

		if (!threads) {
			r = -ENOMEM;
			break;
		}
		for (int i = 0; i < p->nr_threads; i++)
			threads[i] = p->tids[i];
		pe.pid = p->pid;
		pe.ppid = p->ppid;
		pe.pgid = p->pgid;
		pe.sid = p->sid;
		pe.n_threads = p->nr_threads;
		pe.threads = threads;
		pe.has_track_fd = track_fd && track_fd[n] >= 0;
		pe.track_fd = pe.has_track_fd ? track_fd[n] : 0;
		fd_dump_tree_shares(files, p->pid, &files_with, &fs_with);
		pe.has_files_with = files_with != 0;
		pe.has_fs_with = fs_with != 0;
		pe.files_with = (uint32_t)files_with;
		pe.fs_with = (uint32_t)fs_with;
		pe.exe_ghost_id = fd_dump_tree_exe(files, p->pid);
		pe.has_exe_ghost_id = pe.exe_ghost_id != 0;
		r = img_write(img, &pe);
		free(threads);
	}
	if (r) {
		img_abort(img, dirfd);
		return r;
	}
	return img_close(img);
}

int dump_write_stats(int dirfd, const struct dump_tree *tree, const struct dump_stats *st,
		     const struct dump_times *t, const char *snapshot)
{
	StatsEntry se = STATS_ENTRY__INIT;
	struct img *img;
	int r, threads = 0;

	for (int n = 0; n < tree->nr_procs; n++)
		threads += tree->procs[n].nr_threads;
	se.freeze_start_ns = t->freeze_start;
	se.frozen_ns = t->frozen;
	se.thaw_ns = t->thaw;
	se.end_ns = mono_ns();
#define STAT(field, val) (se.has_##field = 1, se.field = (val))
	STAT(bytes_scanned, st->bytes_scanned);
	STAT(bytes_written, st->bytes_written);
	STAT(pages_scanned, st->pages_scanned);
	STAT(pages_written, st->pages_written);
	STAT(pages_zero, st->pages_zero);
	STAT(pages_unpopulated, st->pages_unpopulated);
	STAT(pages_file, st->pages_file);
	STAT(pages_parent, st->pages_parent);
	STAT(nr_procs, tree->nr_procs);
	STAT(nr_threads, threads);
	STAT(downtime_ns, t->thaw - t->freeze_start);
#undef STAT
	se.freezer = (char *)seize_freezer_name(tree->used);
	se.snapshot = (char *)snapshot;
	img = img_create(dirfd, IMG_STATS, 0);
	if (!img)
		return -errno;
	r = img_write(img, &se);
	if (r) {
		img_abort(img, dirfd);
		return r;
	}
	return img_close(img);
}

int dump_write_inventory(int dirfd, const struct dump_opts *opts, int kind, uint64_t realtime_ns,
			 const char *track_mem, uint32_t xsave_size)
{
	InventoryEntry *inv = malloc(sizeof(*inv));
	char host[256];
	int r;

	if (!inv)
		return -ENOMEM;
	inventory_entry__init(inv);
	inv->format_version = IMG_FORMAT_VERSION;
	inv->root_pid = opts->pid;
	inv->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	inv->has_kind = 1;
	inv->kind = kind;
	inv->has_dump_time_ns = 1;
	inv->dump_time_ns = realtime_ns;
	inv->tool_version = strdup(CRIU_LITE_VERSION);
	if (!gethostname(host, sizeof(host))) {
		host[sizeof(host) - 1] = '\0';
		inv->hostname = strdup(host);
	}
	if (opts->prev_dir)
		inv->parent_dir = strdup(opts->prev_dir);
	if (track_mem)
		inv->track_mem = strdup(track_mem);
	r = inv->tool_version && (!track_mem || inv->track_mem) ? cpu_fill_inventory(inv) : -ENOMEM;
	/* What the kernel's regset really held beats what CPUID predicts. */
	if (!r && xsave_size)
		inv->xsave_size = xsave_size;
	if (!r)
		r = img_write_inventory(dirfd, inv);
	img_free(inv);
	return r;
}
