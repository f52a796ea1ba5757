// SPDX-License-Identifier: GPL-2.0-only
/*
 * pp_answer.bpf.c - benchmark reference, not shipped: the least work any
 * program can do to answer every frame, sending it back out of the device
 * it came in on unchanged (XDP_TX). The "answer everything" baseline of
 * the live SYN-flood bench (test/bench/live.ts --syn), next to the trivial
 * XDP_DROP program: what pp_xdp's SYN cookies cost beyond the transmit.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pp_answer_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
