/* The formats dr_open asks, in this order: the first whose probe says yes
 * reads the dump. A new backend is one row here. The table lives with the
 * CRIU backend, not in images/ beside dump_read.c: dump_read.c sees only
 * dump_read_backend.h, so images/ includes nothing of images/criu/, which
 * includes images/ (layers.py: no circle between folders). */
#include <stddef.h>

#include "images/criu/criu_read.h"
#include "images/dump_read_backend.h"

const struct dr_format *const dr_formats[] = {
	&dr_format_native,
	&criu_format_dir,		/* CRIU image directories (this folder) */
	&criu_format_archive,		/* kubelet, CRI-O and Podman checkpoint archives */
	NULL,
};
