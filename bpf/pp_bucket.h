/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pp_bucket.h - token buckets in packets/s and bytes/s.
 *
 * Contract: pp_bucket_admit() refills a struct pp_bucket for the time since
 * its last use and, when both the packet and the byte bucket hold enough
 * tokens, takes one packet and len bytes and returns 1; otherwise it takes
 * nothing and returns 0. A rate of 0 disables that bucket. Tokens are kept
 * in nano-tokens so a refill is one multiplication, no division.
 */
#ifndef PP_BUCKET_H
#define PP_BUCKET_H

#include <linux/types.h>
#include "pp_abi.h"

/* Below 2^32 ns, elapsed * rate (rate < 2^32) cannot overflow 64 bits;
 * after that long idle a bucket is simply full. */
#define PP_REFILL_MAX_NS (1ull << 32)

static __always_inline __u64 pp_refill(__u64 tokens, __u64 elapsed,
				       __u32 rate, __u32 burst)
{
	__u64 cap = (__u64)(burst ? burst : rate) * PP_TOKEN_SCALE;
	__u64 add;

	if (elapsed >= PP_REFILL_MAX_NS || tokens >= cap)
		return cap;
	add = elapsed * rate;
	if (add >= cap - tokens)
		return cap;
	return tokens + add;
}

/* A bucket seen for the first time starts full. */
static __always_inline void pp_bucket_fill(struct pp_bucket *b, __u64 now,
					   const struct pp_limit *pkt,
					   const struct pp_limit *byte)
{
	b->pkt_tokens = (__u64)(pkt->burst ? pkt->burst : pkt->rate) *
			PP_TOKEN_SCALE;
	b->byte_tokens = (__u64)(byte->burst ? byte->burst : byte->rate) *
			 PP_TOKEN_SCALE;
	b->last_ns = now;
}

static __always_inline int pp_bucket_admit(struct pp_bucket *b, __u64 now,
					   __u32 len,
					   const struct pp_limit *pkt,
					   const struct pp_limit *byte)
{
	__u64 elapsed = now > b->last_ns ? now - b->last_ns : 0;
	__u64 pkt_tokens = b->pkt_tokens;
	__u64 byte_tokens = b->byte_tokens;
	__u64 byte_cost = (__u64)len * PP_TOKEN_SCALE;

	if (pkt->rate)
		pkt_tokens = pp_refill(pkt_tokens, elapsed, pkt->rate,
				       pkt->burst);
	if (byte->rate)
		byte_tokens = pp_refill(byte_tokens, elapsed, byte->rate,
					byte->burst);
	/* Shared buckets see the clocks of several CPUs, which may lag each
	 * other by a tick: never move last_ns back, or the same time would
	 * be credited twice. */
	if (now > b->last_ns)
		b->last_ns = now;

	if ((pkt->rate && pkt_tokens < PP_TOKEN_SCALE) ||
	    (byte->rate && byte_tokens < byte_cost)) {
		b->pkt_tokens = pkt_tokens;
		b->byte_tokens = byte_tokens;
		return 0;
	}
	b->pkt_tokens = pkt->rate ? pkt_tokens - PP_TOKEN_SCALE : 0;
	b->byte_tokens = byte->rate ? byte_tokens - byte_cost : 0;
	return 1;
}

#endif /* PP_BUCKET_H */
