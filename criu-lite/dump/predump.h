/* `criu-lite pre-dump`: see predump.c. */
#ifndef CRIU_LITE_PREDUMP_H
#define CRIU_LITE_PREDUMP_H

#include "criu-lite/dump/dump.h"

/* 0, or -errno (logged) with no inventory written and no tracker left. */
int predump_run(const struct dump_opts *opts);

#endif
