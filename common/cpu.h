/* What the inventory says about this machine (x86_64). */
#ifndef CRIU_LITE_CPU_H
#define CRIU_LITE_CPU_H

#include "images/cpu_xsave.h"
#include "images/image.h"

/* XCR0 and the XSAVE layout, kernel release and architecture. */
int cpu_fill_inventory(InventoryEntry *inv);

#endif
