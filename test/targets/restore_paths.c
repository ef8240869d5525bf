/* Restore target for paths named in images (issue 15): as root, opens
 * argv[1] (read-only, kept at fd 5), maps argv[2] privately, binds and
 * listens on a unix socket at argv[3]; "-" skips one. Prints READY, then
 * sleeps. A user-owned dump of it names whatever root opened. */
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "target.h"

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 50 * 1000 * 1000 };

	if (argc < 4)
		return 2;
	if (strcmp(argv[1], "-")) {
		int fd = open(argv[1], O_RDONLY);

		if (fd < 0 || dup2(fd, 5) != 5)
			return 1;
		close(fd);
	}
	if (strcmp(argv[2], "-")) {
		int fd = open(argv[2], O_RDONLY);

		if (fd < 0 || mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
			return 1;
		close(fd);
	}
	if (strcmp(argv[3], "-")) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		strncpy(sa.sun_path, argv[3], sizeof(sa.sun_path) - 1);
		if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 4))
			return 1;
	}
	target_ready("pid=%d", getpid());
	for (;;)
		nanosleep(&ms, NULL);
}
