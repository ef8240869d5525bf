/* The core file: written under a temporary name in the final directory and
 * renamed only when complete, so no reader ever sees half a core under the
 * final name (and SIGINT/SIGTERM remove the temporary file).
 *
 * libelf lays out and writes the ELF header and the program headers (and,
 * past 65535 segments, the section 0 that holds the real count: PN_XNUM).
 * It writes those first: elf_update() truncates the file to the headers'
 * size, so anything written before it would be cut. The notes and segment
 * data then go with pwrite/copy_file_range at the offsets laid out here;
 * libelf never touches the file again. Segment data starts page-aligned
 * after the notes, as in a kernel core. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/convert.h"
#include "images/log.h"

#define CORE_ALIGN 4096		/* the kernel's ELF_EXEC_PAGESIZE on x86 */

/* The temporary file to remove if a signal ends us mid-way. */
static char *volatile cleanup_path;

static void on_fatal_signal(int sig)
{
	char *p = cleanup_path;

	if (p)
		unlink(p);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void arm_cleanup(char *path)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	static bool armed;

	cleanup_path = path;
	if (armed)
		return;
	armed = true;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa = { .sa_handler = on_fatal_signal };

		sigaction(sigs[i], &sa, NULL);
	}
	/* Past RLIMIT_FSIZE, fail with EFBIG and clean up rather than die. */
	signal(SIGXFSZ, SIG_IGN);
}

int conv_core_create(const char *path, struct conv_core *c)
{
	const char *slash = strrchr(path, '/');
	int dlen = slash ? (int)(slash - path) : 0;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (!*path || (slash && !slash[1])) {
		pr_err("'%s' is not a file name for the core", path);
		return -EINVAL;
	}
	if (!(c->path = strdup(path)) ||
	    asprintf(&c->tmp, "%.*s%s.%s.XXXXXX", dlen, path, slash ? "/" : "",
		     slash ? slash + 1 : path) < 0) {
		c->tmp = NULL;
		conv_core_abort(c);
		return -ENOMEM;
	}
	c->fd = mkostemp(c->tmp, O_CLOEXEC);
	if (c->fd < 0) {
		int r = pr_perror("cannot create a core file next to %s", path);

		free(c->tmp);
		c->tmp = NULL;
		conv_core_abort(c);
		return r;
	}
	arm_cleanup(c->tmp);
	return 0;
}

static void fill_phdrs(Elf64_Phdr *ph, struct conv_seg *seg, size_t nr, uint64_t notes_off,
		       size_t notes_len, uint64_t data_off)
{
	ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = notes_off,
			      .p_filesz = notes_len, .p_align = 4 };
	for (size_t i = 0; i < nr; i++) {
		const VmaEntry *v = seg[i].vma;
		Elf64_Phdr *p = &ph[i + 1];

		seg[i].offset = data_off;
		*p = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = data_off, .p_vaddr = v->start,
				   .p_filesz = seg[i].filesz, .p_memsz = v->end - v->start,
				   .p_align = CORE_ALIGN };
		p->p_flags = (v->prot & 1 ? PF_R : 0) | (v->prot & 2 ? PF_W : 0) |
			     (v->prot & 4 ? PF_X : 0);
		data_off += seg[i].filesz;
	}
}

static int elf_fail(Elf *elf, const char *what)
{
	pr_err("libelf: cannot %s the core's headers: %s", what, elf_errmsg(-1));
	if (elf)
		elf_end(elf);
	return -EIO;
}

int conv_core_write_headers(struct conv_core *c, struct conv_seg *seg, size_t nr,
			    size_t notes_len, uint64_t page_size, uint64_t *notes_off,
			    uint64_t *end)
{
	size_t nph = nr + 1;
	bool xnum = nph >= PN_XNUM;
	uint64_t off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr), shoff = 0, data_off;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
	Elf *elf;

	(void)page_size;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return elf_fail(NULL, "initialise");
	/* Past 65535 segments the count lives in section 0 (PN_XNUM); libelf
	 * makes sections 0 and 1, whose headers sit right after the program
	 * headers so that libelf has no gap to fill. */
	if (xnum) {
		shoff = off;
		off += 2 * sizeof(Elf64_Shdr);
	}
	*notes_off = off;
	data_off = (off + notes_len + CORE_ALIGN - 1) & ~(uint64_t)(CORE_ALIGN - 1);

	elf = elf_begin(c->fd, ELF_C_WRITE, NULL);
	if (!elf)
		return elf_fail(NULL, "begin");
	elf_flagelf(elf, ELF_C_SET, ELF_F_LAYOUT);
	eh = elf64_newehdr(elf);
	if (!eh)
		return elf_fail(elf, "create");
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	if (xnum) {
		Elf_Scn *scn = elf_newscn(elf);
		Elf64_Shdr *sh = scn ? elf64_getshdr(scn) : NULL;

		if (!sh)
			return elf_fail(elf, "create");
		sh->sh_offset = shoff;
		eh->e_shoff = shoff;
		eh->e_shentsize = sizeof(Elf64_Shdr);
	}
	ph = elf64_newphdr(elf, nph);
	if (!ph)
		return elf_fail(elf, "create");
	fill_phdrs(ph, seg, nr, *notes_off, notes_len, data_off);
	*end = nr ? seg[nr - 1].offset + seg[nr - 1].filesz : data_off;
	elf_flagphdr(elf, ELF_C_SET, ELF_F_DIRTY);
	if (elf_update(elf, ELF_C_WRITE) < 0)
		return elf_fail(elf, "write");
	elf_end(elf);
	return 0;
}

int conv_core_pwrite(struct conv_core *c, const void *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(c->fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? pr_perror("cannot write the core") : -EIO;
		p = (const char *)p + n;
		len -= n;
		off += n;
	}
	return 0;
}

int conv_core_commit(struct conv_core *c, uint64_t end)
{
	int r = 0;

	/* A core ending in a hole still has its full length. */
	if (ftruncate(c->fd, end))
		r = pr_perror("cannot extend the core to %llu bytes", (unsigned long long)end);
	if (close(c->fd) && !r)
		r = pr_perror("cannot write the core");
	c->fd = -1;
	if (!r && rename(c->tmp, c->path))
		r = pr_perror("cannot rename the core to %s", c->path);
	if (!r) {
		cleanup_path = NULL;
		free(c->tmp);
		c->tmp = NULL;
	}
	conv_core_abort(c);
	return r;
}

void conv_core_abort(struct conv_core *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->tmp) {
		cleanup_path = NULL;
		unlink(c->tmp);
		free(c->tmp);
		c->tmp = NULL;
	}
	free(c->path);
	c->path = NULL;
}
