/* `criu-lite convert`: images -> ELF core, the script of it. Silent on
 * success; -v logs what was written and how fast. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/cli.h"
#include "convert/convert.h"
#include "images/log.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void log_done(const char *out, const struct conv_stats *st, uint64_t end, double secs)
{
	double mib = (st->bytes_copied + st->bytes_file) / 1048576.0;

	pr_info("%s: %.1f MiB of memory (%.1f MiB from the pages, %.1f MiB from mapped files) "
		"in %.3f s, %.0f MiB/s; %.1f MiB left as holes; file %.1f MiB",
		out, mib, st->bytes_copied / 1048576.0, st->bytes_file / 1048576.0, secs,
		secs > 0 ? mib / secs : 0.0, st->bytes_hole / 1048576.0, end / 1048576.0);
}

static int write_core(const struct dump_read *d, const struct dr_proc *p, uint32_t filter,
		      const struct convert_opts *o, const char *out)
{
	uint64_t page_size = d->inv->page_size;
	struct conv_stats st = { 0 };
	struct conv_buf notes = { 0 };
	struct conv_seg *seg = NULL;
	struct conv_core core = { .fd = -1 };
	struct conv_xlayout xl;
	uint64_t notes_off, end;
	size_t nr = 0;
	double t0 = now_s();
	int r;

	conv_xstate_plan(d->inv, o->raw_xstate, &xl);
	r = conv_notes_build(d, p, &xl, &notes);
	if (!r)
		r = conv_segments_plan(p, filter, page_size, &seg, &nr);
	if (!r)
		r = conv_core_create(out, &core);
	if (!r)
		r = conv_core_write_headers(&core, seg, nr, notes.len, page_size, &notes_off, &end);
	if (!r)
		r = conv_core_pwrite(&core, notes.p, notes.len, notes_off);
	if (!r)
		r = conv_segments_write(p, seg, nr, core.fd, &st);
	if (!r)
		r = conv_core_commit(&core, end);
	else
		conv_core_abort(&core);
	if (!r)
		log_done(out, &st, end, now_s() - t0);
	free(seg);
	conv_buf_free(&notes);
	return r;
}

static int convert_one(struct dump_read *d, size_t idx, const struct convert_opts *o,
		       const char *out)
{
	struct dr_proc p;
	uint32_t filter;
	int r;

	r = dr_proc_load(d, idx, DR_PROC | DR_THREADS | DR_VMAS | DR_PAGES, &p);
	if (r < 0)
		return r;
	/* Segments are copied in address order: the pages files are read
	 * front to back, each once. */
	for (const struct dr_pages *pg = p.pages; pg; pg = pg->parent)
		posix_fadvise(pg->pages_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (o->filter >= 0)
		filter = (uint32_t)o->filter;
	else
		filter = p.pe->has_coredump_filter ? p.pe->coredump_filter : CONV_DEFAULT_FILTER;
	pr_debug("process %u: %zu threads, %zu VMAs, coredump_filter %#x", p.ps->pid, p.nr_th,
		 p.nr_vma, filter);
	r = write_core(d, &p, filter, o, out);
	dr_proc_free(&p);
	return r;
}

/* -o DIR: core.PID for each process of the tree (or the one asked for). */
static int convert_into_dir(struct dump_read *d, const struct convert_opts *o)
{
	int r = 0;

	for (size_t i = 0; i < d->nr_ps && !r; i++) {
		char *path;

		if (o->pid && d->ps[i]->pid != (uint32_t)o->pid)
			continue;
		if (asprintf(&path, "%s/core.%u", o->out, d->ps[i]->pid) < 0)
			return -ENOMEM;
		r = convert_one(d, i, o, path);
		free(path);
	}
	return r;
}

int convert_dump(const struct convert_opts *o)
{
	struct dump_read d;
	struct stat st;
	ssize_t idx;
	int r;

	r = dr_open(o->dir, 0, &d);
	if (r < 0)
		return r;
	idx = dr_find(&d, o->pid ? (uint32_t)o->pid : d.inv->root_pid);
	if (idx < 0) {
		pr_err("%s: process %d is not in this dump", o->dir, o->pid);
		r = -ESRCH;
	} else if (!stat(o->out, &st) && S_ISDIR(st.st_mode)) {
		r = convert_into_dir(&d, o);
	} else {
		if (!o->pid && d.nr_ps > 1)
			pr_info("%s holds %zu processes; converting the root %u (-o DIR gives a "
				"core per process)", o->dir, d.nr_ps, d.inv->root_pid);
		r = convert_one(&d, (size_t)idx, o, o->out);
	}
	dr_close(&d);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: criu-lite convert -D DIR -o CORE [--filter MASK] [--pid PID] [--raw-xstate] [-v[N]]\n"
		"  Turn a dump into an ELF core file for gdb, lldb and elfutils.\n"
		"  -D, --images-dir DIR  the dump directory\n"
		"  -o, --output CORE     the core file; if CORE is a directory, core.PID for\n"
		"                        each process of the dump\n"
		"  --filter MASK         coredump_filter bits to apply instead of the process's\n"
		"                        own (core(5): 0x1 anon private, 0x2 anon shared, 0x4 file\n"
		"                        private, 0x8 file shared, 0x10 ELF headers, 0x20/0x40 hugetlb)\n"
		"  --pid PID             the process to convert (default: the root)\n"
		"  --raw-xstate          NT_X86_XSTATE exactly as dumped, even where the CPU's\n"
		"                        XSAVE layout is one older gdb misreads\n"
		"  -v[N]                 more logging (-v: what was written and how fast)\n"
		"The core reports signal SIGSTOP (si_code SI_USER): a dump stops, it does not kill.\n");
}

static int parse_num(const char *s, const char *what, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 0);
	if (errno || !*s || *end || *out > max || *s == '-') {
		fprintf(stderr, "criu-lite convert: bad %s '%s'\n", what, s);
		return -1;
	}
	return 0;
}

enum { OPT_FILTER = 256, OPT_PID, OPT_RAW_XSTATE };

int cmd_convert(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "images-dir", required_argument, NULL, 'D' },
		{ "output", required_argument, NULL, 'o' },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "raw-xstate", no_argument, NULL, OPT_RAW_XSTATE },
		{ "verbose", optional_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct convert_opts o = { .filter = -1 };
	unsigned long n;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "D:o:v::h", lopts, NULL)) != -1) {
		switch (c) {
		case 'D': o.dir = optarg; break;
		case 'o': o.out = optarg; break;
		case OPT_FILTER:
			if (parse_num(optarg, "--filter mask", 0x1ff, &n))
				return 2;
			o.filter = n;
			break;
		case OPT_PID:
			if (parse_num(optarg, "--pid", 0x7fffffff, &n) || !n)
				return 2;
			o.pid = n;
			break;
		case OPT_RAW_XSTATE: o.raw_xstate = true; break;
		case 'v':
			if (optarg && parse_num(optarg, "-v level", LOG_DEBUG, &n))
				return 2;
			log_set_level(optarg ? (int)n : log_get_level() < LOG_DEBUG ?
				      log_get_level() + 1 : LOG_DEBUG);
			break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_opt("convert", argv); return 2;
		}
	}
	if (!o.dir || !o.out || optind != argc) {
		fprintf(stderr, "criu-lite convert: -D DIR and -o CORE are required"
				" (criu-lite convert --help)\n");
		return 2;
	}
	return convert_dump(&o) < 0 ? 1 : 0;
}
