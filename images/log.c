#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "images/log.h"

static int log_level = LOG_WARN;
static FILE *log_out;
static bool holding;
static char held[512];

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
	FILE *out = log_out ? log_out : stderr;
	int saved = errno;
	va_list ap;

	if (level > log_level)
		return;
	if (holding && level == LOG_ERR) {
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
