/* A generic protobuf-c -> JSON printer, driven only by the message and field
 * descriptors: adding a message or a field to a .proto needs no change here.
 *
 * Mapping: fields by name, in tag order; absent optional fields and empty
 * repeated fields are left out; integers as JSON numbers (uint64 exact, never
 * through a double); enums by value name; bools as true/false; bytes as a hex
 * string; strings escaped so that any byte sequence gives valid JSON (invalid
 * UTF-8 bytes become \u00XX); repeated fields as arrays; sub-messages as
 * nested objects; fields the descriptor does not know (from a newer writer)
 * under "_unknown" as {tag, wire_type, data}, data being the field's wire
 * bytes after its tag (for wire type 2, the length prefix included). */
#ifndef CRIU_LITE_JSON_H
#define CRIU_LITE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <protobuf-c/protobuf-c.h>

/* An integer field better read in hex (addresses, masks, flag words): printed
 * as a string "0x...". `message` is the message's short_name (as in the
 * .proto: the descriptor's full name, package included for CRIU's ("criu.vma_entry")), or NULL to match the field name in any message; `field` NULL
 * matches every integer field of that message. This is data the
 * caller passes, so the printer itself stays free of per-message code. */
struct json_hex_field {
	const char *message;
	const char *field;
};

struct json_style {
	const struct json_hex_field *hex;	/* may be NULL */
	size_t nr_hex;
	int indent;				/* spaces per level; 0 = compact */
};

/* `s` (len bytes, may hold NULs and any byte) as a quoted JSON string. */
void json_put_string(FILE *f, const char *s, size_t len);
/* `p` as a quoted string of lowercase hex digits, two per byte. */
void json_put_hex(FILE *f, const uint8_t *p, size_t len);
/* Newline and indentation for nesting `level` (nothing when compact). */
void json_put_newline(const struct json_style *st, FILE *f, int level);
/* `msg` as a JSON object whose closing brace sits at nesting `level`. */
void json_put_message(const struct json_style *st, FILE *f, const ProtobufCMessage *msg,
		      int level);
/* The same with one more member, key: data as a hex string (the raw bytes
 * an entry carries after it in some images). */
void json_put_message_extra(const struct json_style *st, FILE *f, const ProtobufCMessage *msg,
			    int level, const char *key, const uint8_t *data, size_t len);

#endif
