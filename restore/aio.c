/* aio contexts (io_setup). A context's id is the address of its ring, a
 * shared mapping of the kernel's aio file that io_setup places where it
 * likes. So the ring's dumped pages are first restored into a plain shared
 * mapping at the dumped address (mm.c); then a new context of the same size
 * is made, the kernel's own count of completions brought to the dumped
 * ring's tail, the completed events copied over, and the new ring moved onto
 * the dumped address (the kernel follows a moved ring: the id is the new
 * address). The kernel reads completions from the ring in memory but keeps
 * its own tail, which only completions advance: one-byte writes to
 * /dev/null, which complete at once, advance it (CRIU's way).
 * Requests in flight at the dump cannot be seen from outside and are not
 * restored. */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "images/log.h"
#include "restore/rst.h"

struct aio_ring_hdr {
	uint32_t id, nr, head, tail, magic, compat, incompat, header_length;
};

/* Submit `count` no-op writes, `head` ring slots consumed meanwhile. */
static int advance_tail(struct rst_inj *j, uint64_t ctx, uint32_t nr, uint32_t head,
			uint32_t count)
{
	uint64_t iocb_at = j->data, ptrs = j->data + 256, fd, ret;
	uint32_t maxr = count < nr - 1 ? count : nr - 1;
	struct iocb cb;
	int r;

	if (maxr > (j->data_len - 256) / sizeof(uint64_t))
		maxr = (uint32_t)((j->data_len - 256) / sizeof(uint64_t));
	r = rst_poke(j, j->data + 128, "/dev/null", 10);
	if (!r)
		r = rst_sys_ok(j, "open /dev/null", __NR_openat, &fd, (uint64_t)AT_FDCWD,
			       j->data + 128, O_WRONLY | O_CLOEXEC, 0, 0, 0);
	if (r)
		return r;
	memset(&cb, 0, sizeof(cb));
	cb.aio_lio_opcode = IOCB_CMD_PWRITE;
	cb.aio_fildes = (uint32_t)fd;
	cb.aio_buf = j->data + 128;
	cb.aio_nbytes = 1;
	r = rst_poke(j, iocb_at, &cb, sizeof(cb));
	for (uint32_t k = 0; !r && k < maxr; k++)
		r = rst_poke(j, ptrs + k * sizeof(uint64_t), &iocb_at, sizeof(iocb_at));
	for (uint32_t done = 0; !r && done < count;) {
		uint32_t n = count - done < maxr ? count - done : maxr, h;

		r = rst_sys_ok(j, "io_submit", __NR_io_submit, &ret, ctx, n, ptrs, 0, 0, 0);
		if (!r && !ret)
			r = -EAGAIN;
		done += r ? 0 : (uint32_t)ret;
		/* The slots read so far, as io_getevents would mark them. */
		h = done < head ? done : head;
		if (!r)
			r = rst_poke(j, ctx + offsetof(struct aio_ring_hdr, head), &h, sizeof(h));
	}
	rst_sys(j, __NR_close, NULL, fd, 0, 0, 0, 0, 0);
	return r;
}

static int copy_events(struct rst_inj *j, uint64_t from, uint64_t to, size_t len)
{
	char *buf = malloc(len);
	int r = buf ? 0 : -ENOMEM;

	if (!r)
		r = infect_read(&j->inf, from, buf, len);
	if (!r)
		r = rst_poke(j, to, buf, len);
	free(buf);
	return r;
}

static int ring_again(struct rst_proc *p, struct rst_inj *j, const VmaEntry *v)
{
	uint64_t len = v->end - v->start, ctx = 0, moved;
	struct aio_ring_hdr old, cur;
	int r = rst_poke(j, j->data, &ctx, sizeof(ctx));

	if (!r)
		r = infect_read(&j->inf, v->start, &old, sizeof(old));
	if (!r)
		r = rst_sys_ok(j, "io_setup", __NR_io_setup, NULL, v->aio_nr, j->data, 0, 0, 0, 0);
	if (!r)
		r = infect_read(&j->inf, j->data, &ctx, sizeof(ctx));
	if (!r)
		r = infect_read(&j->inf, ctx, &cur, sizeof(cur));
	if (r)
		return r;
	if (old.nr && (cur.nr != old.nr || old.head >= old.nr || old.tail >= old.nr)) {
		pr_err("process %d: the aio ring at %#llx held %u events, a new one %u (head %u, "
		       "tail %u)", p->pid, (unsigned long long)v->start, old.nr, cur.nr, old.head,
		       old.tail);
		return -EINVAL;
	}
	if (old.nr && (old.head || old.tail))
		r = advance_tail(j, ctx, cur.nr, old.head,
				 old.tail < old.head ? old.nr + old.tail : old.tail);
	if (!r)
		r = copy_events(j, v->start + sizeof(old), ctx + sizeof(old), len - sizeof(old));
	if (!r)
		r = rst_sys_ok(j, "mremap of an aio ring", __NR_mremap, &moved, ctx, len, len,
			       MREMAP_MAYMOVE | MREMAP_FIXED, v->start, 0);
	if (!r && moved != v->start)
		r = -EFAULT;
	return r;
}

int rst_aio_restore(struct rst_proc *p, struct rst_inj *j)
{
	for (size_t i = 0; i < p->nr_vma; i++) {
		int r;

		if (!p->vma[i]->has_aio_nr)
			continue;
		r = ring_again(p, j, p->vma[i]);
		if (r) {
			pr_err("process %d: cannot make its aio context %#llx again", p->pid,
			       (unsigned long long)p->vma[i]->start);
			return r;
		}
	}
	return 0;
}
