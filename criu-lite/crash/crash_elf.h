/* Reading a kernel ELF core without trusting it: headers, program headers,
 * the notes of PT_NOTE segments. Private to the crash modules. */
#ifndef CRIU_LITE_CRASH_ELF_H
#define CRIU_LITE_CRASH_ELF_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

struct crash_elf {
	int fd;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	size_t nph;
};

/* Read and check the ELF header and program headers of an x86_64 ET_CORE.
 * -EBADMSG (not logged) when fd holds no such core, or not yet all of its
 * headers. */
int crash_elf_open(int fd, struct crash_elf *e);
void crash_elf_close(struct crash_elf *e);
/* Where the file ends when complete: past every segment and header. */
uint64_t crash_elf_end(const struct crash_elf *e);

/* Call cb for every note of every PT_NOTE, in file order; a non-zero cb
 * result stops the walk and is returned. */
typedef int (*crash_note_cb)(void *ctx, uint32_t type, const char *name, const uint8_t *desc,
			     size_t len);
int crash_elf_notes(const struct crash_elf *e, crash_note_cb cb, void *ctx);

#endif
