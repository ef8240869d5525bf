/* Replay target: a small server as production runs it. argv[1]: a log
 * (opened O_APPEND), argv[2]: a data file it maps MAP_SHARED (4 KiB), both
 * made by the test; argv[3] (optional): a POSIX shm object it maps too
 * (made by the test), and it makes a SysV shm segment of its own. It
 * listens on 127.0.0.1 (an ephemeral port), and a second thread answers
 * each client with "PONG n\n" (n counts answers), appending a line to the
 * log and bumping the counter in each shared mapping. replay_poke() is what
 * a debugger calls in a replay: it writes to the log and to every mapping,
 * and returns 2 * v + 1.
 * READY port=P pid=PID tid=TID (the serving thread) shmid=ID (SysV). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "target.h"

static int log_fd, listen_fd;
static volatile long *data, *posix, *sysv;
static long spare[2];
static volatile pid_t server_tid;

int replay_poke(int v)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "poke %d\n", v);

	if (write(log_fd, line, n) != n)
		return -1;
	data[1] = 0x5050505050505050L + v;
	posix[1] = sysv[1] = data[1];
	return 2 * v + 1;
}

static void *serve(void *arg)
{
	(void)arg;
	server_tid = (pid_t)syscall(SYS_gettid);
	for (;;) {
		int c = accept(listen_fd, NULL, NULL);
		char line[64];
		int n;

		if (c < 0)
			continue;
		n = snprintf(line, sizeof(line), "PONG %ld\n", ++data[0]);
		posix[0] = sysv[0] = data[0];
		if (write(log_fd, line, n) != n || write(c, line, n) != n)
			data[2]++;
		close(c);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	pthread_t th;
	int dfd, one = 1, shmid;

	if (argc < 3)
		return 2;
	log_fd = open(argv[1], O_WRONLY | O_APPEND | O_CLOEXEC);
	dfd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (log_fd < 0 || dfd < 0)
		return 1;
	data = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
	close(dfd);
	if (data == MAP_FAILED)
		return 1;
	posix = sysv = (volatile long *)spare;
	if (argc > 3) {
		int pfd = shm_open(argv[3], O_RDWR | O_CLOEXEC, 0);

		posix = pfd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
						    pfd, 0);
		if (posix == MAP_FAILED)
			return 1;
		close(pfd);
	}
	shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	sysv = shmid < 0 ? (void *)-1 : shmat(shmid, NULL, 0);
	if (sysv == (void *)-1)
		return 1;
	/* Gone with its last process: a test's segments do not pile up. */
	shmctl(shmid, IPC_RMID, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(listen_fd, 16) || getsockname(listen_fd, (struct sockaddr *)&a, &alen))
		return 1;
	if (pthread_create(&th, NULL, serve, NULL))
		return 1;
	while (!server_tid)
		usleep(1000);
	target_ready("port=%d pid=%d tid=%d shmid=%d", ntohs(a.sin_port), getpid(), server_tid,
		     shmid);
	for (;;)
		pause();
}
