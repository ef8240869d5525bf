#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criu-lite/commands.h"
#include "criu-lite/inspect/show.h"
#include "images/criu/criu_read.h"
#include "images/image.h"
#include "images/json.h"
#include "images/log.h"

/* Integer fields people read as addresses, masks or flag words. Data for the
 * generic printer: a new message needs a row here at most, never code. */
static const struct json_hex_field show_hex_fields[] = {
	{ "vma_entry", "start" }, { "vma_entry", "end" }, { "vma_entry", "pgoff" },
	{ "vma_entry", "flags" }, { "vma_entry", "status" }, { "vma_entry", "madv" },
	{ "pagemap_entry", "vaddr" }, { "pagemap_entry", "flags" },
	{ "pagemap_entry", "pages_off" },
	{ "mm_fields", NULL },
	{ "sigaction_entry", "handler" }, { "sigaction_entry", "flags" },
	{ "sigaction_entry", "restorer" }, { "sigaction_entry", "mask" },
	{ "sigaltstack_entry", "sp" },
	{ "thread_entry", "blocked" }, { "thread_entry", "pending_mask" },
	{ "thread_entry", "robust_list" }, { "thread_entry", "clear_child_tid" },
	{ "proc_entry", "shared_pending_mask" }, { "proc_entry", "personality" },
	{ "creds_entry", "cap_inh" }, { "creds_entry", "cap_prm" },
	{ "creds_entry", "cap_eff" }, { "creds_entry", "cap_bnd" },
	{ "creds_entry", "cap_amb" },
	{ "inventory_entry", "xcr0" },
	{ "fd_entry", "flags" }, { "fd_entry", "epoll_events" },
	{ "file_identity", "dev" },
};

static const struct json_style show_style = {
	.hex = show_hex_fields,
	.nr_hex = sizeof(show_hex_fields) / sizeof(show_hex_fields[0]),
	.indent = 2,
};

/* "PAGEMAP" for pagemap-PID.img: the kind's file name up to its first
 * '-' or '.', upper-cased, as crit names magics. */
static void kind_name(enum img_kind kind, char *buf, size_t len)
{
	if (img_name(kind, 1, buf, len) < 0) {
		snprintf(buf, len, "KIND%d", (int)kind);
		return;
	}
	buf[strcspn(buf, "-.")] = '\0';
	for (char *p = buf; *p; p++)
		*p = toupper((unsigned char)*p);
}

/* {"magic": ..., "entries": [...]} of an open image, closing it. */
static int put_image(FILE *f, struct img *img, int level)
{
	enum img_kind kind = img_kind_of(img);
	const ProtobufCMessageDescriptor *desc = NULL;
	char name[64];
	int r, n = 0;
	void *msg;

	kind_name(kind, name, sizeof(name));
	fputc('{', f);
	json_put_newline(&show_style, f, level + 1);
	fputs("\"magic\": ", f);
	json_put_string(f, name, strlen(name));
	fputc(',', f);
	json_put_newline(&show_style, f, level + 1);
	fputs("\"entries\": [", f);
	/* A pagemap image starts with its head, a message of another type. */
	if (kind == IMG_PAGEMAP)
		desc = &pagemap_head__descriptor;
	while ((r = img_read(img, desc, &msg)) > 0) {
		fputs(n++ ? "," : "", f);
		json_put_newline(&show_style, f, level + 2);
		json_put_message(&show_style, f, msg, level + 2);
		img_free(msg);
		desc = NULL;
	}
	if (n)
		json_put_newline(&show_style, f, level + 1);
	fputc(']', f);
	json_put_newline(&show_style, f, level);
	fputc('}', f);
	img_close_read(img);
	return r;
}

/* Run `fn` into memory and hand its text over only when it succeeded, so a
 * corrupt image never leaves half a JSON document on stdout. */
static int buffered(FILE *out, int (*fn)(FILE *f, void *arg), void *arg, char **text)
{
	size_t len = 0;
	FILE *f;
	int r;

	*text = NULL;
	f = open_memstream(text, &len);
	if (!f)
		return pr_perror("cannot allocate output buffer");
	r = fn(f, arg);
	if (fclose(f) && !r)
		r = -ENOMEM;
	if (!r && out)
		fwrite(*text, 1, len, out);
	return r;
}

static int put_image_path(FILE *f, void *arg)
{
	struct img *img = img_open_path(arg);

	return img ? put_image(f, img, 0) : -(errno ? errno : EINVAL);
}

struct dir_arg {
	int dirfd;
	enum img_kind kind;
	int pid;
};

static int put_image_at(FILE *f, void *arg)
{
	const struct dir_arg *a = arg;
	/* By kind, not by magic alone: a file whose magic is not the kind its
	 * name says is refused rather than shown as something else. */
	struct img *img = img_open(a->dirfd, a->kind, a->pid, true);

	return img ? put_image(f, img, 1) : -(errno ? errno : EINVAL);
}

static bool is_raw_pages(const char *name)
{
	size_t n = strlen(name);

	return !strncmp(name, "pages-", 6) && n > 10 && !strcmp(name + n - 4, ".img");
}

/* One "name": value member of the directory document. */
static int put_dir_entry(FILE *out, int dirfd, const char *name, bool *first)
{
	struct dir_arg a = { .dirfd = dirfd };
	struct stat st;
	char *text;
	int k, r = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
		return 0;
	fputs(*first ? "" : ",", out);
	*first = false;
	json_put_newline(&show_style, out, 1);
	json_put_string(out, name, strlen(name));
	fputs(": ", out);
	if (is_raw_pages(name) || img_is_fcopy_data(name)) {
		fprintf(out, "{\"raw\": true, \"size\": %lld}", (long long)st.st_size);
	} else if ((k = img_kind_from_name(name, &a.pid)) < 0) {
		fprintf(out, "{\"unknown\": true, \"size\": %lld}", (long long)st.st_size);
	} else {
		a.kind = k;
		r = buffered(out, put_image_at, &a, &text);
		if (r < 0) {
			/* Keep the document whole; the reason is already on stderr. */
			fputs("{\"error\": ", out);
			json_put_string(out, strerror(-r), strlen(strerror(-r)));
			fputc('}', out);
		}
		free(text);
	}
	return r;
}

static int show_dir(int dirfd, FILE *out)
{
	struct dirent **names;
	int n, r = 0;
	bool first = true;

	n = scandirat(dirfd, ".", &names, NULL, alphasort);
	if (n < 0)
		return pr_perror("cannot list the dump directory");
	fputc('{', out);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			int e = put_dir_entry(out, dirfd, names[i]->d_name, &first);

			if (e < 0 && !r)
				r = e;
		}
		free(names[i]);
	}
	free(names);
	json_put_newline(&show_style, out, 0);
	fputs("}\n", out);
	return r;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: criu-lite show FILE.img\n"
		"       criu-lite show -D DIR [--ps | --mem | --files]\n\n"
		"Print criu-lite images. FILE.img is printed as JSON:\n"
		"  {\"magic\": KIND, \"entries\": [...]}\n"
		"with fields by name, enums by name, bytes as hex strings and addresses\n"
		"and masks as \"0x...\" strings. -D prints every image of a dump as one\n"
		"JSON object keyed by file name; raw page files and file copies\n"
		"(fcopy-N.data) are noted as {\"raw\": true, \"size\": N}.\n\n"
		"  -D, --images-dir DIR  the dump directory\n"
		"      --ps              process tree: PID PPID PGID SID threads COMM\n"
		"      --mem             per process: VMAs and what the dump stored of each\n"
		"      --files           per process: file descriptors, described; then the\n"
		"                        files the dump copied for a replay (fcopy.img)\n"
		"  -h, --help            this text\n\n"
		"Exit status: 0 when everything was read, 1 when an image is missing,\n"
		"malformed or truncated (said on stderr), 2 on a usage error.\n");
}

enum show_mode { SHOW_JSON, SHOW_PS, SHOW_MEM, SHOW_FILES };

static int parse_args(int argc, char **argv, const char **dir, enum show_mode *mode)
{
	static const struct option opts[] = {
		{ "images-dir", required_argument, NULL, 'D' },
		{ "ps", no_argument, NULL, 'p' },
		{ "mem", no_argument, NULL, 'm' },
		{ "files", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	optind = 0;	/* full getopt reset: the fuzzers call cmd_show repeatedly */
	while ((c = getopt_long(argc, argv, "D:h", opts, NULL)) != -1) {
		switch (c) {
		case 'D': *dir = optarg; break;
		case 'p': *mode = SHOW_PS; break;
		case 'm': *mode = SHOW_MEM; break;
		case 'f': *mode = SHOW_FILES; break;
		case 'h': usage(stdout); return 1;
		default: return -1;
		}
	}
	return 0;
}

static int show_one_file(const char *path)
{
	char *text;
	int r;

	if (criu_is_image_file(path))
		return criu_show_file(path, stdout);
	r = buffered(stdout, put_image_path, (void *)path, &text);

	free(text);
	if (!r)
		fputc('\n', stdout);
	return r;
}

static int show_in_dir(const char *dir, enum show_mode mode)
{
	int dirfd, r;

	switch (mode) {
	case SHOW_PS: return show_ps(dir, stdout);
	case SHOW_MEM: return show_mem(dir, stdout);
	case SHOW_FILES: return show_files(dir, stdout);
	default: break;
	}
	if (criu_is_dump(dir))
		return criu_show_dump(dir, stdout);
	/* Every image as it is: JSON is for looking at a damaged dump too. */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return pr_perror("cannot open dump directory %s", dir);
	r = show_dir(dirfd, stdout);
	close(dirfd);
	return r;
}

int cmd_show(int argc, char **argv)
{
	enum show_mode mode = SHOW_JSON;
	const char *dir = NULL;
	int r = parse_args(argc, argv, &dir, &mode);

	if (r)
		return r > 0 ? 0 : 2;
	if (dir ? optind != argc : optind != argc - 1 || mode != SHOW_JSON) {
		fprintf(stderr, "criu-lite show: give one FILE.img, or -D DIR "
				"(--ps/--mem/--files need -D); see --help\n");
		return 2;
	}
	r = dir ? show_in_dir(dir, mode) : show_one_file(argv[optind]);
	if (fflush(stdout) || ferror(stdout)) {
		pr_perror("cannot write the output");
		return 1;
	}
	return r < 0 ? 1 : 0;
}
