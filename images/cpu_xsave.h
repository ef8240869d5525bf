/* What this CPU says about its XSAVE state (XCR0, CPUID leaf 0xD), and the
 * architectural placement of each component that debuggers assume. Beneath
 * every verb: the dumper records it, the CRIU reader lays CRIU's split
 * registers out by it, convert moves components to it. */
#ifndef CRIU_LITE_CPU_XSAVE_H
#define CRIU_LITE_CPU_XSAVE_H

#include <stdbool.h>
#include <stdint.h>

#include "images/image.h"

/* XCR0: the user state components the OS enabled. 0 without OSXSAVE. */
uint64_t cpu_xcr0(void);
/* Bytes of a standard-format XSAVE area for every component the CPU
 * supports (CPUID 0xD.0 ECX): enough for any NT_X86_XSTATE regset. */
uint32_t cpu_xsave_max_size(void);
/* XCR0, the size of the XSAVE area it enables and where each of its
 * components sits (standard format), into an inventory. */
int cpu_xsave_layout(InventoryEntry *inv);
/* One more component in inv's xsave_layout (flags NULL: not known). */
int xsave_layout_add(InventoryEntry *inv, uint32_t feature, uint32_t offset, uint32_t size,
		     const uint32_t *flags);
/* Where Intel's standard format puts user component `feature` (SDM vol. 1,
 * 13.4.3), as gdb's x86 target descriptions assume; false if unknown. */
bool xsave_std_place(uint32_t feature, uint32_t *offset, uint32_t *size);

#endif
