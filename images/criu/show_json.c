/* CRIU images as JSON, as crit decodes them: the magic's name, then every
 * entry with its fields by name. Where crit differs from our own show we
 * follow our show's conventions (bytes as hex rather than base64, flag
 * words as "0x..." rather than spelled out), so one reader of show's output
 * reads both formats. Each image is decoded whole into memory first: a
 * corrupt one leaves an "error" member, never half a document. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/criu/criu.h"
#include "images/criu/criu_read.h"
#include "images/log.h"

static const struct json_style style = {
	.hex = cimg_hex_fields,
	.indent = 2,
};

static struct json_style criu_style(void)
{
	struct json_style st = style;

	st.nr_hex = cimg_nr_hex_fields;
	return st;
}

/* {"magic": ..., "entries": [...]} of an open image. */
static int put_image(FILE *f, struct cimg *im, int level)
{
	struct json_style st = criu_style();
	const char *crit = cimg_desc_of(im)->crit;
	const uint8_t *extra;
	size_t elen;
	void *msg;
	int r, n = 0;

	fputc('{', f);
	json_put_newline(&st, f, level + 1);
	fputs("\"magic\": ", f);
	json_put_string(f, crit, strlen(crit));
	fputc(',', f);
	json_put_newline(&st, f, level + 1);
	fputs("\"entries\": [", f);
	while ((r = cimg_next(im, &msg, &extra, &elen)) > 0) {
		fputs(n++ ? "," : "", f);
		json_put_newline(&st, f, level + 2);
		if (cimg_desc_of(im)->payload && extra)
			json_put_message_extra(&st, f, msg, level + 2, "extra", extra, elen);
		else
			json_put_message(&st, f, msg, level + 2);
		cimg_free(msg);
	}
	if (n)
		json_put_newline(&st, f, level + 1);
	fputc(']', f);
	json_put_newline(&st, f, level);
	fputc('}', f);
	return r;
}

/* Decode into memory; hand the text over only when it all decoded. The
 * kind is the one the name says (a file whose magic is another kind's is
 * refused, not shown as that kind), or the magic's for a name CRIU does
 * not use. */
static int render(const struct csrc *s, const char *name, int level, char **text, size_t *len)
{
	struct cimg *im;
	uint64_t id;
	FILE *f;
	int k = cimg_kind_of_name(name, &id), r;

	*text = NULL;
	r = k >= 0 ? cimg_open(s, k, id, true, &im) : cimg_open_name(s, name, &im);
	if (r < 0)
		return r;
	f = open_memstream(text, len);
	if (!f) {
		cimg_close(im);
		return -ENOMEM;
	}
	r = put_image(f, im, level);
	cimg_close(im);
	if (fclose(f) && !r)
		r = -ENOMEM;
	return r;
}

static bool is_pages(const char *name)
{
	size_t n = strlen(name);

	return !strncmp(name, "pages-", 6) && n > 10 && !strcmp(name + n - 4, ".img");
}

/* The value of one file of the dump, at nesting level 1. */
static int put_member(FILE *out, const struct csrc *s, const char *name)
{
	struct cfile cf;
	uint64_t size;
	char *text;
	size_t len;
	int k, r;

	r = csrc_get(s, name, &cf);
	if (r < 0)
		return fputs("{\"error\": \"unreadable\"}", out), r;
	size = cf.size;
	k = cimg_kind_at(&cf);
	cfile_close(&cf);
	if (is_pages(name) || k < 0) {
		fprintf(out, "{\"%s\": true, \"size\": %llu}", is_pages(name) ? "raw" : "unknown",
			(unsigned long long)size);
		return 0;
	}
	if (!cimg_desc(k)->desc) {
		fprintf(out, "{\"magic\": \"%s\", \"decoded\": false, \"size\": %llu}",
			cimg_desc(k)->crit, (unsigned long long)size);
		return 0;
	}
	r = render(s, name, 1, &text, &len);
	if (r < 0) {
		fputs("{\"error\": ", out);
		json_put_string(out, strerror(-r), strlen(strerror(-r)));
		fputc('}', out);
	} else {
		fwrite(text, 1, len, out);
	}
	free(text);
	return r;
}

static void put_meta_field(FILE *out, const char *key, const char *v, bool *first)
{
	if (!v)
		return;
	fprintf(out, "%s\n    \"%s\": ", *first ? "" : ",", key);
	json_put_string(out, v, strlen(v));
	*first = false;
}

static void put_meta(FILE *out, const struct csrc_meta *m)
{
	bool first = true;

	fputs("\n  \"container\": {", out);
	put_meta_field(out, "name", m->name, &first);
	put_meta_field(out, "id", m->id, &first);
	put_meta_field(out, "image", m->image, &first);
	put_meta_field(out, "runtime", m->runtime, &first);
	put_meta_field(out, "manager", m->engine, &first);
	put_meta_field(out, "pod", m->pod, &first);
	put_meta_field(out, "namespace", m->namespace, &first);
	put_meta_field(out, "container", m->container, &first);
	put_meta_field(out, "created", m->created, &first);
	put_meta_field(out, "checkpointed", m->checkpointed, &first);
	fputs(first ? "}" : "\n  }", out);
}

static int show_src(const struct csrc *s, FILE *out)
{
	char **names;
	size_t n;
	int r, e = 0;

	r = csrc_names(s, &names, &n);
	if (r < 0)
		return r;
	fputc('{', out);
	if (s->meta)
		put_meta(out, s->meta);
	for (size_t i = 0; i < n; i++) {
		fputs(i || s->meta ? ",\n  " : "\n  ", out);
		json_put_string(out, names[i], strlen(names[i]));
		fputs(": ", out);
		r = put_member(out, s, names[i]);
		if (r < 0 && !e)
			e = r;
	}
	fputs("\n}\n", out);
	csrc_names_free(names, n);
	return e;
}

int criu_show_dump(const char *path, FILE *out)
{
	struct csrc *s;
	int r;

	r = csrc_probe_dir(path) ? csrc_open_dir(path, -1, &s) : csrc_open_archive(path, &s);
	if (r < 0)
		return r;
	r = show_src(s, out);
	csrc_free(s);
	return r;
}

/* A source of one directory, whatever it holds (show FILE). */
static int dir_of(const char *path, struct csrc *s, char **base)
{
	char *a = strdup(path), *b = strdup(path);

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	s->label = strdup(dirname(a));
	*base = strdup(basename(b));
	free(a);
	free(b);
	if (!s->label || !*base)
		return -ENOMEM;
	s->dirfd = open(s->label, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s->dirfd < 0 ? pr_perror("cannot open %s", s->label) : 0;
}

int criu_show_file(const char *path, FILE *out)
{
	struct csrc s;
	char *base = NULL, *text = NULL;
	size_t len;
	int r;

	r = dir_of(path, &s, &base);
	if (!r)
		r = render(&s, base, 0, &text, &len);
	if (!r) {
		fwrite(text, 1, len, out);
		fputc('\n', out);
	}
	free(text);
	free(base);
	if (s.dirfd >= 0)
		close(s.dirfd);
	free(s.label);
	return r;
}

void criu_show_container(const struct dump_read *d, FILE *out)
{
	const struct csrc_meta *m = criu_container(d);
	const struct { const char *key, *v; } rows[] = {
		{ "container", m ? m->name : NULL }, { "id", m ? m->id : NULL },
		{ "image", m ? m->image : NULL }, { "runtime", m ? m->runtime : NULL },
		{ "manager", m ? m->engine : NULL }, { "pod", m ? m->pod : NULL },
		{ "namespace", m ? m->namespace : NULL },
		{ "checkpointed", m ? m->checkpointed : NULL },
	};

	for (size_t i = 0; m && i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].v)
			fprintf(out, "%s: %s\n", rows[i].key, rows[i].v);
}
