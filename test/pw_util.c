/* See pw_util.h. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <unistd.h>

#include "images/image.h"
#include "test/helpers.h"
#include "test/pw_util.h"

int pwu_open(struct pw *pw, char *dir, size_t len, struct dump_stats *st)
{
	PagemapHead head = PAGEMAP_HEAD__INIT;
	int dirfd;

	make_tmpdir(dir, len, "pw");
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dirfd, 0);
	cr_assert_eq(pw_init(pw, st), 0);
	pw->pages_fd = img_create_raw(dirfd, "pages-1.img");
	pw->pm = img_create(dirfd, IMG_PAGEMAP, 1);
	head.pages_file = "pages-1.img";
	cr_assert_eq(img_write(pw->pm, &head), 0);
	cr_assert_eq(pww_start(&pw->writer, pw->pages_fd), 0);
	return dirfd;
}

void pwu_close(struct pw *pw)
{
	cr_assert_eq(pw_finish(pw), 0);
	pw_fini(pw);
	cr_assert_eq(img_close(pw->pm), 0);
	close(pw->pages_fd);
}
