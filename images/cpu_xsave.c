/* XCR0 and the XSAVE layout (CPUID leaf 0xD) for the inventory, so that a
 * reader of the raw NT_X86_XSTATE bytes knows where each component lives on
 * the CPU that wrote them. */
#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/cpu_xsave.h"
#include "images/log.h"

#define CPUID_XSAVE_LEAF	0xd
#define CPUID1_ECX_OSXSAVE	(1u << 27)

static void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

uint64_t cpu_xcr0(void)
{
	uint32_t r[4], lo, hi;

	cpuid_count(1, 0, r);
	if (!(r[2] & CPUID1_ECX_OSXSAVE))
		return 0;
	/* xgetbv faults unless the OS set CR4.OSXSAVE, checked just above. */
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

uint32_t cpu_xsave_max_size(void)
{
	uint32_t r[4];

	if (!cpu_xcr0())
		return 512 + 64;	/* legacy FXSAVE area + header */
	cpuid_count(CPUID_XSAVE_LEAF, 0, r);
	return r[2] > r[1] ? r[2] : r[1];
}

int xsave_layout_add(InventoryEntry *inv, uint32_t feature, uint32_t offset, uint32_t size,
		     const uint32_t *flags)
{
	XsaveComponent *c = malloc(sizeof(*c)), **arr;

	arr = realloc(inv->xsave_layout, (inv->n_xsave_layout + 1) * sizeof(*arr));
	if (!c || !arr) {
		free(c);
		if (arr)
			inv->xsave_layout = arr;
		return -ENOMEM;
	}
	xsave_component__init(c);
	c->feature = feature;
	c->size = size;
	c->offset = offset;
	c->has_flags = flags != NULL;
	c->flags = flags ? *flags : 0;
	inv->xsave_layout = arr;
	inv->xsave_layout[inv->n_xsave_layout++] = c;
	return 0;
}

static int add_component(InventoryEntry *inv, uint32_t feature)
{
	uint32_t r[4];

	cpuid_count(CPUID_XSAVE_LEAF, feature, r);
	return xsave_layout_add(inv, feature, r[1], r[0], &r[2]);
}

int cpu_xsave_layout(InventoryEntry *inv)
{
	uint32_t r[4];

	inv->xcr0 = cpu_xcr0();
	inv->xsave_size = 512;
	if (inv->xcr0) {
		cpuid_count(CPUID_XSAVE_LEAF, 0, r);
		inv->xsave_size = r[1];	/* EBX: size for what XCR0 enables */
	}
	/* Components 0 (x87) and 1 (SSE) sit in the fixed legacy area. */
	for (uint32_t f = 2; f < 64; f++)
		if ((inv->xcr0 >> f) & 1 && add_component(inv, f))
			return -ENOMEM;
	return 0;
}

static const struct { uint32_t feature, offset, size; } std_layout[] = {
	{ 2, 576, 256 },	/* AVX: upper halves of ymm0-15 */
	{ 3, 960, 64 },		/* MPX BNDREGS */
	{ 4, 1024, 64 },	/* MPX BNDCSR */
	{ 5, 1088, 64 },	/* AVX-512 opmask k0-7 */
	{ 6, 1152, 512 },	/* AVX-512 upper halves of zmm0-15 */
	{ 7, 1664, 1024 },	/* AVX-512 zmm16-31 */
	{ 9, 2688, 8 },		/* PKRU */
	{ 17, 2752, 64 },	/* AMX TILECFG */
	{ 18, 2816, 8192 },	/* AMX TILEDATA */
};

bool xsave_std_place(uint32_t feature, uint32_t *offset, uint32_t *size)
{
	for (size_t i = 0; i < sizeof(std_layout) / sizeof(std_layout[0]); i++) {
		if (std_layout[i].feature == feature) {
			*offset = std_layout[i].offset;
			*size = std_layout[i].size;
			return true;
		}
	}
	return false;
}
