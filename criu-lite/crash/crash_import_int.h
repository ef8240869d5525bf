/* Private to crash_import*.c. */
#ifndef CRIU_LITE_CRASH_IMPORT_INT_H
#define CRIU_LITE_CRASH_IMPORT_INT_H

#include "criu-lite/crash/crash_elf.h"
#include "images/image.h"

/* The memory images of one process: mm-PID.img from the recorded maps,
 * pagemap-PID.img and pages-PID.img from the core's PT_LOADs. Returns the
 * bytes of memory stored in *stored. */
int crash_import_mem(int dirfd, const CrashEntry *ce, const struct crash_elf *core,
		     uint64_t *stored);

#endif
