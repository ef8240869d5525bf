/* How a restoring child reports its first failure to criu-lite (struct
 * rst_status on the status pipe): every child-side step fills it here. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "restore/rst.h"

int rst_child_fail(struct rst_status *st, int err, const char *fmt, ...)
{
	va_list ap;

	if (!st->err) {	/* the first failure is the one worth reporting */
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
		st->err = -(err ? err : EIO);
	}
	return st->err;
}
