/* Which pages a process wrote since a pre-dump, so that the next dump
 * (--prev-images-dir) stores only those and marks the rest PE_PARENT.
 *
 * Three methods, the first this kernel offers (kerndat_track_mem(); the
 * environment variable CRIU_LITE_TRACK_MEM=soft-dirty|pagemap-scan|hashes
 * forces one, for tests):
 *  - soft-dirty: clear_refs 4 at the pre-dump, pagemap bit 55 at the dump;
 *  - pagemap-scan: a userfaultfd created inside the process (injected
 *    syscalls), API with UFFD_FEATURE_WP_ASYNC, every private VMA registered
 *    for write-protect and protected; a write then only clears the PTE's
 *    protection (no fault reaches anyone), and the PAGEMAP_SCAN ioctl on
 *    /proc/PID/pagemap reports PAGE_IS_WRITTEN. The userfaultfd stays open
 *    in the process between the two dumps (its fd is in pstree.img): one fd
 *    more, visible to the process, closed again by the dump that uses it
 *    unless that dump re-arms (--track-mem);
 *  - page hashes: nothing to arm; the dump reads every page and compares
 *    it with the parent's stored bytes (an exact comparison, not a hash).
 * A tracker found gone at dump time (fd closed, process exec'd) falls back
 * to comparing, with a warning: never a wrong PE_PARENT. */
#ifndef CRIU_LITE_TRACK_MEM_H
#define CRIU_LITE_TRACK_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/kerndat.h"
#include "common/vma.h"
#include "criu-lite/incremental/parent_src.h"
#include "criu-lite/memory/mem.h"
#include "images/dump_read.h"

/* The dump a --prev-images-dir names. */
struct track_parent {
	struct dump_read d;		/* a dump or a pre-dump, checked */
	const char *path;		/* as given: relative to the new dump's directory */
	enum kd_track_mem method;	/* how the parent armed tracking */
};

/* The method a new tracker uses here. */
enum kd_track_mem track_method(void);

/* Open and check the parent dump (`prev` relative to dirfd, or absolute):
 * complete, of the same root process, same page size. On failure too, the
 * caller calls track_parent_close. */
int track_parent_open(int dirfd, const char *prev, pid_t root, struct track_parent *tp);
void track_parent_close(struct track_parent *tp);

/* Tree frozen. The parent's pages of pid as a source over `below`, in ps
 * (parent_src_close it after the dump, whatever this returned): 1, or 0
 * when the parent does not have pid (ps unused: dump it in full), or <0.
 * The tracking method is the parent's, or KD_TRACK_HASHES when its tracker
 * is gone. *tracker: the parent's userfaultfd in pid if it is still in
 * place, else -1. */
int track_prepare(struct track_parent *tp, pid_t pid, struct page_src *below,
		  struct parent_src *ps, int *tracker);

/* Tree frozen. The memory images of pid against the parent (VMAs as
 * mem_read_vmas_frozen reads them, with pre); with rearm,
 * what was written is protected again afterwards, so that the parent's
 * tracker (*tracker, or -1 if gone) goes on for a next dump. */
int track_mem_dump(struct track_parent *tp, int dirfd, pid_t pid, bool rearm,
		   const struct vma_list *pre, struct dump_stats *st,
		   int *tracker);

/* Tree frozen. Track pid's writes from now on; *fd is the userfaultfd left
 * in the process (pagemap-scan), else -1. VMAs from vl (NULL: read maps). */
int track_arm(pid_t pid, enum kd_track_mem method, const struct vma_list *vl, int *fd);
/* Write-protect, from outside, every populated page of pid's registered
 * VMAs that is not protected: (re)starts tracking without stopping it. */
int track_protect(pid_t pid, const struct vma_list *vl);
/* The tracker's fd out of files-PID.img (it is criu-lite's, not the
 * process's: restore must not see it). */
int track_forget_fd(int dirfd, pid_t pid, int fd);
/* Take the tracker down in a process that runs again: its leader is seized
 * and stopped just for the close (not the whole tree). */
void track_disarm_running(pid_t pid, int fd);

#endif
