/* Command line of `dump` and `pre-dump`. */
#ifndef CRIU_LITE_DUMP_OPTS_H
#define CRIU_LITE_DUMP_OPTS_H

#include "criu-lite/dump/dump.h"

/* 0: run the dump; 1: --help was printed (exit 0); <0: usage error,
 * already reported (exit 2). */
int dump_parse_opts(int argc, char **argv, struct dump_opts *o);

#endif
