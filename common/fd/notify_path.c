/* Where the inodes, mounts and filesystems inotify and fanotify watch are,
 * as paths, at the dump: fdinfo names a watched inode by its superblock's
 * device and a file handle; open_by_handle_at on a mount of that device
 * opens it, and /proc/self/fd says its path (as CRIU does). A mount is
 * named by its id, a filesystem by its device: mountinfo of the process
 * gives a mount point. Paths are as criu-lite sees them: the process is
 * taken to share its mount namespace. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fd/notify.h"

/* The kernel's dev_t (MAJOR << 20 | MINOR), as fdinfo prints s_dev. */
static void kdev_split(uint32_t kdev, unsigned int *maj, unsigned int *min)
{
	*maj = kdev >> 20;
	*min = kdev & 0xfffff;
}

/* A mount point of pid's for mount id `mnt_id` (if >= 0) or device kdev,
 * preferring one that shows the filesystem's root. 0, or -ENOENT. */
int notify_mount_point(pid_t pid, int mnt_id, uint32_t kdev, char *out, size_t len)
{
	unsigned int want_maj, want_min;
	char path[64], line[4096];
	bool found = false;
	FILE *f;

	kdev_split(kdev, &want_maj, &want_min);
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned int id, parent, maj, min;
		char root[2048], mp[2048];

		if (sscanf(line, "%u %u %u:%u %2047s %2047s", &id, &parent, &maj, &min, root,
			   mp) != 6)
			continue;
		if (mnt_id >= 0 ? (int)id != mnt_id : maj != want_maj || min != want_min)
			continue;
		/* octal escapes (\040 for a space) in mountinfo */
		for (char *s = mp, *d = mp; ; s++, d++) {
			if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
				*d = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
				s += 3;
			} else if (!(*d = *s)) {
				break;
			}
		}
		if (found && strcmp(root, "/"))
			continue;
		snprintf(out, len, "%s", mp);
		found = true;
		if (!strcmp(root, "/"))
			break;
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The path of the inode a watch line names ("... sdev:X ... fhandle-bytes:N
 * fhandle-type:T f_handle:HEX"), or -errno with why. */
int notify_inode_path(pid_t pid, const char *line, uint32_t sdev, char *out, size_t len,
		      char *why, size_t wlen)
{
	union {
		struct file_handle h;
		unsigned char raw[sizeof(struct file_handle) + 128];
	} fh;
	unsigned char *hb = fh.raw + offsetof(struct file_handle, f_handle);
	unsigned int bytes, type;
	char mp[PATH_MAX], link[64];
	const char *p = strstr(line, "fhandle-bytes:");
	int mfd, fd, r = 0;
	ssize_t n;

	if (!p || sscanf(p, "fhandle-bytes:%x fhandle-type:%x", &bytes, &type) != 2 ||
	    bytes > 128 || !(p = strstr(p, "f_handle:")))
		return snprintf(why, wlen, "no file handle in fdinfo"), -ENOTSUP;
	p += strlen("f_handle:");
	for (unsigned int i = 0; i < bytes; i++) {
		int hi = hexval(p[2 * i]), lo = hi < 0 ? -1 : hexval(p[2 * i + 1]);

		if (lo < 0)
			return snprintf(why, wlen, "bad file handle in fdinfo"), -EINVAL;
		hb[i] = (unsigned char)(hi * 16 + lo);
	}
	fh.h.handle_bytes = bytes;
	fh.h.handle_type = (int)type;
	if (notify_mount_point(pid, -1, sdev, mp, sizeof(mp)))
		return snprintf(why, wlen, "no mount of device %u:%u", sdev >> 20, sdev & 0xfffff),
		       -ENOENT;
	/* not O_PATH: open_by_handle_at takes no O_PATH fd */
	mfd = open(mp, O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		return snprintf(why, wlen, "cannot open %s: %s", mp, strerror(errno)), -errno;
	fd = open_by_handle_at(mfd, &fh.h, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(why, wlen, "its inode cannot be opened (%s): gone?", strerror(errno));
		close(mfd);
		return r;
	}
	close(mfd);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, len - 1);
	close(fd);
	if (n < 0)
		return snprintf(why, wlen, "readlink: %s", strerror(errno)), -errno;
	out[n] = '\0';
	if (n >= 10 && !strcmp(out + n - 10, " (deleted)"))
		return snprintf(why, wlen, "%s, which is deleted", out), -ENOENT;
	if (out[0] != '/')
		return snprintf(why, wlen, "%s is not reachable from criu-lite's root", out),
		       -ENOENT;
	return 0;
}
