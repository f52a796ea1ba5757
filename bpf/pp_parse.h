/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pp_parse.h - packet header parsers for the XDP program.
 *
 * Contract: every parser has the shape
 *	static __always_inline int parse_x(struct pp_cursor *c, void *end, T **hdr)
 * It bounds-checks before every read, on success stores the header in *hdr,
 * advances the cursor past it and returns the next protocol (an ETH_P_* in
 * host byte order for L2, an IPPROTO_* for L3, 0 for L4); on a truncated or
 * malformed header it returns -1 and leaves the cursor where it was.
 * Header fields stay in network byte order; only return values are host order.
 */
#ifndef PP_PARSE_H
#define PP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PP_MAX_VLAN_TAGS 2
/* Legitimate traffic carries a handful of extension headers; a longer
 * chain is an evasion attempt and is treated as malformed. */
#define PP_MAX_IPV6_EXT 6

#define PP_IP_MF 0x2000
#define PP_IP_OFFSET 0x1fff
#define PP_IP6_OFFSET 0xfff8
#define PP_IP6_MF 0x0001

enum pp_frag {
	PP_FRAG_NONE = 0,
	PP_FRAG_FIRST = 1,	/* offset 0 with more fragments: has L4 header */
	PP_FRAG_LATER = 2,	/* no L4 header */
};

struct pp_cursor {
	void *pos;
};

struct pp_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

static __always_inline int pp_is_vlan(__u16 proto)
{
	return proto == ETH_P_8021Q || proto == ETH_P_8021AD;
}

/* Returns the EtherType after up to two VLAN tags; *vlan gets the outer
 * VLAN id (0 when untagged). More tags than that leave the VLAN EtherType,
 * which the caller treats as non-IP. */
static __always_inline int parse_ethhdr(struct pp_cursor *c, void *end,
					struct ethhdr **hdr, __u16 *vlan)
{
	struct ethhdr *eth = c->pos;
	struct pp_vlan_hdr *vh;
	void *pos;
	__u16 proto;
	int i;

	if ((void *)(eth + 1) > end)
		return -1;
	pos = eth + 1;
	proto = bpf_ntohs(eth->h_proto);
	*vlan = 0;

#pragma unroll
	for (i = 0; i < PP_MAX_VLAN_TAGS; i++) {
		if (!pp_is_vlan(proto))
			break;
		vh = pos;
		if ((void *)(vh + 1) > end)
			return -1;
		if (i == 0)
			*vlan = bpf_ntohs(vh->tci) & 0x0fff;
		proto = bpf_ntohs(vh->encap_proto);
		pos = vh + 1;
	}

	*hdr = eth;
	c->pos = pos;
	return proto;
}

/* Checks what the kernel's ip_rcv checks about lengths, so a packet dropped
 * here would have been dropped by the stack anyway. */
static __always_inline int parse_iphdr(struct pp_cursor *c, void *end,
				       struct iphdr **hdr)
{
	struct iphdr *iph = c->pos;
	__u32 hlen, tot;

	if ((void *)(iph + 1) > end)
		return -1;
	if (iph->version != 4 || iph->ihl < 5)
		return -1;
	hlen = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	if ((void *)iph + hlen > end)
		return -1;
	if (tot < hlen || (void *)iph + tot > end)
		return -1;

	*hdr = iph;
	c->pos = (void *)iph + hlen;
	return iph->protocol;
}

static __always_inline int parse_ip6hdr(struct pp_cursor *c, void *end,
					struct ipv6hdr **hdr)
{
	struct ipv6hdr *ip6h = c->pos;

	if ((void *)(ip6h + 1) > end)
		return -1;
	if (ip6h->version != 6)
		return -1;
	if ((void *)(ip6h + 1) + bpf_ntohs(ip6h->payload_len) > end)
		return -1;

	*hdr = ip6h;
	c->pos = ip6h + 1;
	return ip6h->nexthdr;
}

struct pp_ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct pp_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* Walks extension headers starting at nexthdr; returns the upper-layer
 * protocol, sets *frag and adds the bytes walked to *len. A later fragment
 * stops the walk: what follows is payload, not a header. *hdr is the last
 * extension header seen, or NULL. */
static __always_inline int parse_ip6_ext(struct pp_cursor *c, void *end,
					 int nexthdr, __u8 *frag, __u32 *len,
					 struct pp_ipv6_opt_hdr **hdr)
{
	struct pp_ipv6_opt_hdr *opt;
	struct pp_ipv6_frag_hdr *fh;
	void *pos = c->pos;
	__u32 hlen, walked = 0;
	__u16 off;
	int i;

	*hdr = NULL;
	*frag = PP_FRAG_NONE;
	/* One more round than headers allowed: the last may only find L4. */
#pragma unroll
	for (i = 0; i <= PP_MAX_IPV6_EXT; i++) {
		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_MH:
			opt = pos;
			if ((void *)(opt + 1) > end)
				return -1;
			nexthdr = opt->nexthdr;
			*hdr = opt;
			hlen = (opt->hdrlen + 1) * 8;
			pos += hlen;
			walked += hlen;
			break;
		case IPPROTO_AH:
			opt = pos;
			if ((void *)(opt + 1) > end)
				return -1;
			nexthdr = opt->nexthdr;
			*hdr = opt;
			hlen = (opt->hdrlen + 2) * 4;
			pos += hlen;
			walked += hlen;
			break;
		case IPPROTO_FRAGMENT:
			fh = pos;
			if ((void *)(fh + 1) > end)
				return -1;
			nexthdr = fh->nexthdr;
			*hdr = pos;
			pos = fh + 1;
			walked += sizeof(*fh);
			off = bpf_ntohs(fh->frag_off);
			if (off & PP_IP6_OFFSET) {
				*frag = PP_FRAG_LATER;
				*len += walked;
				c->pos = pos;
				return nexthdr;
			}
			if (off & PP_IP6_MF)
				*frag = PP_FRAG_FIRST;
			break;
		default:
			if (pos > end)
				return -1;
			*len += walked;
			c->pos = pos;
			return nexthdr;
		}
	}
	return -1;
}

/* l4_len is the L4 length the IP layer declares (frame padding excluded). */
static __always_inline int parse_tcphdr(struct pp_cursor *c, void *end,
					__u32 l4_len, struct tcphdr **hdr)
{
	struct tcphdr *th = c->pos;
	__u32 hlen;

	if ((void *)(th + 1) > end || l4_len < sizeof(*th))
		return -1;
	hlen = th->doff * 4;
	if (hlen < sizeof(*th) || hlen > l4_len || (void *)th + hlen > end)
		return -1;

	*hdr = th;
	c->pos = (void *)th + hlen;
	return 0;
}

static __always_inline int parse_udphdr(struct pp_cursor *c, void *end,
					__u32 l4_len, struct udphdr **hdr)
{
	struct udphdr *uh = c->pos;
	__u32 len;

	if ((void *)(uh + 1) > end || l4_len < sizeof(*uh))
		return -1;
	len = bpf_ntohs(uh->len);
	if (len < sizeof(*uh) || len > l4_len)
		return -1;

	*hdr = uh;
	c->pos = uh + 1;
	return 0;
}

static __always_inline int parse_icmphdr(struct pp_cursor *c, void *end,
					 __u32 l4_len, struct icmphdr **hdr)
{
	struct icmphdr *ih = c->pos;

	if ((void *)(ih + 1) > end || l4_len < sizeof(*ih))
		return -1;

	*hdr = ih;
	c->pos = ih + 1;
	return 0;
}

static __always_inline int parse_icmp6hdr(struct pp_cursor *c, void *end,
					  __u32 l4_len, struct icmp6hdr **hdr)
{
	struct icmp6hdr *ih = c->pos;

	if ((void *)(ih + 1) > end || l4_len < sizeof(*ih))
		return -1;

	*hdr = ih;
	c->pos = ih + 1;
	return 0;
}

#endif /* PP_PARSE_H */
