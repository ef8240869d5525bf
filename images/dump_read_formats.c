/* The formats dr_open asks, in this order: the first whose probe says yes
 * reads the dump. A new backend is one row here. */
#include <stddef.h>

#include "images/criu/criu_read.h"
#include "images/dump_read_backend.h"

const struct dr_format *const dr_formats[] = {
	&dr_format_native,
	&criu_format_dir,		/* CRIU image directories (images/criu/) */
	&criu_format_archive,		/* kubelet, CRI-O and Podman checkpoint archives */
	NULL,
};
