/* Restore target: open file descriptions shared and not, and pipes.
 * argv[1]: file to wait for; argv[2]: a directory it may use.
 *  - fds 3 and 4 are one description (dup) of dir/data at offset 10, fd 5
 *    another open of it at offset 20; a child shares all three (fork);
 *  - a pipe sized 128 KiB with "hello" queued: its read end fd 6 is
 *    O_NONBLOCK, fd 7 a second, blocking description of the same end
 *    (reopened through /proc), fd 8 the write end;
 *  - the child shares the working directory with the parent (CLONE_FS);
 *  - a second child shares the fd table with it (CLONE_FILES).
 * After the wait it prints "SHARE dup=1 sep=1 flags=1 fork=1 fs=1 files=1
 * nonblock=1 size=1 data=hello": the child moves the shared offset and
 * changes the shared directory, the second child opens fd 40 in the shared
 * table; the parent sees all three. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>

#include "target.h"

static void wait_for(const char *path)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (access(path, F_OK))
		nanosleep(&ms, NULL);
}

static int child(const char *go2, const char *sub)
{
	wait_for(go2);
	lseek(3, 33, SEEK_SET);
	return chdir(sub) ? 1 : 0;
}

static int files_child(const char *go2)
{
	int fd;

	wait_for(go2);
	fd = open("/dev/null", O_RDONLY);
	return fd < 0 || dup2(fd, 40) != 40;
}

int main(int argc, char **argv)
{
	char path[512], go2[600], sub[600], buf[16] = "", cwd[600];
	struct clone_args ca = { .flags = CLONE_FS, .exit_signal = SIGCHLD };
	struct clone_args cf = { .flags = CLONE_FILES, .exit_signal = SIGCHLD };
	int p[2], st, n, fl3, fl5;
	pid_t pid, fpid;

	if (argc < 3)
		return 2;
	snprintf(go2, sizeof(go2), "%s.2", argv[1]);
	snprintf(sub, sizeof(sub), "%s/sub", argv[2]);
	snprintf(path, sizeof(path), "%s/data", argv[2]);
	if (mkdir(sub, 0700) || chdir(argv[2]))
		return 1;
	if (open(path, O_RDWR | O_CREAT | O_TRUNC, 0600) != 3 || dup(3) != 4 ||
	    open(path, O_RDWR) != 5)
		return 1;
	if (ftruncate(3, 100) || lseek(3, 10, SEEK_SET) != 10 || lseek(5, 20, SEEK_SET) != 20)
		return 1;
	if (pipe(p) || dup2(p[0], 16) != 16 || dup2(p[1], 18) != 18 || close(p[0]) || close(p[1]) ||
	    dup2(16, 6) != 6 || dup2(18, 8) != 8 || close(16) || close(18))
		return 1;
	if (open("/proc/self/fd/6", O_RDONLY) != 7 || fcntl(6, F_SETFL, O_NONBLOCK) ||
	    fcntl(8, F_SETPIPE_SZ, 128 * 1024) < 0 || write(8, "hello", 5) != 5)
		return 1;
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		_exit(child(go2, sub));
	if (pid < 0)
		return 1;
	fpid = (pid_t)syscall(SYS_clone3, &cf, sizeof(cf));
	if (fpid == 0)
		_exit(files_child(go2));
	if (fpid < 0)
		return 1;
	target_ready("pid=%d child=%d files_child=%d", getpid(), pid, fpid);
	wait_for(argv[1]);

	printf("SHARE dup=%d sep=%d", lseek(4, 0, SEEK_CUR) == 10, lseek(5, 0, SEEK_CUR) == 20);
	fcntl(3, F_SETFL, O_APPEND);
	fl3 = fcntl(4, F_GETFL);
	fl5 = fcntl(5, F_GETFL);
	printf(" flags=%d", (fl3 & O_APPEND) && !(fl5 & O_APPEND));
	close(open(go2, O_CREAT | O_WRONLY, 0600));
	waitpid(pid, &st, 0);
	printf(" fork=%d", WIFEXITED(st) && !WEXITSTATUS(st) && lseek(4, 0, SEEK_CUR) == 33);
	printf(" fs=%d", getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, sub));
	printf(" files=%d", waitpid(fpid, &st, 0) == fpid && WIFEXITED(st) && !WEXITSTATUS(st) &&
	       fcntl(40, F_GETFD) >= 0);
	printf(" nonblock=%d", (fcntl(6, F_GETFL) & O_NONBLOCK) && !(fcntl(7, F_GETFL) & O_NONBLOCK));
	printf(" size=%d", fcntl(8, F_GETPIPE_SZ) == 128 * 1024);
	n = (int)read(6, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	printf(" data=%s\n", buf);
	fflush(stdout);
	return 0;
}
