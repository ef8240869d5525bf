/* The network lock: while a TCP connection is read in repair mode, and
 * while its program is down between `dump --kill` and restore, no packet of
 * it may pass, or the kernel answers the peer with a reset (no socket) or
 * the two ends' queues stop matching what was read.
 *
 * It is an nftables table (through libnftables, in the netns of the
 * sockets) that drops every packet of the locked connections, both ways,
 * at input and output, except those criu-lite itself injects (marked):
 *  - the dump's own table is made with the "owner" flag: the kernel removes
 *    it when criu-lite's netlink socket closes, so a dumper that dies,
 *    even by SIGKILL, leaves no lock on a tree that runs on;
 *  - for `dump --kill --tcp-established`, the connections to peers outside
 *    the tree go into a second table, without owner, just before the kill:
 *    it outlives the dump and is named in the images; restore removes it
 *    once the connections are back, and on failure (it then says so). A
 *    restore that is itself killed leaves it: restoring again removes it.
 * Rules match a set of local ends (address, port): every packet to or from
 * them. A server's thousand connections share one end (its port), so the
 * set stays small and cheap to load (each element costs libnftables some
 * hundred microseconds); new connections to a locked port wait (their SYNs
 * are dropped, then sent again) instead of being refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <nftables/libnftables.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

#define LOCK_MARK "0xc1e0"	/* SK_LOCK_MARK: packets criu-lite injects pass */

static struct nft_ctx *ctx;	/* the dump's: its socket owns the dump's table */
static char own_name[64], keep_name[64];

static int run(struct nft_ctx *n, const char *cmd, const char *what)
{
	const char *err;

	if (!nft_run_cmd_from_buffer(n, cmd))
		return 0;
	err = nft_ctx_get_error_buffer(n);
	pr_err("network lock: cannot %s: %s", what, err && err[0] ? err : "nftables failed");
	return -EIO;
}

static struct nft_ctx *new_ctx(void)
{
	struct nft_ctx *n = nft_ctx_new(NFT_CTX_DEFAULT);

	if (n) {
		nft_ctx_buffer_error(n);
		nft_ctx_buffer_output(n);
	}
	return n;
}

/* The table, its two sets, and the rules that drop what the sets match. */
static int make_table(struct nft_ctx *n, const char *name, bool owner)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "add table inet %1$s { %2$s }\n"
		 "add set inet %1$s l4 { type ipv4_addr . inet_service; }\n"
		 "add set inet %1$s l6 { type ipv6_addr . inet_service; }\n"
		 "add chain inet %1$s in { type filter hook input priority -300; }\n"
		 "add chain inet %1$s out { type filter hook output priority -300; }\n"
		 "add rule inet %1$s in meta mark " LOCK_MARK " accept\n"
		 "add rule inet %1$s in ip daddr . tcp dport @l4 drop\n"
		 "add rule inet %1$s in ip6 daddr . tcp dport @l6 drop\n"
		 "add rule inet %1$s out meta mark " LOCK_MARK " accept\n"
		 "add rule inet %1$s out ip saddr . tcp sport @l4 drop\n"
		 "add rule inet %1$s out ip6 saddr . tcp sport @l6 drop\n",
		 name, owner ? "flags owner;" : "");
	return run(n, cmd, "create the lock table");
}

static bool seen_before(const struct sk_conn *c, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (c[k].family == c[i].family && c[k].lport == c[i].lport &&
		    !memcmp(c[k].lip, c[i].lip, sizeof(c[i].lip)))
			return true;
	return false;
}

/* "add element" for the local ends of conns, each once, in one command. */
static int add_elements(struct nft_ctx *n, const char *name, const struct sk_conn *conns,
			size_t nr)
{
	size_t cap = 256 + nr * (INET6_ADDRSTRLEN + 12), len;
	char *cmd = malloc(cap);
	int r = 0;

	if (!cmd)
		return -ENOMEM;
	for (int v6 = 0; v6 < 2 && !r; v6++) {
		bool any = false;

		len = (size_t)snprintf(cmd, cap, "add element inet %s l%d { ", name, v6 ? 6 : 4);
		for (size_t i = 0; i < nr; i++) {
			char a[INET6_ADDRSTRLEN];
			int fam = conns[i].family;

			if ((fam == AF_INET6) != v6 || seen_before(conns, i))
				continue;
			inet_ntop(fam, conns[i].lip, a, sizeof(a));
			len += (size_t)snprintf(cmd + len, cap - len, "%s . %u, ", a, conns[i].lport);
			any = true;
		}
		snprintf(cmd + len, cap - len, "}");
		if (any)
			r = run(n, cmd, "lock the connections");
	}
	free(cmd);
	return r;
}

const char *sk_lock_name(void)
{
	if (!keep_name[0])
		snprintf(keep_name, sizeof(keep_name), "criu_lite_%d_%ld", (int)getpid(),
			 (long)time(NULL));
	return keep_name;
}

int sk_lock_add(pid_t pid, const struct sk_conn *conns, size_t n)
{
	int home, r;

	if (!n)
		return 0;
	if (!ctx) {
		/* the context's netlink socket is made in, and keeps, the sockets' netns */
		r = sk_netns_enter(pid, &home);
		if (r)
			return r;
		ctx = new_ctx();
		if (sk_netns_leave(home) || !ctx)
			return -EIO;
		snprintf(own_name, sizeof(own_name), "criu_lite_dump_%d", (int)getpid());
		r = make_table(ctx, own_name, true);
		if (r)
			return r;
	}
	return add_elements(ctx, own_name, conns, n);
}

int sk_lock_persist(const struct sk_conn *keep, size_t n)
{
	int r;

	if (!ctx || !n)
		return 0;
	r = make_table(ctx, sk_lock_name(), false);
	if (!r)
		r = add_elements(ctx, keep_name, keep, n);
	if (!r)
		pr_info("network lock %s holds %zu connections until restore", keep_name, n);
	return r;
}

void sk_lock_release(void)
{
	if (ctx)
		nft_ctx_free(ctx);	/* the owned table goes with its socket */
	ctx = NULL;
	own_name[0] = '\0';
}

int sk_lock_remove(const char *name)
{
	struct nft_ctx *n = new_ctx();
	char cmd[160];
	int r = 0;

	if (!n)
		return -ENOMEM;
	snprintf(cmd, sizeof(cmd), "delete table inet %s", name);
	if (nft_run_cmd_from_buffer(n, cmd)) {
		const char *err = nft_ctx_get_error_buffer(n);

		/* gone already (removed by an earlier restore, or never made) */
		r = err && strstr(err, "No such file") ? 0 : -EIO;
		if (r)
			pr_err("cannot remove the network lock %s: %s", name, err ? err : "");
	}
	nft_ctx_free(n);
	return r;
}
