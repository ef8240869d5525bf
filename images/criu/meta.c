/* What a checkpoint archive says about its container: config.dump (CRI-O
 * and Podman: the container's name, id, image, runtime, times) and
 * spec.dump (the OCI runtime spec, whose annotations name the pod). Both
 * are JSON; a small reader picks out the few strings show prints, and
 * anything else in them (or a document it cannot parse) is left alone:
 * the metadata is for people, the dump does not depend on it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images/criu/criu.h"

#define DEPTH_MAX 8

struct want {
	const char *file;
	const char *path;	/* keys from the top, '\n' between */
	size_t off;		/* of the char * in struct csrc_meta */
};

#define M(f) offsetof(struct csrc_meta, f)
static const struct want wants[] = {
	{ "config.dump", "name", M(name) },
	{ "config.dump", "id", M(id) },
	{ "config.dump", "rootfsImageName", M(image) },
	{ "config.dump", "rootfsImage", M(image) },
	{ "config.dump", "runtime", M(runtime) },
	{ "config.dump", "ociRuntime", M(runtime) },
	{ "config.dump", "createdTime", M(created) },
	{ "config.dump", "checkpointedTime", M(checkpointed) },
	{ "spec.dump", "annotations\nio.kubernetes.pod.name", M(pod) },
	{ "spec.dump", "annotations\nio.kubernetes.pod.namespace", M(namespace) },
	{ "spec.dump", "annotations\nio.kubernetes.container.name", M(container) },
	{ "spec.dump", "annotations\nio.container.manager", M(engine) },
};

struct jp {
	const char *p, *end;
	const char *file;
	struct csrc_meta *m;
	char path[512];
	int err;
};

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && strchr(" \t\r\n", *j->p))
		j->p++;
}

static unsigned hex4(struct jp *j)
{
	unsigned v = 0;

	for (int i = 0; i < 4 && j->p < j->end; i++, j->p++) {
		char c = *j->p | 0x20;

		v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0);
	}
	return v;
}

/* A JSON string, unescaped (\uXXXX kept only for ASCII); NULL at the end. */
static char *string(struct jp *j)
{
	char *out = malloc(j->end - j->p + 1), *o = out;

	if (!out || *j->p++ != '"') {
		free(out);
		j->err = out ? -EINVAL : -ENOMEM;
		return NULL;
	}
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;

		if (c == '\\' && j->p < j->end) {
			c = *j->p++;
			if (c == 'u') {
				unsigned v = hex4(j);

				c = v && v < 0x80 ? (char)v : '?';
			} else {
				c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' :
				    c == 'b' ? '\b' : c == 'f' ? '\f' : c;
			}
		}
		*o++ = c;
	}
	*o = '\0';
	if (j->p >= j->end) {
		free(out);
		j->err = -EINVAL;
		return NULL;
	}
	j->p++;
	return out;
}

static void keep(struct jp *j, char *s)
{
	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		char **slot = (char **)((char *)j->m + wants[i].off);

		if (strcmp(wants[i].file, j->file) || strcmp(wants[i].path, j->path) || *slot)
			continue;
		*slot = s;
		return;
	}
	free(s);
}

static void value(struct jp *j, int depth);

static void object(struct jp *j, int depth)
{
	size_t base = strlen(j->path);

	j->p++;
	for (skip_ws(j); !j->err && j->p < j->end && *j->p != '}';) {
		char *key = string(j);

		if (!key)
			return;
		snprintf(j->path + base, sizeof(j->path) - base, "%s%s", base ? "\n" : "", key);
		free(key);
		skip_ws(j);
		if (j->p >= j->end || *j->p++ != ':') {
			j->err = -EINVAL;
			return;
		}
		value(j, depth + 1);
		j->path[base] = '\0';
		skip_ws(j);
		if (j->p < j->end && *j->p == ',')
			j->p++, skip_ws(j);
	}
	if (j->p >= j->end)
		j->err = -EINVAL;
	else
		j->p++;
}

static void array(struct jp *j, int depth)
{
	/* No array element is wanted: a path through an array matches nothing. */
	size_t base = strlen(j->path);

	strncat(j->path, "\n[]", sizeof(j->path) - base - 1);
	j->p++;
	for (skip_ws(j); !j->err && j->p < j->end && *j->p != ']';) {
		value(j, depth + 1);
		skip_ws(j);
		if (j->p < j->end && *j->p == ',')
			j->p++, skip_ws(j);
	}
	j->path[base] = '\0';
	if (j->p >= j->end)
		j->err = -EINVAL;
	else
		j->p++;
}

static void value(struct jp *j, int depth)
{
	skip_ws(j);
	if (j->p >= j->end || depth > DEPTH_MAX) {
		j->err = -EINVAL;
		return;
	}
	if (*j->p == '{')
		object(j, depth);
	else if (*j->p == '[')
		array(j, depth);
	else if (*j->p == '"') {
		char *s = string(j);

		if (s)
			keep(j, s);
	} else {
		/* number, true, false, null */
		while (j->p < j->end && !strchr(",}] \t\r\n", *j->p))
			j->p++;
	}
}

int cmeta_parse(struct csrc *s, const char *name, const char *text, size_t len)
{
	struct jp j = { .p = text, .end = text + len, .file = name };

	if (!s->meta && !(s->meta = calloc(1, sizeof(*s->meta))))
		return -ENOMEM;
	j.m = s->meta;
	value(&j, 0);
	return j.err == -ENOMEM ? -ENOMEM : 0;
}

void cmeta_free(struct csrc_meta *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->id);
	free(m->image);
	free(m->runtime);
	free(m->created);
	free(m->checkpointed);
	free(m->engine);
	free(m->pod);
	free(m->namespace);
	free(m->container);
	free(m);
}
