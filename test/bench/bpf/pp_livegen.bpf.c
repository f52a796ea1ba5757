// SPDX-License-Identifier: GPL-2.0-only
/*
 * pp_livegen.bpf.c - benchmark packet generator, not shipped.
 *
 * Run by BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: the kernel hands
 * this program one frame per repetition (a copy of the template passed as
 * data_in) and transmits whatever it redirects. Each frame gets a fresh IPv4
 * source: a prefix picked pseudo-randomly from pp_gen_sources plus a host byte
 * (.1 to .<hosts>), so the sources spread over the whole block list. Live
 * frames are recycled without being re-copied, so every field written here is
 * rewritten on each run and the header checksum is computed from scratch,
 * never incrementally.
 *
 * The template is Ethernet + IPv4 (no options) + UDP with checksum 0, or a
 * TCP SYN (whose sequence number the UDP checksum write leaves alone when
 * its low 16 bits are 0). A receiver that answers with XDP_TX rewrites the
 * frame in place (a SYN-ACK: addresses, ports, flags, options) and the page
 * comes back to this generator's pool that way: with tmpl_len set, a frame
 * whose destination (MAC, IPv4 address or L4 port) is no longer the
 * template's is restored from pp_gen_tmpl first. Only answered pages pay for
 * the copy; every answer changes where the frame goes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PP_GEN_MAX_SOURCES 262144
#define PP_GEN_TMPL_MAX 128

struct pp_gen_config {
	__u32 ifindex;	   /* device the frames are redirected out of */
	__u32 nr_sources;  /* used entries of pp_gen_sources, > 0 */
	__u32 hosts;	   /* host bytes used per prefix: 1 (always .1) to 254 */
	__u32 tmpl_len;	   /* 0: frames are not restored; else bytes of pp_gen_tmpl */
};

struct pp_gen_tmpl {
	__u8 data[PP_GEN_TMPL_MAX];
};

/* key 0 -> struct pp_gen_config */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_gen_config);
} pp_gen_cfg SEC(".maps");

/* key 0 -> the frame template, restored into every frame when tmpl_len > 0 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_gen_tmpl);
} pp_gen_tmpl SEC(".maps");

/* index -> IPv4 prefix base, network byte order, host byte zero */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PP_GEN_MAX_SOURCES);
	__type(key, __u32);
	__type(value, __u32);
} pp_gen_sources SEC(".maps");

/* key 0 -> frames this CPU handed to bpf_redirect (per CPU) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pp_gen_sent SEC(".maps");

static __always_inline __u16 pp_ipv4_csum(const struct iphdr *iph)
{
	const __u16 *w = (const __u16 *)iph;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int pp_livegen(struct xdp_md *ctx)
{
	struct pp_gen_config *cfg;
	struct pp_gen_tmpl *tmpl;
	const struct ethhdr *t_eth;
	const struct iphdr *t_iph;
	const struct udphdr *t_uh;
	struct ethhdr *eth;
	struct iphdr *iph;
	struct udphdr *uh;
	void *data, *end;
	__u32 zero = 0, idx, len;
	__u64 *sent, h;
	__u32 *base;
	int action = XDP_DROP;

	cfg = bpf_map_lookup_elem(&pp_gen_cfg, &zero);
	sent = bpf_map_lookup_elem(&pp_gen_sent, &zero);
	if (!cfg || !sent || !cfg->nr_sources || !cfg->hosts)
		goto out;
	len = cfg->tmpl_len;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	iph = data + sizeof(*eth);
	uh = data + sizeof(*eth) + sizeof(*iph);
	if ((void *)(uh + 1) > end)
		goto out;
	if (len) {
		tmpl = bpf_map_lookup_elem(&pp_gen_tmpl, &zero);
		if (!tmpl || len > PP_GEN_TMPL_MAX)
			goto out;
		t_eth = (const struct ethhdr *)tmpl->data;
		t_iph = (const struct iphdr *)(tmpl->data + sizeof(*eth));
		t_uh = (const struct udphdr *)(tmpl->data + sizeof(*eth) +
					       sizeof(*iph));
		if (*(__u32 *)eth->h_dest != *(const __u32 *)t_eth->h_dest ||
		    *(__u16 *)&eth->h_dest[4] !=
			    *(const __u16 *)&t_eth->h_dest[4] ||
		    iph->daddr != t_iph->daddr || uh->dest != t_uh->dest) {
			if (bpf_xdp_store_bytes(ctx, 0, tmpl->data, len))
				goto out;
			data = (void *)(long)ctx->data;
			end = (void *)(long)ctx->data_end;
			eth = data;
			iph = data + sizeof(*eth);
			uh = data + sizeof(*eth) + sizeof(*iph);
			if ((void *)(uh + 1) > end)
				goto out;
		}
	}

	/* Fibonacci hashing of the sequence number: consecutive frames land
	 * on unrelated prefixes and host bytes. */
	h = (*sent + 1) * 0x9e3779b97f4a7c15ull;
	idx = (__u32)(h >> 32) % cfg->nr_sources;
	base = bpf_map_lookup_elem(&pp_gen_sources, &idx);
	if (!base)
		goto out;

	iph->saddr = *base | bpf_htonl(1 + (__u32)((h >> 24) % cfg->hosts));
	iph->check = 0;
	iph->check = pp_ipv4_csum(iph);
	uh->source = bpf_htons(32768 + (__u16)(h >> 17) % 28000);
	uh->check = 0;

	*sent += 1;
	action = bpf_redirect(cfg->ifindex, 0);
out:
	return action;
}

char LICENSE[] SEC("license") = "GPL";
