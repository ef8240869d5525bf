/* What the CPU says about its XSAVE state (x86_64). */
#ifndef CRIU_LITE_CPU_H
#define CRIU_LITE_CPU_H

#include <stdint.h>

#include "images/image.h"

/* XCR0: the user state components the OS enabled. 0 without OSXSAVE. */
uint64_t cpu_xcr0(void);
/* Bytes of a standard-format XSAVE area for every component the CPU
 * supports (CPUID 0xD.0 ECX): enough for any NT_X86_XSTATE regset. */
uint32_t cpu_xsave_max_size(void);
/* XCR0 and the XSAVE layout (CPUID leaf 0xD) into an inventory. */
int cpu_fill_inventory(InventoryEntry *inv);

#endif
