/* Restore target: memfds. argv[1]: file to wait for.
 *  - memfd "crl-memfd", 8 KiB, "memfd-data" at 0, sealed against shrinking
 *    and growing; fd 3 at offset 3, fd 4 a second description at 5;
 *  - mapped shared by this process and a child; the parent wrote 'P' at
 *    100 through the mapping;
 *  - with argv[2] "huge", a hugetlb memfd "crl-huge" of one huge page,
 *    mapped, "huge-data" at 0.
 * After the wait the child writes 'C' at 200 through its mapping and
 * exits; the parent prints "MEMFD name=1 data=1 seals=1 pos=1 map=1
 * child=1 huge=1" (huge=- without "huge"). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define HUGE (2u << 20)

static void wait_for(const char *path)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (access(path, F_OK))
		nanosleep(&ms, NULL);
}

static int named(int fd, const char *name)
{
	char p[64], l[128], want[128];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, l, sizeof(l) - 1);
	l[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	return !strcmp(l, want);
}

int main(int argc, char **argv)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW;
	char buf[16] = "", *map, *huge = NULL;
	int st, h = -1, huge_ok = -1;
	pid_t child;

	if (argc < 2)
		return 2;
	if (memfd_create("crl-memfd", MFD_ALLOW_SEALING) != 3 || ftruncate(3, 8192) ||
	    pwrite(3, "memfd-data", 10, 0) != 10 || fcntl(3, F_ADD_SEALS, seals) ||
	    open("/proc/self/fd/3", O_RDWR) != 4 || lseek(3, 3, SEEK_SET) != 3 ||
	    lseek(4, 5, SEEK_SET) != 5)
		return 1;
	map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 3, 0);
	if (map == MAP_FAILED)
		return 1;
	map[100] = 'P';
	if (argc > 2 && !strcmp(argv[2], "huge")) {
		h = memfd_create("crl-huge", MFD_HUGETLB);
		if (h < 0 || ftruncate(h, HUGE))
			return 3;
		huge = mmap(NULL, HUGE, PROT_READ | PROT_WRITE, MAP_SHARED, h, 0);
		if (huge == MAP_FAILED)
			return 3;
		memcpy(huge, "huge-data", 10);
	}
	child = fork();
	if (child == 0) {
		wait_for(argv[1]);
		map[200] = 'C';
		_exit(0);
	}
	target_ready("pid=%d child=%d", getpid(), child);
	wait_for(argv[1]);

	printf("MEMFD name=%d", named(3, "crl-memfd") && named(4, "crl-memfd"));
	printf(" data=%d", pread(4, buf, 10, 0) == 10 && !memcmp(buf, "memfd-data", 10));
	printf(" seals=%d", fcntl(3, F_GET_SEALS) == seals);
	printf(" pos=%d", lseek(3, 0, SEEK_CUR) == 3 && lseek(4, 0, SEEK_CUR) == 5);
	printf(" map=%d", pread(3, buf, 1, 100) == 1 && buf[0] == 'P');
	printf(" child=%d", waitpid(child, &st, 0) == child && WIFEXITED(st) && map[200] == 'C' &&
	       pread(3, buf, 1, 200) == 1 && buf[0] == 'C');
	if (h >= 0) {
		char hb[10] = "";

		huge_ok = named(h, "crl-huge") && !memcmp(huge, "huge-data", 10) &&
			  pread(h, hb, 10, 0) == 10 && !memcmp(hb, "huge-data", 10);
	}
	if (huge_ok < 0)
		printf(" huge=-\n");
	else
		printf(" huge=%d\n", huge_ok);
	fflush(stdout);
	return 0;
}
