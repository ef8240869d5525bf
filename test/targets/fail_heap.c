/* A target with a large heap of non-zero, non-repeating pages, so that a
 * dump of it takes long enough for a test to act while it runs:
 *   fail_heap MB     touches MB MiB, then keeps one thread counting.
 * Prints READY pid=... heap=... mb=... */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target.h"

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	size_t len = mb << 20;
	/* MAP_POPULATE: faulting pages in one by one costs ~10 us each here. */
	uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	volatile uint64_t counter = 0;

	if (p == MAP_FAILED)
		return 1;
	/* One word per page is enough to make every page present and non-zero. */
	for (size_t i = 0; i < len / 8; i += 512)
		p[i] = i * 0x9e3779b97f4a7c15ull + 1;
	target_ready("pid=%d heap=%p mb=%zu", getpid(), (void *)p, mb);
	for (;;)
		if (!(++counter & 0xfffff))
			usleep(100);
}
