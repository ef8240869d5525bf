/* The pages file is written by a thread of its own: while it copies one
 * buffer into the page cache (the larger half of a dump's cost), the main
 * thread reads the next one from the target. Buffers are written strictly
 * in submission order, so pages_off values assigned at submission hold.
 * Only overlap helps: ext4 serialises buffered writes to one file on the
 * inode lock, so two writers would not be faster than one. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include "criu-lite/memory/mem_internal.h"
#include "images/log.h"
#include "images/par.h"

static int writev_all(int fd, struct iovec *iov, int cnt, uint64_t *written)
{
	while (cnt) {
		ssize_t n = writev(fd, iov, cnt < IOV_MAX ? cnt : IOV_MAX);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return pr_perror("cannot write the pages image");
		}
		*written += n;
		while (cnt && (size_t)n >= iov->iov_len) {
			n -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= n;
		}
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct pw_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct pw_buf *b;
		int r = 0;

		while (!w->queued && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->queued)
			break;
		b = w->queued;
		w->queued = NULL;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		/* After a failure later buffers are dropped: the dump is lost. */
		for (int i = 0; !w->err && i < b->nr_wiov; i++)
			img_hash_update(&w->h, b->wiov[i].iov_base, b->wiov[i].iov_len);
		if (!w->err)
			r = writev_all(w->fd, b->wiov, b->nr_wiov, &w->written);
		pthread_mutex_lock(&w->mu);
		if (r < 0 && !w->err)
			w->err = r;
		b->nr_wiov = 0;
		b->busy = false;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int pww_start(struct pw_writer *w, int fd)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	if (img_hash_init(&w->h))
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (!par_start(&w->th, writer_main, w)) {
		img_hash_fini(&w->h);
		return pr_perror("cannot start the pages writer");
	}
	w->started = true;
	return 0;
}

int pww_submit(struct pw_writer *w, struct pw_buf *b)
{
	int err;

	pthread_mutex_lock(&w->mu);
	while (w->queued)
		pthread_cond_wait(&w->cv, &w->mu);
	b->busy = true;
	w->queued = b;
	pthread_cond_broadcast(&w->cv);
	err = w->err;
	pthread_mutex_unlock(&w->mu);
	return err;
}

int pww_wait(struct pw_writer *w, struct pw_buf *b)
{
	int err;

	pthread_mutex_lock(&w->mu);
	while (b->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	err = w->err;
	pthread_mutex_unlock(&w->mu);
	return err;
}

int pww_stop(struct pw_writer *w, uint64_t *written)
{
	if (!w->started)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	w->started = false;
	w->hash = img_hash_digest(&w->h);
	img_hash_fini(&w->h);
	*written += w->written;
	return w->err;
}
