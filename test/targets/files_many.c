/* A process holding many fds and no socket: N (argv[1]) more of /dev/null.
 * The dump reads a process's socket tables ahead, beside its memory, as
 * soon as it has many fds (criu-lite/files/files_ahead.c); for this one
 * they must be dropped unsaid. READY fds=COUNT once they are all open. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "target.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 300;

	for (int i = 0; i < n; i++)
		if (open("/dev/null", O_RDONLY) < 0)
			return 1;
	target_ready("fds=%d", n);
	for (;;)
		pause();
}
