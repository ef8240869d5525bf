/* The dump and pre-dump verbs: what the user asked for, and the two
 * orchestrators (dump.c, predump.c) that read like scripts over the
 * stages (freeze, capture, memory, files, snapshot, incremental).
 *
 * Message ownership rule, for every stage: a protobuf message handed out or
 * filled is built entirely on the heap (the message, its strings, bytes,
 * repeated arrays and sub-messages, each with malloc), so that img_free()
 * (protobuf_c_message_free_unpacked) releases it whole. */
#ifndef CRIU_LITE_DUMP_H
#define CRIU_LITE_DUMP_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/fd/fd.h"
#include "common/ploss.h"
#include "criu-lite/freeze/seize.h"

struct dump_opts {
	pid_t pid;
	const char *dir;
	struct seize_opts seize;	/* --freezer, --freeze-cgroup */
	bool kill;			/* --kill */
	bool leave_stopped;		/* -s */
	bool snapshot_fork;		/* --snapshot fork */
	bool snapshot_wp;		/* --snapshot wp */
	bool track_mem;			/* --track-mem */
	const char *prev_dir;		/* --prev-images-dir */
	bool predump;			/* pre-dump: memory only */
	uint64_t file_copy_limit;	/* --file-copy-limit: bytes of files copied, frozen */
	struct fd_rst_opts fd;		/* what restore will be told of state outside the
					 * tree: checked before --kill/--leave-stopped */
	struct ploss_opts ploss;	/* --accept-loss: likewise for process state */
};

/* dump.c: 0, or -errno (logged) with no inventory and the tree as it was. */
int dump_run(const struct dump_opts *opts);
/* predump.c: 0, or -errno (logged) with no inventory written and no
 * tracker left. */
int predump_run(const struct dump_opts *opts);

#endif
