/* The PAGEMAP_SCAN ioctl (Linux 6.7) on /proc/PID/pagemap, as in
 * include/uapi/linux/fs.h: Debian 12's headers predate it. It walks the
 * page tables and returns populated ranges only, so a sparse mapping of
 * terabytes costs what is populated, not 2 MiB of pagemap per GiB. */
#ifndef CRIU_LITE_PAGEMAP_SCAN_H
#define CRIU_LITE_PAGEMAP_SCAN_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/fs.h>

#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start, end, categories;
};

struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define PAGEMAP_SCAN		_IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)	/* not uffd-write-protected */
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)
#endif
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD		(1 << 8)	/* 6.14; older kernels ignore it */
#endif

#endif
