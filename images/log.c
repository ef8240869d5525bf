#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "images/log.h"

static int log_level = LOG_WARN;
static FILE *log_out;
static bool holding;
static char held[512];
static FILE *kept;		/* log_defer's memfd, shared with forked processes */
static FILE *kept_was;		/* log_out while it is kept */
static __thread FILE *thread_out;	/* log_thread_to's */

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

int log_set_file(const char *path)
{
	FILE *f = fopen(path, "ae");

	if (!f)
		return -errno;
	setvbuf(f, NULL, _IOLBF, 0);
	log_out = f;
	return 0;
}

void log_printf(int level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOG_ERR] = "error: ", [LOG_WARN] = "warning: ",
		[LOG_INFO] = "", [LOG_DEBUG] = "debug: ",
	};
	FILE *out = thread_out ? thread_out : log_out ? log_out : stderr;
	int saved = errno;
	va_list ap;

	if (level > log_level)
		return;
	if (holding && level == LOG_ERR && !thread_out) {
		if (!held[0]) {
			va_start(ap, fmt);
			vsnprintf(held, sizeof(held), fmt, ap);
			va_end(ap);
		}
		errno = saved;
		return;
	}
	fprintf(out, "criu-lite: %s", prefix[level]);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	errno = saved;
}

void log_thread_to(FILE *f)
{
	thread_out = f;
}

void log_lines(const char *lines, size_t len)
{
	if (len)
		fwrite(lines, 1, len, log_out ? log_out : stderr);
}

void log_hold_errors(void)
{
	holding = true;
	held[0] = '\0';
}

void log_release_errors(bool print)
{
	holding = false;
	if (print && held[0])
		log_printf(LOG_ERR, "%s", held);
	held[0] = '\0';
}

void log_defer(bool on)
{
	int fd;

	if (!on) {
		if (kept && log_out == kept)
			log_out = kept_was;
		return;
	}
	if (kept || log_level > LOG_WARN)
		return;
	/* O_APPEND: lines of several processes land whole, one after another */
	fd = memfd_create("criu-lite-log", MFD_CLOEXEC);
	if (fd < 0 || fcntl(fd, F_SETFL, O_APPEND) || !(kept = fdopen(fd, "a+"))) {
		if (fd >= 0)
			close(fd);
		return;		/* lines print as they come */
	}
	setvbuf(kept, NULL, _IOLBF, 0);
	kept_was = log_out;
	log_out = kept;
}

void log_deferred_flush(bool print)
{
	FILE *out = log_out ? log_out : stderr;
	char buf[4096];
	size_t n;

	if (!kept)
		return;
	log_defer(false);
	fflush(kept);
	rewind(kept);
	while (print && (n = fread(buf, 1, sizeof(buf), kept)) > 0)
		fwrite(buf, 1, n, out);
	fclose(kept);
	kept = NULL;
}
