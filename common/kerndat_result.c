/* The small pieces every kerndat*.c probe shares: a result with its
 * reason, and the first line of a /proc or /sys knob. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/kerndat.h"

void kd_set(struct kd_result *r, bool ok, const char *fmt, ...)
{
	va_list ap;

	r->ok = ok;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

/* First line of a small file, without its newline; -errno if unreadable. */
int kd_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		r = ferror(f) ? -EIO : (buf[0] = '\0', 0);
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return r;
}
