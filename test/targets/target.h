/* Shared by the test targets: how a target tells the test it is ready.
 * A target prints one line "READY key=value ..." on stdout (a pipe the test
 * reads) once its state is set up, then goes on running until killed. */
#ifndef TEST_TARGET_H
#define TEST_TARGET_H

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static inline void target_ready(const char *fmt, ...)
{
	va_list ap;

	printf("READY ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#endif
