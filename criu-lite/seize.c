#include <errno.h>

#include "criu-lite/dump.h"
#include "criu-lite/commands.h"

/* Placeholder until this module lands. */
int seize_tree(pid_t root, const struct dump_opts *opts, struct dump_tree *tree) { (void)root; (void)opts; (void)tree; return -ENOSYS; }
void seize_release(struct dump_tree *tree, enum release_mode mode) { (void)tree; (void)mode; }
void dump_tree_free(struct dump_tree *tree) { (void)tree; }
