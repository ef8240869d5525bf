#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include "common/procfs.h"
#include "common/vma.h"
#include "images/log.h"

static const struct {
	char code[3];
	uint32_t bit;
} vmf_codes[] = {
	{ "gd", VMF_GROWSDOWN }, { "sh", VMF_SHARED }, { "io", VMF_IO },
	{ "pf", VMF_PFNMAP }, { "dc", VMF_DONTCOPY }, { "wf", VMF_WIPEONFORK },
	{ "dd", VMF_DONTDUMP }, { "ht", VMF_HUGETLB }, { "mm", VMF_MIXEDMAP },
	{ "lo", VMF_LOCKED }, { "uw", VMF_UFFD_WP }, { "um", VMF_UFFD_ANY }, { "ui", VMF_UFFD_ANY },
};

static uint32_t vmf_parse(const char *s)
{
	uint32_t bits = 0;

	while (*s) {
		size_t n = strcspn(s, " ");

		for (size_t i = 0; n == 2 && i < sizeof(vmf_codes) / sizeof(vmf_codes[0]); i++)
			if (!memcmp(s, vmf_codes[i].code, 2))
				bits |= vmf_codes[i].bit;
		s += n;
		s += strspn(s, " ");
	}
	return bits;
}

static enum vma_kind name_kind(const char *name)
{
	static const struct {
		const char *label;
		enum vma_kind kind;
	} labels[] = {
		{ "[heap]", VMAK_HEAP }, { "[stack]", VMAK_STACK }, { "[vdso]", VMAK_VDSO },
		{ "[vvar]", VMAK_VVAR }, { "[vvar_vclock]", VMAK_VVAR },
		{ "[vsyscall]", VMAK_VSYSCALL },
	};

	if (!*name)
		return VMAK_NONE;
	if (*name != '[')
		return VMAK_FILE;
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (!strcmp(name, labels[i].label))
			return labels[i].kind;
	if (!strncmp(name, "[anon:", 6))
		return VMAK_ANON_NAMED;
	if (!strncmp(name, "[anon_shmem:", 12))
		return VMAK_SHMEM_NAMED;
	return VMAK_OTHER;
}

/* A maps header line: "start-end perms offset major:minor inode   name". */
static int parse_header(char *line, struct vma *v)
{
	static const char deleted[] = " (deleted)";
	unsigned long maj, min;
	char *p = line, *name;
	size_t nl;

	memset(v, 0, sizeof(*v));
	v->start = strtoull(p, &p, 16);
	if (*p++ != '-')
		return -EINVAL;
	v->end = strtoull(p, &p, 16);
	if (*p++ != ' ' || strlen(p) < 5 || v->end <= v->start)
		return -EINVAL;
	v->prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) |
		  (p[2] == 'x' ? PROT_EXEC : 0);
	v->shared = p[3] == 's';
	p += 4;
	v->pgoff = strtoull(p, &p, 16);
	maj = strtoul(p, &p, 16);
	if (*p++ != ':')
		return -EINVAL;
	min = strtoul(p, &p, 16);
	v->dev = makedev(maj, min);
	v->ino = strtoull(p, &p, 10);
	if (*p && *p != ' ')
		return -EINVAL;
	name = p + strspn(p, " ");
	nl = strlen(name);
	if (nl >= sizeof(deleted) - 1 && !strcmp(name + nl - (sizeof(deleted) - 1), deleted)) {
		v->deleted = true;
		name[nl - (sizeof(deleted) - 1)] = '\0';
	}
	v->kind = name_kind(name);
	v->name = strdup(name);
	return v->name ? 0 : -ENOMEM;
}

/* smaps interleaves "Key: value" lines; a header's first token has a '-'
 * between hex digits and no ':'. */
static bool is_header(const char *line)
{
	size_t n = strcspn(line, " ");

	return n && memchr(line, '-', n) && !memchr(line, ':', n);
}

static int list_add(struct vma_list *l, size_t *cap)
{
	if (l->nr == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct vma *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		*cap = nc;
	}
	return 0;
}

int vma_list_parse(char *text, struct vma_list *out)
{
	char *line, *save = NULL;
	size_t cap = 0;
	int r = 0;

	out->v = NULL;
	out->nr = 0;
	for (line = strtok_r(text, "\n", &save); line && !r; line = strtok_r(NULL, "\n", &save)) {
		if (is_header(line)) {
			r = list_add(out, &cap);
			if (!r)
				r = parse_header(line, &out->v[out->nr]);
			if (!r)
				out->nr++;
			if (r == -EINVAL)
				pr_err("malformed maps line: %s", line);
		} else if (!strncmp(line, "KernelPageSize:", 15) && out->nr) {
			out->v[out->nr - 1].page_kb = (uint32_t)strtoul(line + 15, NULL, 10);
		} else if (!strncmp(line, "VmFlags:", 8) && out->nr) {
			struct vma *v = &out->v[out->nr - 1];
			char *f = line + 8 + strspn(line + 8, " ");
			size_t fl = strlen(f);

			while (fl && f[fl - 1] == ' ')
				f[--fl] = '\0';
			v->vmf = vmf_parse(f);
			free(v->vmflags);
			v->vmflags = strdup(f);
			if (!v->vmflags)
				r = -ENOMEM;
		}
	}
	if (r)
		vma_list_free(out);
	return r;
}

int vma_list_read(pid_t pid, bool with_smaps, struct vma_list *out)
{
	const char *file = with_smaps ? "smaps" : "maps";
	char *text;
	int r;

	out->v = NULL;
	out->nr = 0;
	r = procfs_read(pid, file, &text, NULL);
	if (r < 0) {
		if (r != -ESRCH && r != -ENOENT) {
			errno = -r;
			pr_perror("cannot read /proc/%d/%s", pid, file);
		}
		return r;
	}
	r = vma_list_parse(text, out);
	free(text);
	return r;
}

void vma_list_free(struct vma_list *l)
{
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].name);
		free(l->v[i].vmflags);
	}
	free(l->v);
	l->v = NULL;
	l->nr = 0;
}

const struct vma *vma_list_find(const struct vma_list *l, uint64_t addr)
{
	size_t lo = 0, hi = l->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < l->v[mid].start)
			hi = mid;
		else if (addr >= l->v[mid].end)
			lo = mid + 1;
		else
			return &l->v[mid];
	}
	return NULL;
}
