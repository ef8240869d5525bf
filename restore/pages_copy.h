/* pages_copy.c: the fast way pages.c fills memory. criu-lite maps the pages
 * files itself and writes the runs into the stopped child with
 * process_vm_writev from one thread per CPU. */
#ifndef CRIU_LITE_RESTORE_PAGES_COPY_H
#define CRIU_LITE_RESTORE_PAGES_COPY_H

#include <stdint.h>

#include "restore/rst.h"

struct rst_pcopy;

struct rst_pcopy *rst_pcopy_new(struct rst_proc *p);
void rst_pcopy_free(struct rst_pcopy *c);
/* Queue writing [addr, addr+len) from pages source `src` at file offset off. */
int rst_pcopy_add(struct rst_pcopy *c, int src, uint64_t addr, uint64_t len, uint64_t off);
/* Copy everything queued. -EOPNOTSUPP (nothing logged): this kernel or
 * sandbox has no process_vm_writev for us, the caller writes it all
 * another way; any other error is logged. */
int rst_pcopy_run(struct rst_pcopy *c);
/* For the debug line: bytes written, syscalls made, threads used. */
void rst_pcopy_stats(const struct rst_pcopy *c, uint64_t *bytes, uint64_t *calls, int *threads);

#endif
