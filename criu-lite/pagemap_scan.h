/* The PAGEMAP_SCAN ioctl (Linux 6.7) on /proc/PID/pagemap: Debian 12's
 * headers predate it, so its ABI is spelled out here. */
#ifndef CRIU_LITE_PAGEMAP_SCAN_H
#define CRIU_LITE_PAGEMAP_SCAN_H

#include <stdint.h>
#include <sys/ioctl.h>

struct pms_region {
	uint64_t start, end, categories;
};

struct pms_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define PMS_IOC_SCAN		_IOWR('f', 16, struct pms_arg)
#define PMS_IS_WRITTEN		(1 << 1)	/* not uffd-write-protected */
#define PMS_IS_FILE		(1 << 2)
#define PMS_IS_PRESENT		(1 << 3)
#define PMS_IS_SWAPPED		(1 << 4)

#endif
