/* nft_msg.c: nf_tables messages built by hand and sent as one nfnetlink
 * batch, for the network lock (socket_lock.c). libnftables would parse
 * text, then fetch the whole ruleset into hash tables of its own before
 * sending the same messages: milliseconds a run, while the tree is frozen.
 *
 * A batch: nft_batch_init, then per message nft_msg_begin, its attributes
 * (nests closed in order) and nft_msg_end; nft_batch_run sends it all
 * between NFNL_MSG_BATCH_BEGIN and _END and reads the ack of every message:
 * the kernel applies all of it or none. A failure while building is kept
 * in the batch and returned by nft_batch_run. */
#ifndef CRIU_LITE_COMMON_FD_NFT_MSG_H
#define CRIU_LITE_COMMON_FD_NFT_MSG_H

#include <stddef.h>
#include <stdint.h>

struct nft_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0;		/* seq of BATCH_BEGIN; message i has seq0 + 1 + i */
	const char **what;	/* per message: what it makes, for the error line */
	size_t nr, nr_cap;
	size_t msg;		/* offset of the message being built */
	int err;		/* -ENOMEM, or -EMSGSIZE: a nest over 64 KiB */
};

void nft_batch_init(struct nft_batch *b);
void nft_batch_free(struct nft_batch *b);

/* A message of type NFT_MSG_* for the inet family, NLM_F_ACK added. */
void nft_msg_begin(struct nft_batch *b, uint16_t type, uint16_t flags, const char *what);
void nft_msg_end(struct nft_batch *b);

void nft_put(struct nft_batch *b, uint16_t type, const void *data, size_t len);
void nft_put_str(struct nft_batch *b, uint16_t type, const char *s);
void nft_put_be32(struct nft_batch *b, uint16_t type, uint32_t v);
/* Returns the nest's offset, for nft_nest_end. */
size_t nft_nest_begin(struct nft_batch *b, uint16_t type);
void nft_nest_end(struct nft_batch *b, size_t at);

/* A NETLINK_NETFILTER socket (in the caller's netns), or -errno. */
int nft_socket(void);

/* Sends the batch on s and reads every ack: 0, or the first error as
 * -errno with `why` (len bytes) naming the message that failed and the
 * kernel's words when it gave some. */
int nft_batch_run(struct nft_batch *b, int s, char *why, size_t len);

#endif
