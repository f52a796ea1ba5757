// SPDX-License-Identifier: GPL-2.0-only
/*
 * pp_trivial.bpf.c - baseline programs for benchmarks: the cost of running
 * an XDP program that does nothing, against which pp_xdp is compared.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pp_trivial_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int pp_trivial_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
