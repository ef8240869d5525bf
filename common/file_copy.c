/* Copying between files in the kernel: see file_copy.h. */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/sendfile.h>

#include "common/file_copy.h"

int file_copy_bytes(int from, int to, uint64_t len)
{
	bool cross = false;

	while (len) {
		size_t chunk = len > (1u << 30) ? 1u << 30 : (size_t)len;
		ssize_t n = cross ? sendfile(to, from, NULL, chunk) :
				    copy_file_range(from, NULL, to, NULL, chunk, 0);

		if (n < 0 && !cross && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
					errno == ENOSYS)) {
			cross = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		len -= (uint64_t)n;
	}
	return 0;
}
