/* `make bench` helper, the ceiling: copy [ADDR, ADDR+LEN) of process PID
 * into FILE the plainest fast way (process_vm_readv in 8 MiB batches into a
 * page-aligned buffer, write, fsync at the end as criu-lite's syncfs does).
 * Nothing else: no pagemap, no zero check, no images.
 * Usage: bench_copy PID ADDR LEN FILE */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define BUF (8ul << 20)

int main(int argc, char **argv)
{
	unsigned long long addr, len, done = 0;
	struct iovec l, r;
	uint8_t *buf;
	pid_t pid;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_copy PID ADDR LEN FILE\n");
		return 2;
	}
	pid = atoi(argv[1]);
	addr = strtoull(argv[2], NULL, 0);
	len = strtoull(argv[3], NULL, 0);
	buf = mmap(NULL, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		   -1, 0);
	fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (buf == MAP_FAILED || fd < 0) {
		perror("bench_copy");
		return 1;
	}
	while (done < len) {
		size_t n = len - done < BUF ? len - done : BUF;
		ssize_t got, put = 0;

		l = (struct iovec){ buf, n };
		r = (struct iovec){ (void *)(uintptr_t)(addr + done), n };
		got = process_vm_readv(pid, &l, 1, &r, 1, 0);
		if (got <= 0) {
			perror("process_vm_readv");
			return 1;
		}
		while (put < got) {
			ssize_t w = write(fd, buf + put, got - put);

			if (w <= 0) {
				perror("write");
				return 1;
			}
			put += w;
		}
		done += got;
	}
	if (fsync(fd) || close(fd)) {
		perror("fsync");
		return 1;
	}
	return 0;
}
