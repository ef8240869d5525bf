/* See crash_elf.h. Every offset and size comes from a file that may be
 * truncated or hostile (anyone can write a core into a pipe handler's
 * stdin through a crafted crash): all are bounds-checked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu-lite/crash/crash_elf.h"

#define MAX_PHNUM	(1u << 20)
#define MAX_NOTES	(64u << 20)

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EBADMSG;
		done += (size_t)n;
	}
	return 0;
}

int crash_elf_open(int fd, struct crash_elf *e)
{
	size_t nph;
	int r;

	memset(e, 0, sizeof(*e));
	e->fd = fd;
	if (pread_all(fd, &e->eh, sizeof(e->eh), 0))
		return -EBADMSG;
	if (memcmp(e->eh.e_ident, ELFMAG, SELFMAG) || e->eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    e->eh.e_ident[EI_DATA] != ELFDATA2LSB || e->eh.e_type != ET_CORE ||
	    e->eh.e_machine != EM_X86_64 || e->eh.e_phentsize != sizeof(Elf64_Phdr))
		return -EBADMSG;
	nph = e->eh.e_phnum;
	if (nph == PN_XNUM) {	/* more than 65534 VMAs: the count is in section 0 */
		Elf64_Shdr sh;

		if (!e->eh.e_shoff || pread_all(fd, &sh, sizeof(sh), e->eh.e_shoff))
			return -EBADMSG;
		nph = sh.sh_info;
	}
	if (!nph || nph > MAX_PHNUM || e->eh.e_phoff > UINT64_MAX / 2)
		return -EBADMSG;
	e->ph = calloc(nph, sizeof(*e->ph));
	if (!e->ph)
		return -ENOMEM;
	r = pread_all(fd, e->ph, nph * sizeof(*e->ph), e->eh.e_phoff);
	if (r) {
		crash_elf_close(e);
		return -EBADMSG;
	}
	e->nph = nph;
	for (size_t i = 0; i < nph; i++)
		if (e->ph[i].p_offset > UINT64_MAX / 4 || e->ph[i].p_filesz > UINT64_MAX / 4) {
			crash_elf_close(e);
			return -EBADMSG;
		}
	return 0;
}

void crash_elf_close(struct crash_elf *e)
{
	free(e->ph);
	e->ph = NULL;
	e->nph = 0;
}

uint64_t crash_elf_end(const struct crash_elf *e)
{
	uint64_t end = e->eh.e_phoff + e->nph * sizeof(Elf64_Phdr);

	for (size_t i = 0; i < e->nph; i++)
		if (e->ph[i].p_filesz && e->ph[i].p_offset + e->ph[i].p_filesz > end)
			end = e->ph[i].p_offset + e->ph[i].p_filesz;
	if (e->eh.e_shoff && e->eh.e_shoff + (uint64_t)e->eh.e_shentsize * e->eh.e_shnum > end)
		end = e->eh.e_shoff + (uint64_t)e->eh.e_shentsize * e->eh.e_shnum;
	return end;
}

static int walk(const uint8_t *p, size_t len, crash_note_cb cb, void *ctx)
{
	size_t off = 0;

	while (off + sizeof(Elf64_Nhdr) <= len) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(p + off);
		size_t name_off = off + sizeof(*nh);
		size_t desc_off = name_off + ((nh->n_namesz + 3) & ~3u);
		size_t next = desc_off + ((nh->n_descsz + 3) & ~(size_t)3);
		char name[16] = "";
		int r;

		if (desc_off > len || nh->n_descsz > len - desc_off)
			return -EBADMSG;
		if (nh->n_namesz)
			memcpy(name, p + name_off, nh->n_namesz < sizeof(name) ? nh->n_namesz :
			       sizeof(name) - 1);
		r = cb(ctx, nh->n_type, name, p + desc_off, nh->n_descsz);
		if (r)
			return r;
		off = next;
	}
	return 0;
}

int crash_elf_notes(const struct crash_elf *e, crash_note_cb cb, void *ctx)
{
	for (size_t i = 0; i < e->nph; i++) {
		const Elf64_Phdr *ph = &e->ph[i];
		uint8_t *buf;
		int r;

		if (ph->p_type != PT_NOTE || !ph->p_filesz)
			continue;
		if (ph->p_filesz > MAX_NOTES)
			return -EBADMSG;
		buf = malloc(ph->p_filesz);
		if (!buf)
			return -ENOMEM;
		r = pread_all(e->fd, buf, ph->p_filesz, ph->p_offset);
		if (!r)
			r = walk(buf, ph->p_filesz, cb, ctx);
		free(buf);
		if (r)
			return r;
	}
	return 0;
}
