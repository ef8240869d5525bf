/* ELF build-ids (NT_GNU_BUILD_ID) and file identities: what lets convert
 * and restore tell later whether a file is still the one that was mapped. */
#ifndef CRIU_LITE_BUILDID_H
#define CRIU_LITE_BUILDID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "images/image.h"

#define BUILDID_MAX 64

/* True when the file behind fd starts with the ELF magic. */
bool buildid_is_elf(int fd);
/* Copy the NT_GNU_BUILD_ID descriptor of the ELF file behind fd into buf.
 * Returns its length, 0 when the file is not ELF or has no build-id, or
 * -errno. Reads through libelf; the fd's offset is not used. */
int buildid_read(int fd, uint8_t *buf, size_t len);

/* A heap-built FileIdentity (free with img_free) for the file open as fd,
 * recorded under `path`; with want_buildid, ELF files get their build-id. */
int fileid_from_fd(int fd, const char *path, bool want_buildid, FileIdentity **out);

#endif
