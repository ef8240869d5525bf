#include <stdio.h>

#include "criu-lite/commands.h"

int cmd_restore(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "criu-lite: restore is not implemented yet\n");
	return 1;
}
