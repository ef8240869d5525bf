/* Bytes of one file into another inside the kernel, for the copies a
 * replay's files are backed by (the dump's copies, the replay's own). */
#ifndef CRIU_LITE_FILE_COPY_H
#define CRIU_LITE_FILE_COPY_H

#include <stdint.h>

/* len bytes from from's offset to to's (both advance): copy_file_range
 * within one filesystem, sendfile across (tmpfs is another). 0, -errno,
 * or -ENODATA when from ended first (it was cut meanwhile). */
int file_copy_bytes(int from, int to, uint64_t len);

#endif
