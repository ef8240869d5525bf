#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "images/json.h"

void json_put_newline(const struct json_style *st, FILE *f, int level)
{
	if (!st->indent)
		return;
	fputc('\n', f);
	fprintf(f, "%*s", level * st->indent, "");
}

/* Length of the well-formed UTF-8 sequence at s, or 0. Overlong forms,
 * surrogates and code points past U+10FFFF are not well-formed: a JSON
 * parser would reject them, so they are escaped byte by byte instead. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void json_put_string(FILE *f, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	fputc('"', f);
	while (i < len) {
		unsigned char c = s[i];
		size_t n;

		switch (c) {
		case '"':  fputs("\\\"", f); i++; continue;
		case '\\': fputs("\\\\", f); i++; continue;
		case '\n': fputs("\\n", f); i++; continue;
		case '\t': fputs("\\t", f); i++; continue;
		case '\r': fputs("\\r", f); i++; continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		n = utf8_len(s + i, len - i);
		if (!n) {
			/* Not text: keep the byte visible and the document valid. */
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		fwrite(s + i, 1, n, f);
		i += n;
	}
	fputc('"', f);
}

void json_put_hex(FILE *f, const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		fputc(digits[p[i] >> 4], f);
		fputc(digits[p[i] & 15], f);
	}
	fputc('"', f);
}

static bool want_hex(const struct json_style *st, const ProtobufCMessageDescriptor *md,
		     const ProtobufCFieldDescriptor *fd)
{
	for (size_t i = 0; i < st->nr_hex; i++) {
		const struct json_hex_field *h = &st->hex[i];

		if ((!h->field || !strcmp(h->field, fd->name)) &&
		    (!h->message || !strcmp(h->message, md->name)))
			return true;
	}
	return false;
}

/* Size of one element of a repeated field's array. */
static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:	/* the 32-bit integers and enums */
		return sizeof(uint32_t);
	}
}

static void put_double(FILE *f, double v)
{
	/* JSON has no NaN or infinity. */
	if (isfinite(v))
		fprintf(f, "%.17g", v);
	else
		fputs("null", f);
}

static void put_enum(FILE *f, const ProtobufCEnumDescriptor *ed, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);

	if (ev)
		json_put_string(f, ev->name, strlen(ev->name));
	else
		fprintf(f, "%d", v);	/* a value newer than our schema */
}

/* One value of field `fd` stored at `p`. */
static void put_value(const struct json_style *st, FILE *f, const ProtobufCMessageDescriptor *md,
		      const ProtobufCFieldDescriptor *fd, const void *p, int level)
{
	bool hex = want_hex(st, md, fd);

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(f, hex ? "\"0x%" PRIx32 "\"" : "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		fprintf(f, hex ? "\"0x%" PRIx32 "\"" : "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(f, hex ? "\"0x%" PRIx64 "\"" : "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		fprintf(f, hex ? "\"0x%" PRIx64 "\"" : "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double(f, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(f, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)p ? "true" : "false", f);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		put_enum(f, fd->descriptor, *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)p;

		/* protobuf-c strings end at their first NUL; nothing is lost. */
		json_put_string(f, s ? s : "", s ? strlen(s) : 0);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;

		json_put_hex(f, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;

		if (m)
			json_put_message(st, f, m, level);
		else
			fputs("null", f);
		break;
	}
	}
}

/* Scalars stay on one line; strings, bytes and messages get a line each. */
static bool one_line(ProtobufCType t)
{
	return t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_BYTES &&
	       t != PROTOBUF_C_TYPE_MESSAGE;
}

static void put_array(const struct json_style *st, FILE *f, const ProtobufCMessageDescriptor *md,
		      const ProtobufCFieldDescriptor *fd, const char *arr, size_t n, int level)
{
	size_t sz = elem_size(fd->type);

	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		if (one_line(fd->type))
			fputs(i && st->indent ? " " : "", f);
		else
			json_put_newline(st, f, level + 1);
		put_value(st, f, md, fd, arr + i * sz, level + 1);
	}
	if (!one_line(fd->type))
		json_put_newline(st, f, level);
	fputc(']', f);
}

/* Whether a non-repeated field holds a value worth printing. */
static bool field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
	const char *base = (const char *)msg;
	const void *member = base + fd->offset;

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + fd->quantifier_offset) == fd->id;
	if (fd->label == PROTOBUF_C_LABEL_REQUIRED || fd->label == PROTOBUF_C_LABEL_NONE)
		return true;
	/* optional: strings and messages are absent when NULL (or, for a
	 * string with a default, when pointing at the default) */
	if (fd->type == PROTOBUF_C_TYPE_STRING) {
		const char *s = *(const char *const *)member;

		return s && s != fd->default_value;
	}
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(const void *const *)member != NULL;
	return *(const protobuf_c_boolean *)(base + fd->quantifier_offset);
}

static void put_unknown(const struct json_style *st, FILE *f, const ProtobufCMessage *msg,
			int level)
{
	fputs("\"_unknown\":", f);
	fputs(st->indent ? " [" : "[", f);
	for (unsigned i = 0; i < msg->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &msg->unknown_fields[i];

		fputs(i ? "," : "", f);
		json_put_newline(st, f, level + 1);
		fprintf(f, st->indent ? "{\"tag\": %u, \"wire_type\": %u, \"data\": "
				      : "{\"tag\":%u,\"wire_type\":%u,\"data\":",
			u->tag, (unsigned)u->wire_type);
		json_put_hex(f, u->data, u->len);
		fputc('}', f);
	}
	json_put_newline(st, f, level);
	fputc(']', f);
}

/* The members of msg, each on its own line at `level` + 1; whether any was. */
static bool put_fields(const struct json_style *st, FILE *f, const ProtobufCMessage *msg,
		       int level)
{
	const ProtobufCMessageDescriptor *md = msg->descriptor;
	const char *base = (const char *)msg;
	bool first = true;

	for (unsigned i = 0; i < md->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &md->fields[i];
		size_t n = 0;

		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + fd->quantifier_offset);
			if (!n)
				continue;
		} else if (!field_present(msg, fd)) {
			continue;
		}
		fputs(first ? "" : ",", f);
		first = false;
		json_put_newline(st, f, level + 1);
		json_put_string(f, fd->name, strlen(fd->name));
		fputs(st->indent ? ": " : ":", f);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED)
			put_array(st, f, md, fd, *(const char *const *)(base + fd->offset), n,
				  level + 1);
		else
			put_value(st, f, md, fd, base + fd->offset, level + 1);
	}
	if (msg->n_unknown_fields) {
		fputs(first ? "" : ",", f);
		first = false;
		json_put_newline(st, f, level + 1);
		put_unknown(st, f, msg, level + 1);
	}
	return !first;
}

void json_put_message(const struct json_style *st, FILE *f, const ProtobufCMessage *msg,
		      int level)
{
	fputc('{', f);
	if (put_fields(st, f, msg, level))
		json_put_newline(st, f, level);
	fputc('}', f);
}

void json_put_message_extra(const struct json_style *st, FILE *f, const ProtobufCMessage *msg,
			    int level, const char *key, const uint8_t *data, size_t len)
{
	bool any;

	fputc('{', f);
	any = put_fields(st, f, msg, level);
	fputs(any ? "," : "", f);
	json_put_newline(st, f, level + 1);
	json_put_string(f, key, strlen(key));
	fputs(st->indent ? ": " : ":", f);
	json_put_hex(f, data, len);
	json_put_newline(st, f, level);
	fputc('}', f);
}
