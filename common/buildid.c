#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/buildid.h"
#include "images/log.h"

bool buildid_is_elf(int fd)
{
	char m[SELFMAG];

	return pread(fd, m, sizeof(m), 0) == SELFMAG && !memcmp(m, ELFMAG, SELFMAG);
}

/* Walk the notes in one chunk; the build-id note is owned by "GNU". */
static int note_find_buildid(Elf_Data *data, uint8_t *buf, size_t len)
{
	size_t off = 0, name_off, desc_off, next;
	GElf_Nhdr nh;

	while (data && off < data->d_size &&
	       (next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp((char *)data->d_buf + name_off, "GNU", 4) && nh.n_descsz > 0) {
			size_t n = nh.n_descsz < len ? nh.n_descsz : len;

			memcpy(buf, (char *)data->d_buf + desc_off, n);
			return (int)n;
		}
		off = next;
	}
	return 0;
}

/* Program headers first: they survive stripping and are what the loader
 * (and gdb, reading a core) sees; sections only for files without them. */
static int elf_find_buildid(Elf *elf, uint8_t *buf, size_t len)
{
	size_t phnum = 0;
	Elf_Scn *scn = NULL;
	int r = 0;

	if (elf_getphdrnum(elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum && !r; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_NOTE)
				continue;
			r = note_find_buildid(elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz,
								   ELF_T_NHDR), buf, len);
		}
	}
	while (!r && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_NOTE)
			r = note_find_buildid(elf_getdata(scn, NULL), buf, len);
	}
	return r;
}

int buildid_read(int fd, uint8_t *buf, size_t len)
{
	Elf *elf;
	int r;

	if (!buildid_is_elf(fd))
		return 0;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	/* READ (not READ_MMAP): libelf reads only the headers and the note
	 * chunks it is asked for, never the whole file. */
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf)
		return 0;
	r = elf_kind(elf) == ELF_K_ELF ? elf_find_buildid(elf, buf, len) : 0;
	elf_end(elf);
	return r;
}

int fileid_from_fd(int fd, const char *path, bool want_buildid, FileIdentity **out)
{
	FileIdentity *fi;
	uint8_t id[BUILDID_MAX];
	struct stat st;
	int n;

	if (fstat(fd, &st))
		return pr_perror("cannot stat %s", path);
	fi = malloc(sizeof(*fi));
	if (!fi)
		return -ENOMEM;
	file_identity__init(fi);
	fi->path = strdup(path);
	if (!fi->path) {
		free(fi);
		return -ENOMEM;
	}
	fi->has_dev = fi->has_ino = fi->has_size = fi->has_mtime_ns = fi->has_mode = 1;
	fi->dev = st.st_dev;
	fi->ino = st.st_ino;
	fi->size = st.st_size;
	fi->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec;
	fi->mode = st.st_mode;
	if (want_buildid && S_ISREG(st.st_mode) && (n = buildid_read(fd, id, sizeof(id))) > 0) {
		fi->build_id.data = malloc(n);
		if (!fi->build_id.data) {
			img_free(fi);
			return -ENOMEM;
		}
		memcpy(fi->build_id.data, id, n);
		fi->build_id.len = n;
		fi->has_build_id = 1;
	}
	*out = fi;
	return 0;
}
