/* The inventory's description of this machine: its XSAVE state (see
 * images/cpu_xsave.c), kernel release and architecture. */
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/cpu.h"
#include "images/log.h"

int cpu_fill_inventory(InventoryEntry *inv)
{
	struct utsname u;

	if (cpu_xsave_layout(inv))
		return -ENOMEM;
	if (uname(&u))
		return pr_perror("uname");
	/* Set on a fresh entry: the old values are protobuf-c's static empty
	 * string, not ours to free. */
	inv->kernel_release = strdup(u.release);
	inv->arch = strdup(u.machine);
	if (!inv->kernel_release || !inv->arch)
		return -ENOMEM;
	return 0;
}
