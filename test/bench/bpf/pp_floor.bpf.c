// SPDX-License-Identifier: GPL-2.0-only
/*
 * pp_floor.bpf.c - benchmark reference, not shipped: the least work any
 * program can do to drop by a block list of 100k prefixes. It parses
 * Ethernet and IPv4 and makes one hash lookup, of the source's /24, in a
 * table shaped like pp_block_v4 (same key, value and size); a hit drops.
 * No service, no counters, no other list: what pp_xdp is measured against
 * to tell its own cost from the cost of touching a large table at all.
 *
 * Contract: pp_floor_block is filled by the bench with /24 keys of struct
 * pp_lpm_v4_key (prefixlen 32 + 24, scope 0); anything that is not IPv4
 * passes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "pp_abi.h"

/* key: (scope 0, source /24), value: struct pp_list_entry */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_LIST_ENTRIES);
	__type(key, struct pp_lpm_v4_key);
	__type(value, struct pp_list_entry);
} pp_floor_block SEC(".maps");

SEC("xdp")
int pp_floor_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct pp_lpm_v4_key key = { .prefixlen = 32 + 24 };
	struct ethhdr *eth = data;
	struct iphdr *iph;
	__be32 net;
	int verdict = XDP_PASS;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		goto out;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > end)
		goto out;
	net = iph->saddr & bpf_htonl(0xffffff00);
	__builtin_memcpy(key.addr, &net, sizeof(net));
	if (bpf_map_lookup_elem(&pp_floor_block, &key))
		verdict = XDP_DROP;
out:
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
