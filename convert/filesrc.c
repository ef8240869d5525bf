/* Pages the dump did not copy because they still equal the mapped file are
 * read back from that file, but only from the very file that was mapped:
 * same size, same mtime, same build-id as recorded. A file that changed
 * would put wrong code under gdb's nose, so its pages become holes instead
 * (and a warning says so, once per file). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert/convert.h"
#include "common/buildid.h"
#include "images/log.h"

struct conv_file {
	char *path;
	int fd;			/* -1: not usable */
	struct conv_file *next;
};

struct conv_files {
	struct conv_file *head;
};

struct conv_files *conv_files_new(void)
{
	return calloc(1, sizeof(struct conv_files));
}

void conv_files_free(struct conv_files *fc)
{
	while (fc && fc->head) {
		struct conv_file *f = fc->head;

		fc->head = f->next;
		if (f->fd >= 0)
			close(f->fd);
		free(f->path);
		free(f);
	}
	free(fc);
}

const char *conv_vma_path(const VmaEntry *v)
{
	if (v->file && v->file->path && v->file->path[0] == '/')
		return v->file->path;
	if (v->name && v->name[0] == '/')
		return v->name;
	return NULL;
}

/* NULL when the file is the one recorded, else what differs. */
static const char *file_differs(int fd, const FileIdentity *fi)
{
	uint8_t id[BUILDID_MAX];
	struct stat st;
	int n;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return "not a regular file";
	if (!fi->has_size && !fi->has_mtime_ns && !fi->has_build_id)
		return "no identity was recorded";
	if (fi->has_size && fi->size != (uint64_t)st.st_size)
		return "its size changed";
	if (fi->has_mtime_ns &&
	    fi->mtime_ns != (uint64_t)st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec)
		return "its mtime changed";
	if (fi->has_build_id && fi->build_id.len) {
		n = buildid_read(fd, id, sizeof(id));
		if (n != (int)fi->build_id.len || memcmp(id, fi->build_id.data, n))
			return "its build-id changed";
	}
	return NULL;
}

static int open_checked(const VmaEntry *v, const char *path)
{
	const char *why;
	int fd;

	if (!v->file) {
		pr_warn("%s: no file identity in the dump; its unmodified pages stay out of the core",
			path);
		return -1;
	}
	/* O_NONBLOCK: a FIFO now at that path must not block the open; its
	 * fstat then differs from the recorded file and it is refused. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		pr_warn("cannot open %s (%s); its unmodified pages stay out of the core", path,
			strerror(errno));
		return -1;
	}
	why = file_differs(fd, v->file);
	if (why) {
		pr_warn("%s: %s since the dump; its unmodified pages stay out of the core", path,
			why);
		close(fd);
		return -1;
	}
	return fd;
}

int conv_files_get(struct conv_files *fc, const VmaEntry *v)
{
	const char *path = conv_vma_path(v);
	struct conv_file *f;

	/* A deleted file's path now names nothing, or another file. */
	if (!path || (v->status & VMA_FILE_DELETED))
		return -1;
	for (f = fc->head; f; f = f->next)
		if (!strcmp(f->path, path))
			return f->fd;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return -1;
	}
	f->fd = open_checked(v, path);
	f->next = fc->head;
	fc->head = f;
	return f->fd;
}
