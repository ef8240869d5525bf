/* A target that checks itself while a dumper is killed around it (issue
 * 15's sweep, test_survive.c): a parent and a child, each of which does
 * this. The main thread blocks SIGUSR1 and sits in
 * read() on a pipe, entered by hand-written `syscall` with a pattern in
 * ymm8/ymm15 and r12 that it checks afterwards (the kernel keeps them
 * across a syscall; a thread sent back on a wrong frame would not). A
 * writer thread (SIGUSR2 blocked) sends byte n+1 after byte n every 20 ms
 * from nanosleep (a syscall restarted through the restart block). 64 KiB
 * of memory hold a pattern checked on every byte. "TICK n" for each good
 * byte, "ERR ..." for anything wrong. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define MEM_LEN (64 << 10)

static int pfd[2];
static unsigned char mem[MEM_LEN];

static void *writer(void *arg)
{
	unsigned char c = 0;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	sigset_t usr2;

	(void)arg;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, NULL);
	for (;;) {
		nanosleep(&ts, NULL);
		c++;
		if (write(pfd[1], &c, 1) != 1)
			return NULL;
	}
}

/* read(fd, b, 1) with ymm8, ymm15 and r12 holding seed-made values across
 * the syscall; what they hold after it goes to out[0..8]. */
static long read_keeping(int fd, void *b, uint64_t seed, uint64_t out[9])
{
	uint64_t in[4] = { seed, ~seed, seed * 3, seed ^ 0x5555aaaa5555aaaaull };
	long ret;

	__asm__ volatile("vmovdqu (%[in]), %%ymm8\n\t"
			 "vmovdqu (%[in]), %%ymm15\n\t"
			 "mov %[seed], %%r12\n\t"
			 "syscall\n\t"
			 "vmovdqu %%ymm8, (%[out])\n\t"
			 "vmovdqu %%ymm15, 32(%[out])\n\t"
			 "mov %%r12, 64(%[out])\n\t"
			 : "=a"(ret)
			 : "a"(0L), "D"((long)fd), "S"(b), "d"(1L), [in] "r"(in), [out] "r"(out),
			   [seed] "r"(seed)
			 : "rcx", "r11", "r12", "memory", "xmm8", "xmm15");
	return ret;
}

static int check(uint64_t seed, const uint64_t out[9])
{
	const uint64_t in[4] = { seed, ~seed, seed * 3, seed ^ 0x5555aaaa5555aaaaull };

	if (memcmp(out, in, 32) || memcmp(out + 4, in, 32))
		return printf("ERR ymm registers changed across read\n"), 1;
	if (out[8] != seed)
		return printf("ERR r12 changed across read\n"), 1;
	for (size_t i = 0; i < MEM_LEN; i++)
		if (mem[i] != (unsigned char)(i * 7 + 3))
			return printf("ERR memory at %zu\n", i), 1;
	return 0;
}

/* One process's checks: its own pipe, writer and pattern. The first
 * byte comes once the writer has its mask; then `ready` is called. */
static void checker(const char *tag, void (*ready)(int), int arg)
{
	unsigned char c, last = 0;
	uint64_t out[9], seed;
	pthread_t th;
	sigset_t usr1;

	for (size_t i = 0; i < MEM_LEN; i++)
		mem[i] = (unsigned char)(i * 7 + 3);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (pipe(pfd))
		_exit(1);
	pthread_create(&th, NULL, writer, NULL);
	if (read(pfd[0], &last, 1) != 1)
		_exit(1);
	ready(arg);
	for (seed = 0x0123456789abcdefull;; seed = seed * 6364136223846793005ull + 1) {
		long n = read_keeping(pfd[0], &c, seed, out);

		if (n != 1)
			printf("ERR %s read returned %ld\n", tag, n);
		else if (last && c != (unsigned char)(last + 1))
			printf("ERR %s byte %u after %u\n", tag, c, last);
		else if (!check(seed, out))
			printf("%s %u\n", tag, c);
		last = n == 1 ? c : last;
		fflush(stdout);
	}
}

/* Its end of the pipe closed: the parent reads EOF only then, so the fds
 * the test takes as "before" are already the child's for good. */
static void kid_ready(int fd)
{
	close(fd);
}

static pid_t kid;

static void parent_ready(int fd)
{
	char k;

	/* READY once the child runs its checks too */
	while (read(fd, &k, 1) > 0)
		;
	close(fd);
	target_ready("pid=%d kid=%d", getpid(), kid);
}

/* A tree of two: the parent ("TICK n") and a child ("KID n"), each
 * checking itself. */
int main(void)
{
	int sync[2];

	if (pipe(sync))
		return 1;
	kid = fork();
	if (kid == 0) {
		close(sync[0]);	/* the parent's EOF must wait for sync[1] only */
		checker("KID", kid_ready, sync[1]);
	}
	close(sync[1]);
	checker("TICK", parent_ready, sync[0]);
	return 0;
}
