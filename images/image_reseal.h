/* For tools and tests that damage a dump on purpose: see image_reseal.c. */
#ifndef CRIU_LITE_IMAGE_RESEAL_H
#define CRIU_LITE_IMAGE_RESEAL_H

/* inventory.img of the dump at dirfd rewritten (sealed) with the sums of
 * every image and pages file there as it is now. 0 or -errno. */
int img_reseal(int dirfd);

#endif
