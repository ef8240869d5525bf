#include <stdio.h>

#include "criu-lite/commands.h"

int cmd_convert(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "criu-lite: convert is not implemented yet\n");
	return 1;
}
