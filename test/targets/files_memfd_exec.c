/* Restore target: a program run from a memfd. It copies itself into memfd
 * "crl-exe" and fexecve's that with argv[1] and "again"; the second run
 * prints READY and, once argv[1] exists, "EXEC exe=<readlink of
 * /proc/self/exe>". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

extern char **environ;

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	char exe[256];
	struct stat st;
	ssize_t n;
	int self, m;

	if (argc < 2)
		return 2;
	if (argc < 3) {
		char *args[] = { argv[0], argv[1], "again", NULL };

		self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
		m = memfd_create("crl-exe", MFD_CLOEXEC);
		if (self < 0 || m < 0 || fstat(self, &st) ||
		    sendfile(m, self, NULL, (size_t)st.st_size) != st.st_size)
			return 1;
		fexecve(m, args, environ);
		return 1;
	}
	target_ready("pid=%d", getpid());
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	printf("EXEC exe=%s\n", exe);
	fflush(stdout);
	return 0;
}
