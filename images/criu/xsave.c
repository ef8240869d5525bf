/* A thread's FPU and vector state. CRIU keeps it split into fields: the
 * FXSAVE area member by member, then each XSAVE component (AVX, MPX,
 * AVX-512, PKRU, AMX's TILECFG) as a repeated field of its own. Debuggers
 * and PTRACE_SETREGSET want it whole, as the kernel's NT_X86_XSTATE: a
 * standard-format XSAVE area, each component at its offset, the header's
 * XSTATE_BV saying which are live, and XCR0 in the legacy area's software
 * bytes (offset 464) where gdb reads which registers exist.
 *
 * Where the components go: CRIU does not record the CPU's layout. When the
 * dump uses no component this CPU lacks, the area is laid out as this CPU
 * lays it out (CPUID leaf 0xD): PTRACE_SETREGSET takes it as it is, and
 * convert moves components to the offsets gdb assumes where they differ
 * (AMD's AVX-512 sits lower). Otherwise every component goes to Intel's
 * architectural offset and XCR0 is what the dump uses: convert still reads
 * it all, restore refuses it (this CPU could not hold those registers). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/cpu_xsave.h"
#include "images/criu/criu.h"
#include "images/log.h"

#define FXSAVE_SIZE	512
#define XSAVE_HDR_END	576
#define SW_XCR0_OFF	464	/* the kernel's sw_reserved word 0: user XCR0 */
/* Components CRIU stores; TILEDATA (18) is not among them. */
#define CX_STORED	((1ull << 2) | (1ull << 3) | (1ull << 4) | (1ull << 5) | (1ull << 6) | \
			 (1ull << 7) | (1ull << 9) | (1ull << 17))

/* The bytes CRIU holds of component f, or NULL. */
static const void *comp_data(const Criu__UserX86XsaveEntry *x, uint32_t f, size_t *len)
{
	switch (f) {
	case 2: *len = x->n_ymmh_space * 4; return x->ymmh_space;
	case 3: *len = x->n_bndreg_state * 8; return x->bndreg_state;
	case 4: *len = x->n_bndcsr_state * 8; return x->bndcsr_state;
	case 5: *len = x->n_opmask_reg * 8; return x->opmask_reg;
	case 6: *len = x->n_zmm_upper * 8; return x->zmm_upper;
	case 7: *len = x->n_hi16_zmm * 8; return x->hi16_zmm;
	case 9: *len = x->n_pkru * 4; return x->pkru;
	case 17: *len = x->n_xtilecfg * 8; return x->xtilecfg;
	default: *len = 0; return NULL;
	}
}

uint64_t cx_features(const Criu__UserX86FpregsEntry *fp)
{
	const Criu__UserX86XsaveEntry *x = fp ? fp->xsave : NULL;
	uint64_t f = 0;
	size_t len;

	if (!x)
		return 0;
	for (uint32_t i = 2; i < 64; i++)
		if (comp_data(x, i, &len) && len)
			f |= 1ull << i;
	return f | (x->xstate_bv & CX_STORED);
}

static int add_std(InventoryEntry *inv, uint32_t f)
{
	uint32_t off, size;

	xsave_std_place(f, &off, &size);
	if (off + size > inv->xsave_size)
		inv->xsave_size = off + size;
	return xsave_layout_add(inv, f, off, size, NULL);
}

int cx_plan(uint64_t features, InventoryEntry *inv, struct cx_layout *l)
{
	uint64_t host = cpu_xcr0();
	int r = 0;

	memset(l, 0, sizeof(*l));
	if (host && !(features & ~host)) {
		r = cpu_xsave_layout(inv);
	} else {
		inv->xcr0 = features | 3;
		inv->xsave_size = features ? XSAVE_HDR_END : FXSAVE_SIZE;
		for (uint32_t f = 2; f < 64 && !r; f++)
			if (features >> f & 1)
				r = add_std(inv, f);
	}
	if (r < 0)
		return r;
	l->xcr0 = inv->xcr0;
	l->size = inv->xsave_size;
	for (size_t i = 0; i < inv->n_xsave_layout; i++) {
		const XsaveComponent *c = inv->xsave_layout[i];

		if (c->feature < 64 && c->offset >= XSAVE_HDR_END && c->offset + c->size <= l->size) {
			l->off[c->feature] = c->offset;
			l->size_of[c->feature] = c->size;
		}
	}
	return 0;
}

/* The FXSAVE area (struct user_fpregs_struct) from CRIU's fields. */
static int put_fxsave(const Criu__UserX86FpregsEntry *fp, uint8_t *a)
{
	uint16_t w[4] = { fp->cwd, fp->swd, fp->twd, fp->fop };

	if (fp->n_st_space > 32 || fp->n_xmm_space > 64)
		return -EINVAL;
	memcpy(a, w, sizeof(w));
	memcpy(a + 8, &fp->rip, 8);
	memcpy(a + 16, &fp->rdp, 8);
	memcpy(a + 24, &fp->mxcsr, 4);
	memcpy(a + 28, &fp->mxcsr_mask, 4);
	memcpy(a + 32, fp->st_space, fp->n_st_space * 4);
	memcpy(a + 160, fp->xmm_space, fp->n_xmm_space * 4);
	return 0;
}

static int put_components(const struct cx_layout *l, const Criu__UserX86XsaveEntry *x,
			  uint8_t *a)
{
	uint64_t bv = 0;

	for (uint32_t f = 2; f < 64; f++) {
		size_t len;
		const void *d = comp_data(x, f, &len);

		if (!d || !len)
			continue;
		if (!l->size_of[f] || len > l->size_of[f])
			return -EINVAL;
		memcpy(a + l->off[f], d, len);
	}
	/* Live components the area has no room or no bytes for read as
	 * their initial state: say so rather than claim garbage. */
	for (uint32_t f = 0; f < 64; f++)
		if (x->xstate_bv >> f & 1 && (f < 2 || l->size_of[f]))
			bv |= 1ull << f;
	memcpy(a + FXSAVE_SIZE, &bv, sizeof(bv));
	return 0;
}

static int set_bytes(ProtobufCBinaryData *b, protobuf_c_boolean *has, const uint8_t *p, size_t n)
{
	b->data = malloc(n);
	if (!b->data)
		return -ENOMEM;
	memcpy(b->data, p, n);
	b->len = n;
	*has = 1;
	return 0;
}

int cx_regsets(const struct cx_layout *l, const Criu__UserX86FpregsEntry *fp, ThreadEntry *t)
{
	size_t size = fp->xsave && l->size > XSAVE_HDR_END ? l->size : FXSAVE_SIZE;
	uint8_t *a = calloc(1, size < XSAVE_HDR_END ? XSAVE_HDR_END : size);
	int r;

	if (!a)
		return -ENOMEM;
	r = put_fxsave(fp, a);
	if (!r && fp->xsave)
		r = put_components(l, fp->xsave, a);
	if (r < 0) {
		free(a);
		return r;
	}
	memcpy(a + SW_XCR0_OFF, &l->xcr0, sizeof(l->xcr0));
	r = set_bytes(&t->fpregs, &t->has_fpregs, a, FXSAVE_SIZE);
	if (!r && fp->xsave)
		r = set_bytes(&t->xstate, &t->has_xstate, a, size);
	free(a);
	return r;
}
