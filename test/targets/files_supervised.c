/* Restore target: a program under a supervisor. Its stdout is a pipe the
 * supervisor reads; fd 251 is another pipe from it that the program never
 * uses (the read end; the supervisor holds the write end).
 * Prints "LINE n" every 5 ms, n from 0 on, forever. Once argv[1] exists it
 * reads fd 251 once and prints "FD251 eof" (no writer left), "FD251 data"
 * or "FD251 error". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

int main(int argc, char **argv)
{
	const struct timespec ts = { 0, 5 * 1000 * 1000 };
	unsigned long n = 0;
	int asked = 0;
	char c;

	if (argc < 2 || fcntl(251, F_GETFD) < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	target_ready("pid=%d", getpid());
	for (;;) {
		printf("LINE %lu\n", n++);
		if (!asked && !access(argv[1], F_OK)) {
			ssize_t r = read(251, &c, 1);

			asked = 1;
			printf("FD251 %s\n", r == 0 ? "eof" : r > 0 ? "data" : "error");
		}
		nanosleep(&ts, NULL);
	}
}
