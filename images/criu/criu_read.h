/* What the rest of criu-lite sees of the CRIU backend (images/criu/): the
 * two dump formats dr_open() tries, and what show prints of a CRIU dump
 * that the dump reader's view has no room for (CRIU's images verbatim, a
 * checkpoint archive's container). */
#ifndef CRIU_LITE_CRIU_READ_H
#define CRIU_LITE_CRIU_READ_H

#include <stdbool.h>
#include <stdio.h>

#include "images/dump_read.h"

/* A CRIU image directory (CRIU 3.x-4.x), or an unpacked checkpoint archive. */
extern const struct dr_format criu_format_dir;
/* A checkpoint archive: tar, tar.gz, tar.zst (kubelet, CRI-O, Podman). */
extern const struct dr_format criu_format_archive;

/* Whether path is a CRIU dump: a directory of CRIU images (or an unpacked
 * archive), or a file that looks like an archive (tar, gzip, zstd...). */
bool criu_is_dump(const char *path);
/* Whether path is a file that starts with one of CRIU's image magics. */
bool criu_is_image_file(const char *path);
/* One CRIU image as JSON, the way crit decodes it:
 *   {"magic": "CORE", "entries": [...]}
 * entries by field name; the raw bytes after a pipe-data or socket-queue
 * entry as its "extra" (hex); addresses and flag words as "0x..." strings. */
int criu_show_file(const char *path, FILE *out);
/* Every file of a CRIU dump (directory or archive) as one JSON object keyed
 * by file name; an archive's container under "container". */
int criu_show_dump(const char *path, FILE *out);
/* An archive's container (name, image, runtime, pod) as "key: value"
 * lines; nothing for a dump without one. */
void criu_show_container(const struct dump_read *d, FILE *out);

#endif
