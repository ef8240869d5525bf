/* NT_X86_XSTATE and NT_X86_XSAVE_LAYOUT.
 *
 * The dump keeps the XSAVE area as PTRACE_GETREGSET returned it: the CPU's
 * standard format, each component at the offset CPUID leaf 0xD gives. On
 * Intel those offsets are the ones every debugger hard-codes. AMD CPUs with
 * AVX-512 but without MPX put the AVX-512 components lower (opmask at 832,
 * not 1088), so the kernel's own core is 2432 bytes where gdb up to 13
 * expects 2688: it prints "Section `.reg-xstate' in core file too small"
 * and loses every register above xmm. Newer gdb reads the kernel's
 * NT_X86_XSAVE_LAYOUT note instead and copes with any layout.
 *
 * So: when every component already sits where gdb assumes, the bytes are
 * copied as dumped. Otherwise each component is moved whole, byte for
 * byte, to its architectural (Intel) offset and the layout note describes
 * exactly that placement; old and new gdb then read the same values and
 * nothing the CPU had is dropped or reinterpreted. --raw-xstate keeps the
 * dumped placement whatever gdb makes of it. */
#include <stdlib.h>
#include <string.h>

#include "convert/convert.h"
#include "images/cpu_xsave.h"
#include "images/log.h"

#define XSAVE_LEGACY_HDR 576	/* FXSAVE area + XSAVE header: never moves */

static void add_component(struct conv_xlayout *xl, const XsaveComponent *c)
{
	uint32_t i = xl->nr;

	for (uint32_t j = 0; j < xl->nr; j++)
		if (xl->comp[j].feature == c->feature)
			return;
	/* Keep them sorted by feature number, as the kernel emits them. */
	while (i && xl->comp[i - 1].feature > c->feature) {
		xl->comp[i] = xl->comp[i - 1];
		i--;
	}
	xl->comp[i] = (struct conv_xcomp){ .feature = c->feature, .size = c->size,
					   .offset = c->offset, .src_offset = c->offset,
					   .flags = c->has_flags ? c->flags : 0 };
	xl->nr++;
}

/* Whether the components can go to Intel's offsets, and whether they must. */
static bool needs_relayout(const struct conv_xlayout *xl)
{
	bool differs = false;

	for (uint32_t i = 0; i < xl->nr; i++) {
		uint32_t off, size;

		if (!xsave_std_place(xl->comp[i].feature, &off, &size) || size != xl->comp[i].size) {
			pr_debug("XSAVE component %u unknown to gdb: kept as dumped",
				 xl->comp[i].feature);
			return false;
		}
		differs |= off != xl->comp[i].offset;
	}
	return differs;
}

void conv_xstate_plan(const InventoryEntry *inv, bool raw, struct conv_xlayout *xl)
{
	memset(xl, 0, sizeof(*xl));
	xl->inv = inv;
	for (size_t i = 0; i < inv->n_xsave_layout; i++) {
		const XsaveComponent *c = inv->xsave_layout[i];

		/* x87 and SSE live in the legacy area; the note lists the rest. */
		if (c->feature < 2 || c->feature >= 64 || !(inv->xcr0 & (1ull << c->feature)) ||
		    !c->size || xl->nr == sizeof(xl->comp) / sizeof(xl->comp[0]))
			continue;
		add_component(xl, c);
	}
	if (raw || !needs_relayout(xl))
		return;
	xl->relayout = true;
	xl->size = XSAVE_LEGACY_HDR;
	for (uint32_t i = 0; i < xl->nr; i++) {
		struct conv_xcomp *c = &xl->comp[i];
		uint32_t size;

		xsave_std_place(c->feature, &c->offset, &size);
		if (c->offset + c->size > xl->size)
			xl->size = c->offset + c->size;
	}
	pr_debug("XSAVE area re-laid at Intel offsets: %u bytes", xl->size);
}

int conv_xstate_bytes(const struct conv_xlayout *xl, const uint8_t *in, size_t len,
		      uint8_t **out, size_t *out_len)
{
	size_t size = xl->relayout ? xl->size : len;
	uint8_t *p = calloc(1, size ? size : 1);

	if (!p)
		return -ENOMEM;
	if (!xl->relayout) {
		memcpy(p, in, len);
	} else {
		memcpy(p, in, len < XSAVE_LEGACY_HDR ? len : XSAVE_LEGACY_HDR);
		for (uint32_t i = 0; i < xl->nr; i++) {
			const struct conv_xcomp *c = &xl->comp[i];
			size_t n = c->size;

			if (c->src_offset >= len)
				continue;	/* not in this area: init state, zeros */
			if (n > len - c->src_offset)
				n = len - c->src_offset;
			memcpy(p + c->offset, in + c->src_offset, n);
		}
	}
	*out = p;
	*out_len = size;
	return 0;
}
