/* `criu-lite import -D DUMP -o DIR`: any dump the reader opens (a CRIU
 * image directory, a checkpoint archive, or a criu-lite dump) written out
 * as criu-lite images. The reader's view is criu-lite's own messages, so
 * this is writing them: per process proc, threads, mm, files and the pages
 * (import_pages.c), then pstree, and the inventory last, as a dump does.
 * What the source holds that criu-lite's images cannot (the reader says it
 * as the dump's "unrestorable" line) is not written, and said. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/cli.h"
#include "criu-lite/commands.h"
#include "criu-lite/import/import.h"
#include "images/dump_read.h"
#include "images/log.h"

static int import_proc(struct dump_read *d, size_t i, int out, struct import_stats *st)
{
	struct dr_proc p;
	int pid = (int)d->ps[i]->pid;
	int r;

	r = dr_proc_load(d, i, DR_ALL, &p);
	if (r < 0)
		return r;
	r = img_write_entries(out, IMG_PROC, pid, (void *const *)&p.pe, 1);
	if (!r)
		r = img_write_entries(out, IMG_THREADS, pid, (void *const *)p.th, p.nr_th);
	if (!r)
		r = img_write_entries(out, IMG_MM, pid, (void *const *)p.vma, p.nr_vma);
	if (!r)
		r = img_write_entries(out, IMG_FILES, pid, (void *const *)p.fd, p.nr_fd);
	if (!r)
		r = import_pages(out, pid, p.pages, st);
	st->threads += p.nr_th;
	dr_proc_free(&p);
	return r;
}

/* The source's inventory, as a standalone dump: PE_PARENT pages were
 * copied, so no parent is named. */
static int write_inventory(int out, const InventoryEntry *src)
{
	InventoryEntry inv = *src;

	inv.parent_dir = NULL;
	inv.has_kind = 1;
	inv.kind = INVENTORY_KIND_DUMP;
	return img_write_inventory(out, &inv);
}

/* After a failure: what this import wrote goes, and DIR if it made it. */
static void remove_written(int out, const char *dir, const struct dump_read *d, bool made)
{
	static const enum img_kind kinds[] = { IMG_PROC, IMG_THREADS, IMG_MM, IMG_FILES,
					       IMG_PAGEMAP };
	char name[64];

	for (size_t i = 0; i < d->nr_ps; i++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (!img_name(kinds[k], (int)d->ps[i]->pid, name, sizeof(name)))
				unlinkat(out, name, 0);
		snprintf(name, sizeof(name), "pages-%u.img", d->ps[i]->pid);
		unlinkat(out, name, 0);
	}
	unlinkat(out, "pstree.img", 0);
	unlinkat(out, "inventory.img", 0);
	if (made)
		rmdir(dir);
}

int import_dump(const char *src, const char *dst)
{
	struct import_stats st = { 0 };
	struct dump_read d;
	bool made = false;
	int out, r;

	r = dr_open(src, 0, &d);
	if (r < 0)
		return r;
	out = img_dir_create(dst, &made);
	r = out < 0 ? out : 0;
	for (size_t i = 0; i < d.nr_ps && !r; i++)
		r = import_proc(&d, i, out, &st);
	if (!r)
		r = img_write_entries(out, IMG_PSTREE, 0, (void *const *)d.ps, d.nr_ps);
	if (!r)
		r = write_inventory(out, d.inv);
	if (!r && d.unrestorable)
		pr_warn("not imported (criu-lite images do not hold it): %s", d.unrestorable);
	if (!r)
		pr_info("%s: %zu processes, %llu threads, %.1f MiB of pages (%s) into %s", src,
			d.nr_ps, (unsigned long long)st.threads, st.bytes / 1048576.0,
			d.fmt->name, dst);
	if (r < 0 && out >= 0)
		remove_written(out, dst, &d, made);
	if (out >= 0)
		close(out);
	dr_close(&d);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: criu-lite import -D DUMP -o DIR [-v[N]]\n"
		"  Write criu-lite images from another dump: a CRIU image directory (CRIU\n"
		"  3.x-4.x, with its pre-dump parents), a checkpoint archive (kubelet, CRI-O,\n"
		"  Podman: .tar, .tar.gz, .tar.zst), or a criu-lite dump. The format is\n"
		"  detected. Pages in parent dumps are copied: DIR stands alone.\n"
		"  -D, --images-dir DUMP  the dump to read\n"
		"  -o, --output DIR       where to write (created; must not hold a dump)\n"
		"  -v[N]                  more logging (-v: what was imported)\n"
		"What criu-lite images cannot hold (a container's namespaces and cgroups,\n"
		"queued socket bytes...) is left out, and said.\n");
}

int cmd_import(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "images-dir", required_argument, NULL, 'D' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", optional_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *src = NULL, *dst = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "D:o:v::h", lopts, NULL)) != -1) {
		switch (c) {
		case 'D': src = optarg; break;
		case 'o': dst = optarg; break;
		case 'v': cli_log_opt(c, optarg, LOG_INFO); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!src || !dst || optind != argc) {
		fprintf(stderr, "criu-lite import: -D DUMP and -o DIR are required"
				" (criu-lite import --help)\n");
		return 2;
	}
	return import_dump(src, dst) < 0 ? 1 : 0;
}
