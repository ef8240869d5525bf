/* crash import: a stored crash (record + kernel core) -> criu-lite images
 * that `criu-lite restore --stopped` accepts. */
#ifndef CRIU_LITE_CRASH_IMPORT_H
#define CRIU_LITE_CRASH_IMPORT_H

/* crash_dir: the crash's directory in the store; out_dir: created if
 * missing, must hold no dump. 0 or -errno (logged). */
int crash_import(const char *crash_dir, const char *out_dir);

#endif
