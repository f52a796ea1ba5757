/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pp_syncookie.h - SYN cookies answered from XDP, completed by the kernel's
 * nftables SYNPROXY.
 *
 * Contract: pp_syncookie(ctx, pkt_len, is_v6, tcp_flags) judges one TCP
 * segment (a frame of pkt_len bytes) to a
 * service with PP_SVC_SYN_COOKIES and returns
 *   PP_SYN_NEXT       not ours to judge, go on: SYN cookies are off
 *                     (pp_syn_cfg without PP_SYN_XDP), conntrack knows the
 *                     flow, or a SYN the kernel's SYNPROXY answers instead
 *                     (IP options, IPv6 extension headers, a payload);
 *   PP_SYN_ANSWERED   the frame is now the SYN-ACK carrying the cookie, to
 *                     be sent back with XDP_TX;
 *   PP_SYN_COOKIE_OK  an ACK of no known flow with a valid cookie: pass it,
 *                     SYNPROXY completes the handshake with the listener;
 *   PP_SYN_BAD        a segment of no known flow without a valid cookie.
 * pp_syn_refuse(ctx, pkt_len, is_v6) turns a valid cookie ACK whose
 * connection the caller refuses into the listener's RST, for XDP_TX.
 * Of pp_syncookie's answers only PP_SYN_ANSWERED changes the frame (and its
 * length), as pp_syn_refuse does: every packet pointer the caller holds is
 * stale after them. Header fields are network
 * order.
 *
 * The SYN-ACK is the one nf_synproxy would send itself: window 0 (SYNPROXY
 * opens it once the listener answered), our MSS, and, when the client
 * offered timestamps, a TSval whose low 6 bits carry the client's window
 * scale (0xf = none) and SACK-permitted (bit 4), which SYNPROXY recovers
 * from the TSecr of the returning ACK; we then offer pp_syn_cfg.wscale,
 * the value SYNPROXY is configured with. Without client timestamps there is
 * nowhere to carry those options, so the SYN-ACK offers the MSS only. ECN is
 * never offered. The options area is always 20 bytes, padded after an EOL.
 *
 * The SYN's checksums are not verified: frames from local senders (veth,
 * checksum offload) carry partial checksums, and answering a corrupt SYN
 * costs one SYN-ACK and no state.
 */
#ifndef PP_SYNCOOKIE_H
#define PP_SYNCOOKIE_H

#include <bpf/bpf_core_read.h>
#include "pp_parse.h"
#include "pp_abi.h"
#include "pp_maps.h"

enum {
	PP_SYN_NEXT = 0,
	PP_SYN_ANSWERED = 1,
	PP_SYN_COOKIE_OK = 2,
	PP_SYN_BAD = 3,
};

#define PP_SYN_TCP_LEN 40	/* SYN-ACK header: 20 + the options area */
#define PP_SYN_MAX_L3_OFF 22	/* Ethernet and two VLAN tags */
#define PP_TCP_MAX_LEN 60
#define PP_TS_WSCALE_NONE 0xf
#define PP_TS_SACK (1u << 4)
#define PP_TS_LOW_BITS 0x3f
#define PP_TCP_MAX_WSCALE 14
#define PP_IP_DF 0x4000

#define PP_TCPOPT_EOL 0
#define PP_TCPOPT_NOP 1
#define PP_TCPOPT_MSS 2
#define PP_TCPOPT_WINDOW 3
#define PP_TCPOPT_SACK_PERM 4
#define PP_TCPOPT_TIMESTAMP 8

/* nf_conntrack's lookup options (struct bpf_ct_opts, the 12-byte form). */
struct bpf_ct_opts___pp {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

/* Opaque here; libbpf matches kfunc prototypes by kind, and a forward
 * declaration is not a struct. */
struct nf_conn___pp {
	unsigned long status;
};

extern struct nf_conn___pp *
bpf_xdp_ct_lookup(struct xdp_md *ctx, struct bpf_sock_tuple *tuple,
		  __u32 tuple_len, struct bpf_ct_opts___pp *opts,
		  __u32 opts_len) __ksym __weak;
extern void bpf_ct_release(struct nf_conn___pp *ct) __ksym __weak;

/* What the client's SYN offered, parsed from a copy of its TCP header. */
struct pp_syn_opts {
	__u8 hdr[64];		/* the TCP header, 20..60 bytes of it used */
	__be32 tsval;		/* the client's, echoed as our TSecr */
	__u32 len;
	__u32 next;		/* offset of the next option in hdr */
	__u8 wscale;		/* PP_TS_WSCALE_NONE when not offered */
	__u8 sack;
	__u8 ts;
};

/* One option of the walk; a malformed list ends it with what was found.
 * Under bpf_loop: unrolled, every option kind would multiply the paths the
 * verifier explores. */
static long pp_syn_opt_step(__u32 n, void *data)
{
	struct pp_syn_opts *o = data;
	__u32 i = o->next, kind, len;
	__u8 ws;

	if (i >= o->len || i >= PP_TCP_MAX_LEN - 1)
		return 1;
	kind = o->hdr[i & 63];
	if (kind == PP_TCPOPT_EOL)
		return 1;
	if (kind == PP_TCPOPT_NOP) {
		o->next = i + 1;
		return 0;
	}
	len = o->hdr[(i + 1) & 63];
	if (len < 2 || i + len > o->len)
		return 1;
	if (kind == PP_TCPOPT_WINDOW && len == 3) {
		ws = o->hdr[(i + 2) & 63];
		o->wscale = ws < PP_TCP_MAX_WSCALE ? ws : PP_TCP_MAX_WSCALE;
	} else if (kind == PP_TCPOPT_SACK_PERM && len == 2) {
		o->sack = 1;
	} else if (kind == PP_TCPOPT_TIMESTAMP && len == 10) {
		o->ts = 1;
		__builtin_memcpy(&o->tsval, &o->hdr[(i + 2) & 63], 4);
	}
	o->next = i + len;
	return 0;
}

static __always_inline void pp_syn_parse_opts(struct pp_syn_opts *o)
{
	o->next = sizeof(struct tcphdr);
	bpf_loop(PP_TCP_MAX_LEN - sizeof(struct tcphdr), pp_syn_opt_step, o, 0);
}

static __always_inline __u16 pp_csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* The SYN-ACK's TCP header after the addresses: ports swapped, our cookie
 * as sequence number, the client's ISN + 1 acknowledged. */
static __always_inline void pp_syn_write_tcp(struct tcphdr *th, __u32 cookie,
					     const struct pp_syn_opts *o,
					     const struct pp_syn_cfg *cfg,
					     __u16 mss)
{
	__be32 opt[5] = {};
	__be16 port = th->source;
	__u32 tsval;

	th->source = th->dest;
	th->dest = port;
	th->ack_seq = bpf_htonl(bpf_ntohl(th->seq) + 1);
	th->seq = bpf_htonl(cookie);
	/* doff 10, flags SYN|ACK */
	((__u8 *)th)[12] = (PP_SYN_TCP_LEN / 4) << 4;
	((__u8 *)th)[13] = 0x12;
	th->window = 0;
	th->urg_ptr = 0;
	th->check = 0;

	opt[0] = bpf_htonl((PP_TCPOPT_MSS << 24) | (4 << 16) | mss);
	if (o->ts) {
		/* Milliseconds, like the kernel's TCP clock; the low bits are
		 * the cookie. */
		tsval = (__u32)(bpf_ktime_get_ns() / 1000000) & ~PP_TS_LOW_BITS;
		tsval |= o->wscale & PP_TS_WSCALE_NONE;
		if (o->sack)
			tsval |= PP_TS_SACK;
		opt[1] = bpf_htonl((o->sack ? (PP_TCPOPT_SACK_PERM << 24) |
					      (2 << 16) :
					      (PP_TCPOPT_NOP << 24) |
					      (PP_TCPOPT_NOP << 16)) |
				   (PP_TCPOPT_TIMESTAMP << 8) | 10);
		opt[2] = bpf_htonl(tsval);
		opt[3] = o->tsval;
		if (o->wscale != PP_TS_WSCALE_NONE)
			opt[4] = bpf_htonl((PP_TCPOPT_NOP << 24) |
					   (PP_TCPOPT_WINDOW << 16) | (3 << 8) |
					   cfg->wscale);
	}
	__builtin_memcpy(th + 1, opt, sizeof(opt));
}

/* Copies the SYN's TCP header (20..60 bytes at off) for the helper and the
 * option walk; 0 when it is no SYN this program answers. */
static __always_inline int pp_syn_copy(struct xdp_md *ctx, struct tcphdr *th,
				       __u32 off, __u32 l4_len,
				       struct pp_syn_opts *o)
{
	__u32 len = th->doff * 4;

	if (len < sizeof(*th) || len > PP_TCP_MAX_LEN || l4_len != len)
		return 0;
	o->len = len;
	o->wscale = PP_TS_WSCALE_NONE;
	return bpf_xdp_load_bytes(ctx, off, o->hdr, len) == 0;
}

/* Makes the frame of old_len bytes exactly new_len long; 0 on success. */
static __always_inline int pp_syn_resize(struct xdp_md *ctx, __u32 old_len,
					 __u32 new_len)
{
	return bpf_xdp_adjust_tail(ctx, (int)new_len - (int)old_len);
}

static __always_inline void pp_swap_mac(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

/* Turns the IPv4 header around for our reply of tcp_len bytes of TCP at th
 * (written, and within the packet): addresses swapped, our TTL, then the
 * TCP and IP checksums. */
static __always_inline void pp_syn_reply4(struct iphdr *iph, struct tcphdr *th,
					  __u32 tcp_len,
					  const struct pp_syn_cfg *cfg)
{
	__be32 addr = iph->saddr;
	__u64 sum;

	iph->saddr = iph->daddr;
	iph->daddr = addr;
	iph->tos = 0;
	iph->id = 0;
	iph->frag_off = bpf_htons(PP_IP_DF);
	iph->ttl = cfg->ttl;
	iph->tot_len = bpf_htons(sizeof(*iph) + tcp_len);
	iph->check = 0;
	sum = (__u32)bpf_csum_diff(NULL, 0, (__be32 *)th, tcp_len, 0);
	sum += iph->saddr;
	sum += iph->daddr;
	sum += bpf_htonl((IPPROTO_TCP << 16) | tcp_len);
	th->check = pp_csum_fold(sum);
	sum = (__u32)bpf_csum_diff(NULL, 0, (__be32 *)iph, sizeof(*iph), 0);
	iph->check = pp_csum_fold(sum);
}

/* pp_syn_reply4 for IPv6: no header checksum, the TCP one over the
 * pseudo-header. */
static __always_inline void pp_syn_reply6(struct ipv6hdr *ip6h,
					  struct tcphdr *th, __u32 tcp_len,
					  const struct pp_syn_cfg *cfg)
{
	struct in6_addr addr = ip6h->saddr;
	__u64 sum;
	int i;

	ip6h->saddr = ip6h->daddr;
	ip6h->daddr = addr;
	/* version 6, traffic class and flow label 0 */
	*(__be32 *)ip6h = bpf_htonl(0x60000000);
	ip6h->payload_len = bpf_htons(tcp_len);
	ip6h->hop_limit = cfg->ttl;
	sum = (__u32)bpf_csum_diff(NULL, 0, (__be32 *)th, tcp_len, 0);
#pragma unroll
	for (i = 0; i < 4; i++) {
		sum += ip6h->saddr.in6_u.u6_addr32[i];
		sum += ip6h->daddr.in6_u.u6_addr32[i];
	}
	sum += bpf_htonl(tcp_len);
	sum += bpf_htonl(IPPROTO_TCP);
	th->check = pp_csum_fold(sum);
}

/* Where the IPv4 (IPv6) header of a frame starts, after Ethernet and up to
 * two VLAN tags; -1 when the frame is not of that family. */
static __always_inline int pp_syn_l3_off(struct xdp_md *ctx, __u32 is_v6)
{
	void *data = (void *)(long)ctx->data;
	struct pp_cursor c = { .pos = data };
	struct ethhdr *eth;
	__u32 l3_off;
	__u16 vlan;

	if (parse_ethhdr(&c, (void *)(long)ctx->data_end, &eth, &vlan) !=
	    (is_v6 ? ETH_P_IPV6 : ETH_P_IP))
		return -1;
	/* The mask only tells the verifier what parse_ethhdr guarantees. */
	l3_off = (c.pos - data) & 0x1f;
	return l3_off > PP_SYN_MAX_L3_OFF ? -1 : (int)l3_off;
}

static __always_inline int pp_syn_answer4(struct xdp_md *ctx, __u32 pkt_len,
					  __u32 l3_off,
					  const struct pp_syn_cfg *cfg,
					  struct pp_syn_opts *o)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + l3_off;
	struct ethhdr *eth = data;
	struct tcphdr *th;
	__s64 cookie;

	if ((void *)(iph + 1) > end || iph->ihl != 5)
		return PP_SYN_NEXT;
	th = (void *)(iph + 1);
	if ((void *)(th + 1) > end)
		return PP_SYN_NEXT;
	if (!pp_syn_copy(ctx, th, l3_off + sizeof(*iph),
			 bpf_ntohs(iph->tot_len) - sizeof(*iph), o))
		return PP_SYN_NEXT;
	if (!bpf_core_enum_value_exists(enum bpf_func_id,
					BPF_FUNC_tcp_raw_gen_syncookie_ipv4))
		return PP_SYN_NEXT;
	cookie = bpf_tcp_raw_gen_syncookie_ipv4(iph, (struct tcphdr *)o->hdr,
						o->len & 63);
	if (cookie < 0)
		return PP_SYN_NEXT;
	pp_syn_parse_opts(o);

	/* From here the frame is the SYN-ACK or dropped. */
	if (pp_syn_resize(ctx, pkt_len, l3_off + sizeof(*iph) + PP_SYN_TCP_LEN))
		return PP_SYN_BAD;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	iph = data + l3_off;
	th = (void *)(iph + 1);
	if ((void *)th + PP_SYN_TCP_LEN > end || (void *)(eth + 1) > end)
		return PP_SYN_BAD;

	pp_swap_mac(eth);
	pp_syn_write_tcp(th, (__u32)cookie, o, cfg, cfg->mss4);
	pp_syn_reply4(iph, th, PP_SYN_TCP_LEN, cfg);
	return PP_SYN_ANSWERED;
}

static __always_inline int pp_syn_answer6(struct xdp_md *ctx, __u32 pkt_len,
					  __u32 l3_off,
					  const struct pp_syn_cfg *cfg,
					  struct pp_syn_opts *o)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6h = data + l3_off;
	struct ethhdr *eth = data;
	struct tcphdr *th;
	__s64 cookie;

	if ((void *)(ip6h + 1) > end || ip6h->nexthdr != IPPROTO_TCP)
		return PP_SYN_NEXT;
	th = (void *)(ip6h + 1);
	if ((void *)(th + 1) > end)
		return PP_SYN_NEXT;
	if (!pp_syn_copy(ctx, th, l3_off + sizeof(*ip6h),
			 bpf_ntohs(ip6h->payload_len), o))
		return PP_SYN_NEXT;
	if (!bpf_core_enum_value_exists(enum bpf_func_id,
					BPF_FUNC_tcp_raw_gen_syncookie_ipv6))
		return PP_SYN_NEXT;
	cookie = bpf_tcp_raw_gen_syncookie_ipv6(ip6h, (struct tcphdr *)o->hdr,
						o->len & 63);
	if (cookie < 0)
		return PP_SYN_NEXT;
	pp_syn_parse_opts(o);

	if (pp_syn_resize(ctx, pkt_len, l3_off + sizeof(*ip6h) + PP_SYN_TCP_LEN))
		return PP_SYN_BAD;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	ip6h = data + l3_off;
	th = (void *)(ip6h + 1);
	if ((void *)th + PP_SYN_TCP_LEN > end || (void *)(eth + 1) > end)
		return PP_SYN_BAD;

	pp_swap_mac(eth);
	pp_syn_write_tcp(th, (__u32)cookie, o, cfg, cfg->mss6);
	pp_syn_reply6(ip6h, th, PP_SYN_TCP_LEN, cfg);
	return PP_SYN_ANSWERED;
}

/* A segment of no flow conntrack knows: an ACK whose acknowledgement is
 * one of our cookies is a client completing our handshake. */
static __always_inline int pp_syn_check_ack(struct xdp_md *ctx, __u32 l3_off,
					    __u32 is_v6, __u32 tcp_flags)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct bpf_ct_opts___pp opts = {
		.netns_id = -1,	/* BPF_F_CURRENT_NETNS */
		.l4proto = IPPROTO_TCP,
	};
	struct bpf_sock_tuple tup = {};
	struct ipv6hdr *ip6h = NULL;
	struct iphdr *iph = NULL;
	struct tcphdr *th;
	struct nf_conn___pp *ct;
	__u32 tup_len;
	long err;

	if (is_v6) {
		ip6h = data + l3_off;
		if ((void *)(ip6h + 1) > end || ip6h->nexthdr != IPPROTO_TCP)
			return PP_SYN_NEXT;
		th = (void *)(ip6h + 1);
		if ((void *)(th + 1) > end)
			return PP_SYN_NEXT;
		__builtin_memcpy(tup.ipv6.saddr, &ip6h->saddr, 16);
		__builtin_memcpy(tup.ipv6.daddr, &ip6h->daddr, 16);
		tup.ipv6.sport = th->source;
		tup.ipv6.dport = th->dest;
		tup_len = sizeof(tup.ipv6);
	} else {
		iph = data + l3_off;
		if ((void *)(iph + 1) > end)
			return PP_SYN_NEXT;
		th = (void *)iph + (iph->ihl & 0xf) * 4;
		if ((void *)(th + 1) > end)
			return PP_SYN_NEXT;
		tup.ipv4.saddr = iph->saddr;
		tup.ipv4.daddr = iph->daddr;
		tup.ipv4.sport = th->source;
		tup.ipv4.dport = th->dest;
		tup_len = sizeof(tup.ipv4);
	}

	ct = bpf_xdp_ct_lookup(ctx, &tup, tup_len, &opts, sizeof(opts));
	if (ct) {
		bpf_ct_release(ct);
		return PP_SYN_NEXT;
	}
	/* Anything but "no such flow" leaves the judgement to the kernel. */
	if (opts.error != -2 /* ENOENT */)
		return PP_SYN_NEXT;
	if ((tcp_flags & 0x14) != 0x10)	/* ACK without RST */
		return PP_SYN_BAD;

	if (iph) {
		if (!bpf_core_enum_value_exists(enum bpf_func_id,
						BPF_FUNC_tcp_raw_check_syncookie_ipv4))
			return PP_SYN_NEXT;
		err = bpf_tcp_raw_check_syncookie_ipv4(iph, th);
	} else if (ip6h) {
		if (!bpf_core_enum_value_exists(enum bpf_func_id,
						BPF_FUNC_tcp_raw_check_syncookie_ipv6))
			return PP_SYN_NEXT;
		err = bpf_tcp_raw_check_syncookie_ipv6(ip6h, th);
	} else {
		return PP_SYN_NEXT;
	}
	return err ? PP_SYN_BAD : PP_SYN_COOKIE_OK;
}

/* The TCP header of the RST a listener sends for an ACK of no connection,
 * <SEQ=SEG.ACK><CTL=RST>, written over the ACK's: ports swapped, no
 * options; the caller swaps the addresses and sums it. */
static __always_inline void pp_syn_write_rst(struct tcphdr *th)
{
	__be16 port = th->source;

	th->source = th->dest;
	th->dest = port;
	th->seq = th->ack_seq;
	th->ack_seq = 0;
	/* doff 5, flags RST */
	((__u8 *)th)[12] = (sizeof(*th) / 4) << 4;
	((__u8 *)th)[13] = 0x04;
	th->window = 0;
	th->urg_ptr = 0;
	th->check = 0;
}

/* Refuses the connection a valid cookie ACK of pkt_len bytes would open
 * (over its source's connection rate or count): the frame becomes the RST
 * the listener would have sent, for XDP_TX. Dropped instead, the ACK would
 * leave the client holding a connection nobody completes: its SYN-ACK had
 * window 0, and what it sends next carries no cookie. 0 when the frame is
 * the RST; every packet pointer the caller holds is stale after it. */
__noinline int pp_syn_refuse(struct xdp_md *ctx, __u32 pkt_len, __u32 is_v6)
{
	struct pp_syn_cfg *cfg;
	struct ethhdr *eth;
	struct ipv6hdr *ip6h;
	struct iphdr *iph;
	struct tcphdr *th;
	void *data, *end;
	__u32 l4_off;
	int l3_off;

	if (!ctx)
		return -1;
	cfg = bpf_map_lookup_elem(&pp_syn_cfg, &pp_key0);
	l3_off = pp_syn_l3_off(ctx, is_v6);
	if (!cfg || l3_off < 0)
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	/* Plain headers only: an ACK with IPv4 options or IPv6 extension
	 * headers is dropped without a RST. */
	if (is_v6) {
		ip6h = data + l3_off;
		if ((void *)(ip6h + 1) + sizeof(*th) > end ||
		    ip6h->nexthdr != IPPROTO_TCP)
			return -1;
		l4_off = l3_off + sizeof(*ip6h);
	} else {
		iph = data + l3_off;
		if ((void *)(iph + 1) + sizeof(*th) > end || iph->ihl != 5)
			return -1;
		l4_off = l3_off + sizeof(*iph);
	}
	if (pp_syn_resize(ctx, pkt_len, l4_off + sizeof(*th)))
		return -1;

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	th = data + l4_off;
	if ((void *)(th + 1) > end || (void *)(eth + 1) > end)
		return -1;
	pp_swap_mac(eth);
	pp_syn_write_rst(th);
	if (is_v6) {
		ip6h = data + l3_off;
		if ((void *)(ip6h + 1) > end)
			return -1;
		pp_syn_reply6(ip6h, th, sizeof(*th), cfg);
	} else {
		iph = data + l3_off;
		if ((void *)(iph + 1) > end)
			return -1;
		pp_syn_reply4(iph, th, sizeof(*th), cfg);
	}
	return 0;
}

/* A global function: verified once, on its own. */
__noinline int pp_syncookie(struct xdp_md *ctx, __u32 pkt_len, __u32 is_v6,
			    __u32 tcp_flags)
{
	struct pp_syn_opts o = {};
	struct pp_syn_cfg *cfg;
	int l3_off;

	if (!ctx)
		return PP_SYN_NEXT;
	cfg = bpf_map_lookup_elem(&pp_syn_cfg, &pp_key0);
	if (!cfg || !(cfg->flags & PP_SYN_XDP))
		return PP_SYN_NEXT;
	l3_off = pp_syn_l3_off(ctx, is_v6);
	if (l3_off < 0)
		return PP_SYN_NEXT;

	if ((tcp_flags & 0x12) == 0x02)	/* SYN without ACK */
		return is_v6 ? pp_syn_answer6(ctx, pkt_len, l3_off, cfg, &o) :
			       pp_syn_answer4(ctx, pkt_len, l3_off, cfg, &o);
	return pp_syn_check_ack(ctx, l3_off, is_v6, tcp_flags);
}

#endif /* PP_SYNCOOKIE_H */
