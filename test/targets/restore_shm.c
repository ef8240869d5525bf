/* Restore target: a parent and its child share an anonymous MAP_SHARED
 * page. After the file argv[1] appears the child writes into it and exits;
 * the parent then prints what it sees: "SHM child-wrote" only if the two
 * restored processes still share the memory. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	char *shm;
	pid_t pid;

	if (argc < 2)
		return 2;
	shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return 1;
	strcpy(shm, "parent-wrote");
	pid = fork();
	if (pid == 0) {
		while (access(argv[1], F_OK))
			nanosleep(&ms, NULL);
		strcpy(shm, "child-wrote");
		_exit(0);
	}
	target_ready("pid=%d child=%d", getpid(), pid);
	waitpid(pid, NULL, 0);
	printf("SHM %s\n", shm);
	fflush(stdout);
	return 0;
}
