/* memfd: its name and identity. The contents are not stored with the fd:
 * what is mapped is in the memory images; an unmapped memfd's bytes are
 * not saved yet, and restore refuses the fd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd/fd.h"

static bool is_memfd(const struct fd_desc *d)
{
	return !strncmp(d->link, "/memfd:", 7) && d->st.st_nlink == 0;
}

static int memfd_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const char *name = d->link + strlen("/memfd:");
	const char *end = strstr(name, " (deleted)");
	size_t len = end ? (size_t)(end - name) : strlen(name);

	(void)c;
	e->type = FD_TYPE__FD_MEMFD;
	e->file = fd_dump_identity(d);
	e->memfd_name = strndup(name, len);
	return e->file && e->memfd_name ? 0 : -ENOMEM;
}

const struct fd_kind fdk_memfd = {
	.type = FD_TYPE__FD_MEMFD,
	.name = "memfd",
	.dump_match = is_memfd,
	.dump = memfd_dump,
};
