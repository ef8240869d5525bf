/* Building dump directories image by image for the convert tests (every
 * byte known in advance), and reading the cores convert makes of them. */
#ifndef TEST_CONVERT_SYNTH_H
#define TEST_CONVERT_SYNTH_H

#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>

#include "images/image.h"

#define PG 4096ull
#define NT_XSAVE_LAYOUT 0x205

struct cs_dump {
	char dir[256];
	int dirfd;
	int pages_fd;
	uint64_t pages_off;
	struct img *pm;
};

struct cs_core {
	int fd;
	Elf *elf;
	size_t phnum;
	GElf_Phdr ph[64];
};

struct cs_note {
	char owner[8];
	uint32_t type;
	size_t len;
	uint8_t *desc;
};

void cs_put(int dirfd, enum img_kind kind, int pid, const void **msgs, size_t n);
void cs_inventory(struct cs_dump *s, uint32_t root, const char *parent, uint32_t kind);
void cs_open(struct cs_dump *s, const char *tag);
void cs_pstree(struct cs_dump *s, const uint32_t *pids, size_t n, uint32_t ppid);
void cs_proc(struct cs_dump *s, uint32_t pid, uint32_t ppid, int64_t filter);
void cs_threads(struct cs_dump *s, uint32_t pid, int n);
VmaEntry cs_vma(uint64_t start, uint64_t end, uint32_t prot, uint32_t status);
void cs_vmas(struct cs_dump *s, uint32_t pid, VmaEntry *v, size_t n);
void cs_pm_begin(struct cs_dump *s, uint32_t pid);
uint8_t cs_page_byte(uint64_t vaddr, size_t i);
void cs_pm_run(struct cs_dump *s, uint64_t vaddr, uint32_t nr, uint32_t flags);
void cs_pm_end(struct cs_dump *s);
void cs_core_open(struct cs_core *c, const char *path);
void cs_core_close(struct cs_core *c);
const GElf_Phdr *cs_core_load(const struct cs_core *c, uint64_t vaddr);
size_t cs_core_notes(const struct cs_core *c, struct cs_note *out, size_t max);
void cs_notes_free(struct cs_note *n, size_t nr);
void cs_read_at(const struct cs_core *c, uint64_t off, void *buf, size_t len);
bool cs_is_hole(int fd, uint64_t off, uint64_t len);
int cs_convert(const struct cs_dump *s, const char *out, char *err, size_t errlen, const char *extra);
void cs_core_path(const struct cs_dump *s, char *buf, size_t len);
void cs_done(struct cs_dump *s);

#endif
