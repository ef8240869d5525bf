/* The one reader of a dump. Every consumer (convert, restore, show's
 * summaries, the incremental trackers, crash import's checks) opens a dump
 * here and gets the same checked, in-memory view, whatever format it was
 * written in: a criu-lite directory, or (issue 16) a CRIU image directory
 * or a checkpoint archive, each read by a backend (struct dr_format) that
 * fills the same structures with criu-lite's own messages.
 *
 * Validation happens here, once, and is strict: what dr_open and
 * dr_proc_load return can be trusted by every writer after them.
 *  - inventory: a known format version, a full dump unless DR_PREDUMP_OK,
 *    x86_64's 4096-byte pages, x86_64;
 *  - pstree: at least one process, the root present, no pid twice, every
 *    process with threads, every parent in the tree (or the root's), no
 *    process its own ancestor; ps[] is put parents first (the root at 0);
 *  - proc: of the process it is named for, a whole auxv;
 *  - threads: the leader first, register sets of the kernel's sizes;
 *  - VMAs: page-aligned, non-empty, in address order, not overlapping;
 *  - page runs: page-aligned, non-empty, sorted, not overlapping, never at
 *    address 0, exactly one kind (PE_PRESENT, PE_ZERO, PE_FILE, PE_PARENT),
 *    PE_PRESENT bytes inside the pages file at a page-aligned offset,
 *    PE_PARENT only where a parent dump exists and holds those pages
 *    (stored, zero or in its own parent), followed DR_MAX_CHAIN dumps deep
 *    at most and never back into a dump already in the chain, each level
 *    checked by the same rules;
 *  - every image: whole entries only; a file cut at an entry boundary is
 *    refused where something counts its entries: pstree.img against the
 *    dump's count (nr_counted: stats.img), a threads image against the
 *    threads pstree lists, a pagemap against its pages file (which the
 *    dumper writes front to back: bytes past the last stored run mean lost
 *    runs). mm and files images carry no count: a cut there goes unseen.
 * A failure is one line on stderr naming the file and what is wrong, and a
 * negative errno; nothing stays allocated or open.
 *
 * What a backend hands over is freed here, not by the backend: inv, ps[],
 * and a process's pe, th[], vma[], fd[] with protobuf_c_message_free_unpacked
 * (so each is unpacked, or built with malloc'd fields), unless the backend
 * put them all in p->arena (criu-lite's own does): then the arena goes
 * whole and only the th, vma and fd arrays are free()d; pages with
 * dr_pages_free (build them with images/dump_read_backend.h). A backend's
 * close frees only its priv. Backends are listed in images/criu/formats.c. */
#ifndef CRIU_LITE_DUMP_READ_H
#define CRIU_LITE_DUMP_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "images/image.h"

/* One run of pages of a process. */
struct dr_run {
	uint64_t start, end;	/* [start, end), page-aligned, start > 0 */
	uint32_t flags;		/* exactly one of PE_PRESENT, PE_ZERO, PE_FILE, PE_PARENT */
	uint64_t off;		/* PE_PRESENT: byte offset of start in pages_fd,
				 * pages_base + a page-aligned offset */
};

/* Dumps in one chain of PE_PARENT pages, the first one included. */
#define DR_MAX_CHAIN	16

/* The page runs of one process in one dump, and the dump(s) its PE_PARENT
 * runs point into. Runs hold where bytes are, never the bytes; entries of
 * one kind that follow each other (and, stored, whose bytes do) are one run. */
struct dr_pages {
	struct dr_run *run;	/* sorted, disjoint */
	size_t nr;
	int pages_fd;		/* the raw pages, open read-only (-1 when no run needs it) */
	uint64_t pages_size;
	/* Where the pages file starts in pages_fd: 0, but for a member of an
	 * archive read in place, whose data a tar aligns to 512 bytes only.
	 * Runs are page-aligned from here; who maps pages_fd rounds down. */
	uint64_t pages_base;
	char *dir;		/* the dump these runs come from, for messages */
	char *image;		/* the image listing the runs ("pagemap-7.img"), for messages */
	char *pages_file;	/* name of the pages file in dir ("pages-7.img") */
	struct dr_pages *parent;	/* the pre-dump holding PE_PARENT pages, or NULL */
};

/* Everything about one process of the dump. */
struct dr_proc {
	const PstreeEntry *ps;	/* the dump's (owned by struct dump_read) */
	ProcEntry *pe;
	ThreadEntry **th;	/* th[0] is the thread-group leader */
	size_t nr_th;
	VmaEntry **vma;		/* address order */
	size_t nr_vma;
	FdEntry **fd;		/* fd order; a pre-dump tracker's fd is left out */
	size_t nr_fd;
	struct dr_pages *pages;
	unsigned loaded;	/* DR_* parts that were read (see DR_MISSING_OK) */
	/* Where pe, th[i], vma[i] and fd[i] live, or NULL: the heap. Whoever
	 * holds them frees none of them nor their fields, and replaces a field
	 * through images/arena.h (arena_strdup(p->arena, ...), arena_release). */
	struct arena *arena;
};

struct dr_format;

/* An open dump: inventory and pstree, checked. */
struct dump_read {
	const struct dr_format *fmt;	/* the backend that read it */
	char *dir;		/* as given, for messages */
	int dirfd;		/* the directory (-1 for a backend without one) */
	InventoryEntry *inv;
	PstreeEntry **ps;	/* parents before children */
	size_t nr_ps;
	size_t root;		/* index of inv->root_pid in ps */
	unsigned flags;		/* DR_* given to dr_open */
	uint32_t nr_counted;	/* processes the dump counted apart from its pstree
				 * (criu-lite: stats.img), set by the backend; 0: unknown */
	/* State the dump holds that criu-lite's messages cannot carry (a CRIU
	 * dump's namespaces, cgroups, queued socket bytes...), in one line:
	 * restore refuses the dump with it. NULL when there is none; the
	 * backend's, freed by its close. */
	const char *unrestorable;
	void *priv;		/* the backend's own state */
	struct dr_sum_bg *sum_bg;	/* DR_PAGES_SUM_LATER's thread, until waited for */
};

/* dr_open flags */
#define DR_PREDUMP_OK	(1u << 0)	/* a pre-dump (memory only) is acceptable */
/* Integrity (images/image_sum.h): dr_open checks every file the inventory
 * lists against its checksum, pages files too (about 0.1 s a GiB from the
 * page cache) unless this flag says the reader never takes page bytes
 * as they are (the trackers: they compare them with live pages). Parent
 * dumps' pages files are checked as a process's chain is loaded. */
#define DR_NO_PAGES_SUM	(1u << 1)
/* The dump's own pages files are hashed by a thread while the caller goes
 * on (a restore fills memory from them meanwhile); the caller must call
 * dr_pages_sum_wait, and give up on anything but 0, before it lets any of
 * those bytes be used (a restored process run). Parents' pages files are
 * checked as before, when a chain is loaded. */
#define DR_PAGES_SUM_LATER	(1u << 2)

/* dr_proc_load: which parts to load (others stay NULL/0). */
#define DR_PROC		(1u << 0)	/* pe */
#define DR_THREADS	(1u << 1)	/* th */
#define DR_VMAS		(1u << 2)	/* vma */
#define DR_PAGES	(1u << 3)	/* pages, with the parent chain */
#define DR_FDS		(1u << 4)	/* fd */
#define DR_ALL		(DR_PROC | DR_THREADS | DR_VMAS | DR_PAGES | DR_FDS)
/* A part whose image is absent stays empty, its bit clear in p->loaded,
 * instead of failing the load (show's summaries say what is there). What
 * is there is checked all the same. A pre-dump never has DR_PROC,
 * DR_THREADS nor DR_FDS: they stay empty there whatever is asked. */
#define DR_MISSING_OK	(1u << 8)

/* A way a dump may be stored. dr_open asks each in turn whether `path` is
 * one of its own (probe: 1 yes, 0 no, <0 error already logged); the first
 * that says yes reads it. */
struct dr_format {
	const char *name;	/* "criu-lite", "criu", "checkpoint archive" */
	int (*probe)(const char *path);
	int (*open)(struct dump_read *d, const char *path);
	int (*proc_load)(struct dump_read *d, size_t idx, unsigned what, struct dr_proc *p);
	void (*close)(struct dump_read *d);
};

/* Open the dump at path (format detected), checked as above. */
int dr_open(const char *path, unsigned flags, struct dump_read *d);
/* DR_PAGES_SUM_LATER: the verdict on the pages files (0, or -errno with
 * its one line logged); 0 at once without that flag or after a first call. */
int dr_pages_sum_wait(struct dump_read *d);
/* Before fds are put at chosen numbers, or a raw clone3, while the hash
 * may run: waits until its thread has an fd table of its own and is past
 * its start, where the runtime (a sanitizer's) holds locks a child would
 * inherit held. */
void dr_pages_sum_settle(struct dump_read *d);
/* In the child of a fork() while the hash ran: the thread did not come
 * along (only the forking thread does), so it is started again here. */
int dr_pages_sum_forked(struct dump_read *d);
void dr_close(struct dump_read *d);
/* Index in d->ps of dumped pid, or -1. */
ssize_t dr_find(const struct dump_read *d, uint32_t pid);
/* Load and check process d->ps[idx]; dr_proc_free it (also after failure). */
int dr_proc_load(struct dump_read *d, size_t idx, unsigned what, struct dr_proc *p);
void dr_proc_free(struct dr_proc *p);

/* Page runs. */
/* The run holding vaddr, or NULL (a hole: never populated). */
const struct dr_run *dr_pages_find(const struct dr_pages *pg, uint64_t vaddr);
/* The first run that ends after vaddr (holds it or follows it), or NULL. */
const struct dr_run *dr_pages_next(const struct dr_pages *pg, uint64_t vaddr);
/* Copy [vaddr, vaddr + len) as dumped: stored bytes, zeros for PE_ZERO,
 * PE_PARENT through the parent chain. -ENODATA if part of it is a hole,
 * PE_FILE (the caller takes those from the file) or PE_PARENT without a
 * parent loaded (dr_pages_open), -EIO on a short read. */
int dr_pages_read(const struct dr_pages *pg, uint64_t vaddr, void *buf, size_t len);
/* Whether [start, end) has pages of its own, copied or zero (not merely
 * file pages), following PE_PARENT runs into the parents. */
bool dr_pages_written(const struct dr_pages *pg, uint64_t start, uint64_t end);
/* Load the page runs of dumped pid from the criu-lite dump at dirfd alone
 * (no inventory needed: the trackers' and the tests' way in), checked by
 * the same rules; PE_PARENT runs stay unresolved (parent NULL). dir names
 * the dump in messages. */
/* fcopy.img (the files the tree could write, copied at the dump), its
 * copies checked to be files the inventory lists at the sizes it says:
 * 0 with *n 0 when the dump has none (older, or not criu-lite's). Free
 * with img_free_all. */
int dr_fcopy_load(struct dump_read *d, FcopyEntry ***out, size_t *n);
/* e's copy open read-only (it has one): the fd, or -errno (logged). Its
 * bytes are hashed with the pages files (DR_PAGES_SUM_LATER: judged by
 * dr_pages_sum_wait). */
int dr_fcopy_open(const struct dump_read *d, const FcopyEntry *e);
int dr_pages_open(int dirfd, const char *dir, uint32_t pid, struct dr_pages **out);
void dr_pages_free(struct dr_pages *pg);

#endif
