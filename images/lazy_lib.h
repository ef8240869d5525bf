/* Libraries only one verb or one option needs (libarchive for a
 * Kubernetes checkpoint archive; libnftables for the network lock too,
 * until the lock made its own nf_tables messages), loaded when first used
 * instead of at every start: libarchive brings 12 shared objects of its
 * own to criu-lite's 9 (with libnftables, 20 of 27), and the dynamic loader
 * maps and relocates each of them before main() of every command, a
 * `show` as much as a dump. The saving is measured in the commit that
 * added this file.
 *
 * A user of a library keeps a table of function pointers typed from the
 * library's own header (LAZY_FN), so the compiler checks every call as if
 * the library were linked. */
#ifndef IMAGES_LAZY_LIB_H
#define IMAGES_LAZY_LIB_H

#include <stddef.h>

/* A member of a table of pointers: `LAZY_FN(archive_read_new);` gives
 * `t.archive_read_new`, of the library function's own type. */
#define LAZY_FN(fn) __typeof__(fn) *fn
/* Its row in the list lazy_lib_load() fills. */
#define LAZY_SYM(table, fn) { #fn, (void **)&(table).fn }

struct lazy_sym {
	const char *name;
	void **slot;
};

struct lazy_lib {
	const char *soname;	/* e.g. "libarchive.so.13" */
	const char *what;	/* what it is needed for, for the error line */
	const struct lazy_sym *syms;
	size_t nr;
	int state;		/* 0 not tried, 1 loaded, <0 the failure */
};

/* Loads the library once and fills every slot: 0, or -ENOENT after one
 * line on stderr naming the library and what needed it. */
int lazy_lib_load(struct lazy_lib *l);

#endif
