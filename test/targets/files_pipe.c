/* A pipe sized SIZE bytes with FILL bytes written into it (a pattern),
 * then 7 read back, so the first buffer starts mid-page.
 *
 * usage: files_pipe SIZE FILL
 * The read end is moved to fd 200 so that the write end is the pipe's
 * lowest fd: the dumper then has to peek through the write end.
 * On SIGUSR1 it reads everything and prints "GOT pipe len=N hash=H". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

#define SKIP 7

static uint64_t fnv_step(uint64_t h, const unsigned char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

int main(int argc, char **argv)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char buf[4096];
	size_t size, fill, done = 0, got = 0;
	int p[2], sig;
	sigset_t set;
	ssize_t n;

	if (argc < 3)
		return 2;
	size = strtoul(argv[1], NULL, 0);
	fill = strtoul(argv[2], NULL, 0);
	/* A failed assertion skips target_kill(): die with the test, or the
	 * orphan keeps the suite's pipes open and the run hangs. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (pipe2(p, O_NONBLOCK) || fcntl(p[1], F_SETPIPE_SZ, size) < 0)
		return perror("pipe"), 2;
	if (dup2(p[0], 200) < 0)
		return perror("dup2"), 2;
	close(p[0]);
	p[0] = 200;
	while (done < fill) {
		size_t chunk = fill - done < sizeof(buf) ? fill - done : sizeof(buf);

		for (size_t i = 0; i < chunk; i++)
			buf[i] = (unsigned char)((done + i) * 13 + (done + i) / 251);
		n = write(p[1], buf, chunk);
		if (n <= 0)
			return perror("write"), 2;
		if (done >= SKIP)
			h = fnv_step(h, buf, n);
		else if ((size_t)n > SKIP - done)
			h = fnv_step(h, buf + (SKIP - done), n - (SKIP - done));
		done += n;
	}
	if (read(p[0], buf, SKIP) != SKIP)
		return perror("read"), 2;
	target_ready("wfd=%d rfd=%d len=%zu hash=%#llx", p[1], p[0], fill - SKIP,
		     (unsigned long long)h);

	do
		sig = sigwaitinfo(&set, NULL);
	while (sig < 0 && errno == EINTR);
	h = 0xcbf29ce484222325ull;
	while ((n = read(p[0], buf, sizeof(buf))) > 0) {
		h = fnv_step(h, buf, n);
		got += n;
	}
	printf("GOT pipe len=%zu hash=%#llx\n", got, (unsigned long long)h);
	fflush(stdout);
	for (;;)
		pause();
}
