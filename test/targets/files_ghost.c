/* Restore target: files that exist only while held. argv[1]: file to wait
 * for; argv[2]: a directory it may use; argv[3] "big" adds a deleted 2 MiB
 * file (over the default --ghost-limit).
 *  - a deleted file of 300004 bytes, "head" at 0 and "tail" at 300000 with
 *    a hole between, held read-write at offset 2, its first page mapped
 *    shared here and in a child;
 *  - a deleted directory held open, and another one as working directory;
 *  - an unlinked FIFO with "queued" in it;
 *  - O_PATH fds on a file, a directory and a symlink (-> "f").
 * After the wait the child writes 'C' at 20 through its mapping and exits;
 * the parent writes 'M' at 10 through its own, and prints "GHOST file=1
 * hole=1 pos=1 map=1 dir=1 cwd=1 fifo=queued path=1 dirpath=1 link=f
 * big=SUM" (SUM: of the big file's words, 0 without it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define BIG (2u << 20)

static int in(const char *dir, const char *name, char *out, size_t len)
{
	return snprintf(out, len, "%s/%s", dir, name) >= (int)len;
}

static bool deleted(int fd)
{
	char p[64], l[600];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, l, sizeof(l) - 1);
	if (n < 0)
		return false;
	l[n] = '\0';
	return n > 10 && !strcmp(l + n - 10, " (deleted)");
}

static uint64_t big_sum(int fd)
{
	static uint64_t w[BIG / 8];
	uint64_t s = 0;

	if (fd < 0 || pread(fd, w, BIG, 0) != BIG)
		return 0;
	for (size_t i = 0; i < BIG / 8; i++)
		s = s * 31 + w[i];
	return s;
}

static int make_big(const char *dir)
{
	static uint64_t w[BIG / 8];
	char p[600];
	int fd;

	for (size_t i = 0; i < BIG / 8; i++)
		w[i] = i * 0x9e3779b97f4a7c15ull;
	if (in(dir, "big", p, sizeof(p)) || (fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0 ||
	    write(fd, w, BIG) != BIG || unlink(p))
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	char p[600], buf[64] = "", c4[5] = "", t4[5] = "", cwd[64];
	int g, d, ff, pf, pd, pl, big = -1, wst;
	pid_t child;
	char *m;
	struct stat st, sd, sc, s1, s2, s3;
	ssize_t n;

	if (argc < 3)
		return 2;
	if (in(argv[2], "ghost", p, sizeof(p)) || (g = open(p, O_RDWR | O_CREAT, 0640)) < 0 ||
	    pwrite(g, "head", 4, 0) != 4 || pwrite(g, "tail", 4, 300000) != 4 || unlink(p) ||
	    lseek(g, 2, SEEK_SET) != 2)
		return 1;
	if (in(argv[2], "gone", p, sizeof(p)) || mkdir(p, 0750) ||
	    (d = open(p, O_RDONLY | O_DIRECTORY)) < 0 || rmdir(p))
		return 1;
	if (in(argv[2], "fifo", p, sizeof(p)) || mkfifo(p, 0600) || (ff = open(p, O_RDWR)) < 0 ||
	    write(ff, "queued\n", 7) != 7 || unlink(p))
		return 1;
	if (in(argv[2], "f", p, sizeof(p)) || close(open(p, O_CREAT | O_WRONLY, 0600)) ||
	    (pf = open(p, O_PATH)) < 0 || (pd = open(argv[2], O_PATH | O_DIRECTORY)) < 0)
		return 1;
	if (in(argv[2], "ln", p, sizeof(p)) || symlink("f", p) ||
	    (pl = open(p, O_PATH | O_NOFOLLOW)) < 0)
		return 1;
	if (argc > 3 && !strcmp(argv[3], "big") && (big = make_big(argv[2])) < 0)
		return 1;
	if (in(argv[2], "cwd", p, sizeof(p)) || mkdir(p, 0700) || chdir(p) || rmdir(p))
		return 1;
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, g, 0);
	if (m == MAP_FAILED)
		return 1;
	child = fork();
	if (child == 0) {
		while (access(argv[1], F_OK))
			nanosleep(&ms, NULL);
		m[20] = 'C';
		_exit(0);
	}
	target_ready("pid=%d child=%d big=%#llx", getpid(), child,
		     (unsigned long long)big_sum(big));
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);
	m[10] = 'M';

	fstat(g, &st);
	printf("GHOST file=%d", deleted(g) && st.st_nlink == 0 && st.st_size == 300004 &&
	       pread(g, c4, 4, 0) == 4 && pread(g, t4, 4, 300000) == 4 &&
	       !strcmp(c4, "head") && !strcmp(t4, "tail"));
	printf(" hole=%d", st.st_blocks * 512 < 100000);
	printf(" pos=%d", lseek(g, 0, SEEK_CUR) == 2);
	printf(" map=%d", waitpid(child, &wst, 0) == child && pread(g, c4, 1, 10) == 1 &&
	       c4[0] == 'M' && pread(g, t4, 1, 20) == 1 && t4[0] == 'C' && m[20] == 'C');
	printf(" dir=%d", !fstat(d, &sd) && S_ISDIR(sd.st_mode) && sd.st_nlink == 0 && deleted(d));
	printf(" cwd=%d", !stat(".", &sc) && S_ISDIR(sc.st_mode) && sc.st_nlink == 0 &&
	       !getcwd(cwd, sizeof(cwd)) && errno == ENOENT);
	n = read(ff, buf, sizeof(buf) - 1);
	buf[n > 0 ? n - 1 : 0] = '\0';
	printf(" fifo=%s", deleted(ff) ? buf : "not-deleted");
	printf(" path=%d", !fstatat(pf, "", &s1, AT_EMPTY_PATH) && S_ISREG(s1.st_mode) &&
	       (fcntl(pf, F_GETFL) & O_PATH));
	printf(" dirpath=%d", !fstatat(pd, "", &s2, AT_EMPTY_PATH) && S_ISDIR(s2.st_mode));
	n = readlinkat(pl, "", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	printf(" link=%s", !fstatat(pl, "", &s3, AT_EMPTY_PATH) && S_ISLNK(s3.st_mode) ? buf : "?");
	printf(" big=%#llx\n", (unsigned long long)big_sum(big));
	fflush(stdout);
	return 0;
}
