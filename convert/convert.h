/* Images -> ELF core. convert.c orchestrates; each other file does one job:
 *   filesrc.c    mapped files a core may read unmodified pages from
 *   filter.c     which bytes of a VMA a core holds (coredump_filter)
 *   notes.c      the PT_NOTE contents, in the kernel's order
 *   xstate.c     the XSAVE area and its layout note
 *   segments.c   the PT_LOADs and streaming their contents
 *   core_file.c  the file itself: temp name, libelf headers, rename
 * The dump is read, and checked, by images/dump_read.h: struct dump_read and
 * struct dr_proc are what the writers here get.
 * Only convert_dump() is for other modules (the crash store, tests). */
#ifndef CRIU_LITE_CONVERT_H
#define CRIU_LITE_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "images/dump_read.h"

struct convert_opts {
	const char *dir;	/* dump directory */
	const char *out;	/* core file, or a directory for core.PID of each process */
	int64_t filter;		/* coredump_filter to apply; <0: each process's own */
	pid_t pid;		/* the process to convert; 0: the root */
	bool raw_xstate;	/* NT_X86_XSTATE exactly as dumped, even where gdb misreads it */
};

/* Convert one dump; 0 or -errno (already logged in one line). */
int convert_dump(const struct convert_opts *o);
/* The `convert` verb: argv[0] is "convert"; returns the exit status. */
int cmd_convert(int argc, char **argv);

/* ---- private to convert/ ---- */

/* The kernel's default /proc/PID/coredump_filter. */
#define CONV_DEFAULT_FILTER 0x33u

/* filesrc.c: open files of file mappings, once each, only if unchanged
 * since the dump (size, mtime, build-id as recorded). */
struct conv_files;
struct conv_files *conv_files_new(void);
void conv_files_free(struct conv_files *fc);
/* fd to read the VMA's file from, or -1 when it cannot be trusted (warned once). */
int conv_files_get(struct conv_files *fc, const VmaEntry *v);
/* The path a VMA maps, as the kernel's NT_FILE and maps name it, or NULL. */
const char *conv_vma_path(const VmaEntry *v);

/* filter.c: bytes at the VMA's start a core holds (0, one page, or all),
 * as the kernel's vma_dump_size() decides; `written`: the VMA has pages of
 * its own (the kernel's anon_vma). */
uint64_t conv_filter_dump_size(const VmaEntry *v, uint32_t filter, bool written,
			       uint64_t page_size);
/* A token of the smaps VmFlags line ("io", "dd", "ht"...). */
bool conv_vmflag(const VmaEntry *v, const char *flag);

/* xstate.c: the layout the core's NT_X86_XSTATE notes follow. */
struct conv_xcomp {
	uint32_t feature, size, offset, flags;	/* as NT_X86_XSAVE_LAYOUT says */
	uint32_t src_offset;			/* where the dumped bytes have it */
};

struct conv_xlayout {
	struct conv_xcomp comp[64];
	uint32_t nr;
	uint32_t size;		/* bytes of NT_X86_XSTATE when relayout */
	bool relayout;		/* components move to the offsets gdb assumes */
	const InventoryEntry *inv;
};

void conv_xstate_plan(const InventoryEntry *inv, bool raw, struct conv_xlayout *xl);
/* The bytes of one thread's NT_X86_XSTATE (malloc'ed into *out). */
int conv_xstate_bytes(const struct conv_xlayout *xl, const uint8_t *in, size_t len,
		      uint8_t **out, size_t *out_len);

/* notes.c: the whole PT_NOTE of a process. */
struct conv_buf {
	uint8_t *p;
	size_t len, cap;
};

int conv_notes_build(const struct dump_read *d, const struct dr_proc *p,
		     const struct conv_xlayout *xl, struct conv_buf *out);
int conv_buf_put(struct conv_buf *b, const void *p, size_t len);
void conv_buf_free(struct conv_buf *b);

/* segments.c */
struct conv_seg {
	const VmaEntry *vma;
	uint64_t filesz;
	uint64_t offset;	/* in the core */
};

struct conv_stats {
	uint64_t bytes_copied;	/* from the pages files */
	uint64_t bytes_file;	/* from mapped files */
	uint64_t bytes_hole;	/* inside p_filesz, left sparse */
};

int conv_segments_plan(const struct dr_proc *p, uint32_t filter, uint64_t page_size,
		       struct conv_seg **out, size_t *nr);
int conv_segments_write(const struct dr_proc *p, const struct conv_seg *seg, size_t nr,
			int core_fd, struct conv_stats *st);

/* core_file.c */
struct conv_core {
	int fd;
	char *tmp;		/* temporary name, in the final file's directory */
	char *path;		/* final name */
};

int conv_core_create(const char *path, struct conv_core *c);
/* Lay out and write the ELF header and program headers with libelf: a
 * PT_NOTE of `notes_len` bytes, then one PT_LOAD per segment, data page-
 * aligned; fills seg[].offset and *notes_off, *end (the file's length). */
int conv_core_write_headers(struct conv_core *c, struct conv_seg *seg, size_t nr,
			    size_t notes_len, uint64_t page_size, uint64_t *notes_off,
			    uint64_t *end);
int conv_core_pwrite(struct conv_core *c, const void *p, size_t len, uint64_t off);
/* Give the file its full length (it may end in a hole) and rename it. */
int conv_core_commit(struct conv_core *c, uint64_t end);
/* Remove the temporary file; safe after commit. */
void conv_core_abort(struct conv_core *c);

#endif
