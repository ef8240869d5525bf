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
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/lazy_lib.h"
#include "images/log.h"

#define LOCK_MARK "0xc1e0"	/* SK_LOCK_MARK: packets criu-lite injects pass */

/* libnftables, loaded by the first lock made (images/lazy_lib.h). */
static struct {
	LAZY_FN(nft_ctx_new);
	LAZY_FN(nft_ctx_buffer_error);
	LAZY_FN(nft_ctx_buffer_output);
	LAZY_FN(nft_ctx_get_error_buffer);
	LAZY_FN(nft_run_cmd_from_buffer);
	LAZY_FN(nft_ctx_free);
} nft;

static const struct lazy_sym nft_syms[] = {
	LAZY_SYM(nft, nft_ctx_new),
	LAZY_SYM(nft, nft_ctx_buffer_error),
	LAZY_SYM(nft, nft_ctx_buffer_output),
	LAZY_SYM(nft, nft_ctx_get_error_buffer),
	LAZY_SYM(nft, nft_run_cmd_from_buffer),
	LAZY_SYM(nft, nft_ctx_free),
};

static struct lazy_lib libnftables = {
	"libnftables.so.1", "for the network lock", nft_syms,
	sizeof(nft_syms) / sizeof(nft_syms[0]), 0,
};

static struct nft_ctx *ctx;	/* the dump's: its socket owns the dump's table */
static char own_name[64], keep_name[64];

static int run(struct nft_ctx *n, const char *cmd, const char *what)
{
	const char *err;

	if (!nft.nft_run_cmd_from_buffer(n, cmd))
		return 0;
	err = nft.nft_ctx_get_error_buffer(n);
	pr_err("network lock: cannot %s: %s", what, err && err[0] ? err : "nftables failed");
	return -EIO;
}

static struct nft_ctx *new_ctx(void)
{
	struct nft_ctx *n;

	if (lazy_lib_load(&libnftables))
		return NULL;
	n = nft.nft_ctx_new(NFT_CTX_DEFAULT);

	if (n) {
		nft.nft_ctx_buffer_error(n);
		nft.nft_ctx_buffer_output(n);
	}
	return n;
}

/* The table, its two sets, and the rules that drop what the sets match:
 * the commands, into cmd (2048 bytes at least). */
static int table_cmds(char *cmd, size_t cap, const char *name, bool owner)
{
	return snprintf(cmd, cap,
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
}

static bool seen_before(const struct sk_conn *c, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (c[k].family == c[i].family && c[k].lport == c[i].lport &&
		    !memcmp(c[k].lip, c[i].lip, sizeof(c[i].lip)))
			return true;
	return false;
}

/* "add element" for the local ends of conns, each once, after the table's
 * own commands when it is new: one nftables run (each costs a parse and a
 * look at the ruleset: milliseconds). */
static int add_elements(struct nft_ctx *n, const char *name, bool table, bool owner,
			const struct sk_conn *conns, size_t nr)
{
	size_t cap = 2304 + nr * (INET6_ADDRSTRLEN + 12), len = 0;
	char *cmd = malloc(cap);
	int r;

	if (!cmd)
		return -ENOMEM;
	if (table)
		len = (size_t)table_cmds(cmd, cap, name, owner);
	for (int v6 = 0; v6 < 2; v6++) {
		size_t start = len;
		bool any = false;

		len += (size_t)snprintf(cmd + len, cap - len, "add element inet %s l%d { ", name,
					v6 ? 6 : 4);
		for (size_t i = 0; i < nr; i++) {
			char a[INET6_ADDRSTRLEN];
			int fam = conns[i].family;

			if ((fam == AF_INET6) != v6 || seen_before(conns, i))
				continue;
			inet_ntop(fam, conns[i].lip, a, sizeof(a));
			len += (size_t)snprintf(cmd + len, cap - len, "%s . %u, ", a, conns[i].lport);
			any = true;
		}
		if (any)
			len += (size_t)snprintf(cmd + len, cap - len, "}\n");
		else
			cmd[len = start] = '\0';
	}
	r = len ? run(n, cmd, table ? "create the lock table" : "lock the connections") : 0;
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
		/* a failed run leaves no table: made again at the next call */
		if ((r = add_elements(ctx, own_name, true, true, conns, n))) {
			nft.nft_ctx_free(ctx);
			ctx = NULL;
		}
		return r;
	}
	return add_elements(ctx, own_name, false, false, conns, n);
}

int sk_lock_persist(const struct sk_conn *keep, size_t n)
{
	int r;

	if (!ctx || !n)
		return 0;
	r = add_elements(ctx, sk_lock_name(), true, false, keep, n);
	if (!r)
		pr_info("network lock %s holds %zu connections until restore", keep_name, n);
	return r;
}

void sk_lock_release(void)
{
	if (ctx)
		nft.nft_ctx_free(ctx);	/* the owned table goes with its socket */
	ctx = NULL;
	own_name[0] = '\0';
}

/* One nfnetlink message: header, nfgenmsg, and a string attribute. */
static size_t nfmsg(char *buf, uint16_t type, uint16_t flags, uint8_t family, uint16_t res,
		    uint32_t seq, uint16_t attr, const char *str)
{
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct nfgenmsg *g = NLMSG_DATA(h);
	size_t len = NLMSG_LENGTH(sizeof(*g));

	*h = (struct nlmsghdr){ .nlmsg_type = type, .nlmsg_flags = NLM_F_REQUEST | flags,
				.nlmsg_seq = seq };
	*g = (struct nfgenmsg){ .nfgen_family = family, .version = NFNETLINK_V0,
				.res_id = htons(res) };
	if (str) {
		struct nlattr *a = (struct nlattr *)(buf + NLMSG_ALIGN(len));
		size_t n = strlen(str) + 1;

		a->nla_type = attr;
		a->nla_len = (uint16_t)(NLA_HDRLEN + n);
		memcpy((char *)a + NLA_HDRLEN, str, n);
		len = NLMSG_ALIGN(len) + NLA_ALIGN(a->nla_len);
	}
	h->nlmsg_len = (uint32_t)len;
	return NLMSG_ALIGN(len);
}

/* "delete table inet NAME" as one nfnetlink batch, without libnftables:
 * a context costs it milliseconds of setup and a ruleset fetch, which a
 * restore pays while its tree waits. 0, -ENOENT (no such table) or -errno. */
static int delete_table(const char *name)
{
	char buf[512] __attribute__((aligned(4))), ack[512] __attribute__((aligned(4)));
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	size_t len = 0;
	ssize_t n;
	int s, r = -EIO;

	if (strlen(name) > 200)
		return -EINVAL;
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (s < 0)
		return -errno;
	len += nfmsg(buf + len, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, 1, 0,
		     NULL);
	len += nfmsg(buf + len, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELTABLE, NLM_F_ACK,
		     NFPROTO_INET, 0, 2, NFTA_TABLE_NAME, name);
	len += nfmsg(buf + len, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, 3, 0,
		     NULL);
	if (sendto(s, buf, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) != (ssize_t)len) {
		r = -errno;
		goto out;
	}
	/* the one answer asked for: the ack (an error message) of message 2 */
	while ((n = recv(s, ack, sizeof(ack), 0)) > 0) {
		struct nlmsghdr *h = (struct nlmsghdr *)ack;

		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != 2)
				continue;
			r = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			goto out;
		}
	}
	r = n < 0 ? -errno : -EIO;
out:
	close(s);
	return r;
}

int sk_lock_remove(const char *name)
{
	int r = delete_table(name);

	/* gone already (removed by an earlier restore, or never made) */
	if (r == -ENOENT)
		return 0;
	if (r)
		pr_err("cannot remove the network lock %s: %s", name, strerror(-r));
	return r ? -EIO : 0;
}
