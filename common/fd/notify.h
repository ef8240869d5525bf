/* inotify and fanotify (inotify.c, fanotify.c): paths of what they watch
 * (notify_path.c). */
#ifndef CRIU_LITE_COMMON_FD_NOTIFY_H
#define CRIU_LITE_COMMON_FD_NOTIFY_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/fd/fd.h"

/* A mount point, in pid's mountinfo, of mount id mnt_id (when >= 0) or of
 * the device kdev (the kernel's encoding, as fdinfo prints sdev). */
int notify_mount_point(pid_t pid, int mnt_id, uint32_t kdev, char *out, size_t len);
/* The path of the inode an fdinfo watch line names by file handle. */
int notify_inode_path(pid_t pid, const char *line, uint32_t sdev, char *out, size_t len,
		      char *why, size_t wlen);

#endif
