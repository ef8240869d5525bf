/* For the backends of the dump reader (struct dr_format) only: how they
 * build page runs, and the checks dump_read.c runs on what they return
 * (shared so that a backend may apply one to a level it reads, such as a
 * parent's inventory). Consumers use images/dump_read.h. */
#ifndef CRIU_LITE_DUMP_READ_BACKEND_H
#define CRIU_LITE_DUMP_READ_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "images/dump_read.h"

/* The formats dr_open asks, in order, NULL-terminated (images/criu/formats.c:
 * a new backend is one row there). */
extern const struct dr_format *const dr_formats[];
/* criu-lite's own directory format (dump_read_native.c). */
extern const struct dr_format dr_format_native;

/* x86_64's page: the only size dr_check_inventory lets through. */
#define DR_PAGE 4096ull

/* The offset of a PE_PRESENT run whose entry gave none: refused by the checks. */
#define DR_NO_OFF UINT64_MAX

/* An empty level of runs: dir, image and pages_file copied, pages_fd -1. */
struct dr_pages *dr_pages_new(const char *dir, const char *image, const char *pages_file);
/* Append the run of one entry as written; dr_pages_check judges it later.
 * Adjacent runs of one kind whose bytes also follow each other become one
 * (fewer, larger copies for every reader). */
int dr_pages_add(struct dr_pages *pg, uint64_t vaddr, uint64_t nr_pages, uint32_t flags,
		 uint64_t off);
/* The page-run rules of dump_read.h on pg and on every dump behind it;
 * with `resolved`, each PE_PARENT run needs a parent that holds its pages. */
int dr_pages_check(const struct dr_pages *pg, bool resolved);

/* dump_read_check.c: the other rules of dump_read.h. `dir` names the dump
 * in messages; flags are dr_open's (DR_PREDUMP_OK). */
int dr_check_inventory(const InventoryEntry *inv, const char *dir, unsigned flags);
/* Orders d->ps parents first and sets d->root. */
int dr_check_pstree(struct dump_read *d);
/* The parts of p that were loaded (p->loaded). */
int dr_check_proc(const struct dump_read *d, const struct dr_proc *p);

/* dump_read_sums.c: integrity (images/image_sum.h). inv NULL, or one
 * written before sums: nothing to check against. */
/* inventory.img of the dump at dirfd, sealed if it lists sums, and every
 * file it lists present at its size, with contents checked as `hash` says
 * (IMG_SUM_*). -ENOENT (said only when must). */
/* DR_PAGES_SUM_LATER: start hashing d's pages files (dump_read_sums_bg.c). */
int dr_sum_bg_start(struct dump_read *d);
int dr_read_inventory(int dirfd, const char *dir, bool must, unsigned hash,
		      InventoryEntry **out);
/* img_open, the image held to its sum in inv (refused if inv has sums but
 * none for it); the read_one/read_all variants read it whole, into arena a
 * (NULL: the heap; img_use_arena). */
struct img *dr_img_open(int dirfd, const char *dir, const InventoryEntry *inv,
			enum img_kind kind, int pid, bool must);
int dr_img_read_one(int dirfd, const char *dir, const InventoryEntry *inv, enum img_kind kind,
		    int pid, bool must, struct arena *a, void **out);
int dr_img_read_all(int dirfd, const char *dir, const InventoryEntry *inv, enum img_kind kind,
		    int pid, bool must, struct arena *a, void ***out, size_t *n);
/* The pages file name open at fd is one inv lists; with hash, its whole
 * contents match (its size was checked with the directory). */
int dr_pages_verify(int fd, const char *dir, const InventoryEntry *inv, const char *name,
		    bool hash);

#endif
