/* The memory engine's batch layer (criu-lite/memory/mem_internal.h) on its
 * own, for unit tests: a struct pw writing pages-1.img and pagemap-1.img
 * into a fresh directory. */
#ifndef TEST_PW_UTIL_H
#define TEST_PW_UTIL_H

#include <stddef.h>

#include "criu-lite/memory/mem_internal.h"

/* make_tmpdir into dir, pw_init, images created, writer started: returns
 * the directory's fd. */
int pwu_open(struct pw *pw, char *dir, size_t len, struct dump_stats *st);
/* pw_finish, pw_fini, images closed (asserting each step). */
void pwu_close(struct pw *pw);

#endif
