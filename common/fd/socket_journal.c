/* The dump's journal of what it does to the tree's connections (socket.h:
 * struct sk_journal), told to whoever set one: the guardian. */
#include "common/fd/socket.h"

static const struct sk_journal *journal;

void sk_journal_set(const struct sk_journal *j)
{
	journal = j;
}

int sk_repair_in(pid_t pid, int fd, struct sk_repair_vals v)
{
	return journal ? journal->in(pid, fd, v.reuse, v.peek_off) : -1;
}

void sk_repair_out(int note)
{
	if (journal && note >= 0)
		journal->out(note);
}

int sk_lock_kept_note(pid_t pid, const char *table)
{
	return journal ? journal->kept(pid, table) : -1;
}

void sk_lock_kept_done(int note)
{
	if (journal && note >= 0)
		journal->kept_done(note);
}
