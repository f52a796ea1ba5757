// SPDX-License-Identifier: GPL-2.0-only
/*
 * pp_xdp.bpf.c - the PistonProtection XDP entry point.
 *
 * Contract: one program, pp_xdp, returns XDP_PASS or XDP_DROP, or XDP_TX
 * for a SYN it answered with a SYN cookie and for a cookie ACK whose
 * connection it refused with a RST (pp_syncookie.h); the refused ACK is
 * counted as the drop it is. Every packet
 * leaves through the single exit label, which counts it once under its
 * reason (pp_reason_ctrs), once under its backend and its traffic class
 * when it was addressed to a service (pp_backend_ctrs), and may sample a
 * drop to pp_events.
 * Checks run cheapest first: parse, management allow-list, service lookup,
 * allow-list, bans, block-list, level hygiene (fragments, invalid,
 * reflection), compiled rules, per-source buckets, the backend's bucket,
 * new connections per source, SYN cookies (pp_syncookie.h), the backend's
 * protocol checks (pp_raknet.h, pp_quic.h, pp_minecraft.h; sessions and
 * flows in their own LRU maps) with the concurrent connections per source
 * (pp_conns).
 * For service traffic the list answers (and source sets) come from the
 * source's way in pp_src_table, refreshed per list generation (pp_abi.h);
 * sources the lists drop are decided without taking one.
 */
#include "pp_parse.h"
#include "pp_abi.h"
#include "pp_maps.h"
#include "pp_bucket.h"
#include "pp_raknet.h"
#include "pp_quic.h"
#include "pp_minecraft.h"
#include "pp_syncookie.h"

#define PP_TCP_FIN 0x01
#define PP_TCP_SYN 0x02
#define PP_TCP_RST 0x04
#define PP_TCP_PSH 0x08
#define PP_TCP_ACK 0x10
#define PP_TCP_URG 0x20

struct pp_pkt {
	struct pp_addr src;
	struct pp_addr dst;
	__u32 len;
	__u16 sport;		/* host order; 0 when the packet has no ports */
	__u16 dport;
	__u16 vlan;
	__u8 proto;
	__u8 pclass;
	__u8 tcp_flags;
	__u8 frag;
	__u8 is_v6;
	__u8 has_ports;
	__u32 payload_len;	/* TCP/UDP payload, from the headers */
	__u32 l7_off;		/* where the payload starts; 0 = not parsed */
	__u32 tcp_seq;		/* host order */
	__u64 src_sets;		/* pp_srcset mask, for service traffic */
};

/* UDP payloads further into the packet than this are not inspected. */
#define PP_L7_MAX_OFF 512

struct pp_verdict {
	__u32 action;
	__u32 reason;
	__u32 backend;
	__u32 rule_slot;
};

/* Static subprogram rather than inline so the event layout reaches BTF
 * and the verifier checks the copy once. */
static __noinline int pp_emit_event(struct pp_event *ev)
{
	struct pp_event_ctr *ctr;
	__u32 key = 0;
	long err;

	err = bpf_ringbuf_output(&pp_events, ev, sizeof(*ev), 0);
	ctr = bpf_map_lookup_elem(&pp_event_ctrs, &key);
	if (!ctr)
		return 0;
	if (err)
		ctr->lost += 1;
	else
		ctr->emitted += 1;
	return 0;
}

static __always_inline void pp_event(const struct pp_pkt *p,
				     const struct pp_verdict *v, __u8 kind)
{
	struct pp_event ev = {};

	ev.ts_ns = bpf_ktime_get_ns();
	ev.src = p->src;
	ev.dst = p->dst;
	ev.backend = v->backend;
	ev.rule_slot = v->rule_slot;
	ev.pkt_len = p->len;
	ev.sport = p->sport;
	ev.dport = p->dport;
	ev.proto = p->proto;
	ev.verdict = v->action;
	ev.reason = v->reason;
	ev.kind = kind;
	ev.vlan = p->vlan;
	pp_emit_event(&ev);
}

/* CLOCK_MONOTONIC at the resolution of a tick: the coarse clock, which
 * changes only at ticks, read once per tick per CPU (pp_clock) and kept
 * while jiffies (one load) stay the same. A reading taken between a tick's
 * jiffies and its clock update lasts one more tick, so the value lags the
 * real time by up to two ticks: buckets refilled per tick and expiries a
 * tick or two late are fine. Inlined, as the set search below: with
 * return thunks (SRSO) a call costs more than the work. */
static __always_inline __u64 pp_clock_ns(void)
{
	struct pp_clock *c = bpf_map_lookup_elem(&pp_clock, &pp_key0);
	__u64 j = bpf_jiffies64();

	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->jiffies != j) {
		c->ns = bpf_ktime_get_coarse_ns();
		c->jiffies = j;
	}
	return c->ns;
}

/* The packet's time: read at most once per packet. */
static __always_inline __u64 pp_now(__u64 *now)
{
	if (!*now)
		*now = pp_clock_ns();
	return *now;
}

/* Whether an entry expiring at expires_ns still applies; *until keeps the
 * earliest expiry of the entries that applied. */
static __always_inline int pp_applies(__u64 expires_ns, __u64 *now,
				      __u64 *until)
{
	if (!expires_ns)
		return 1;
	if (expires_ns <= pp_now(now))
		return 0;
	if (!*until || expires_ns < *until)
		*until = expires_ns;
	return 1;
}

/* Longest-prefix lookup of the source in a v4/v6 pair of LPM tries (the
 * management allow-list). */
static __always_inline void *pp_lpm_src(void *map4, void *map6,
					const struct pp_pkt *p, __u32 scope)
{
	if (p->is_v6) {
		struct pp_lpm_v6_key k6 = {
			.prefixlen = 32 + 128,
			.scope = scope,
		};

		__builtin_memcpy(k6.addr, p->src.words, sizeof(k6.addr));
		return bpf_map_lookup_elem(map6, &k6);
	}
	struct pp_lpm_v4_key k4 = {
		.prefixlen = 32 + 32,
		.scope = scope,
	};

	__builtin_memcpy(k4.addr, &p->src.words[3], sizeof(k4.addr));
	return bpf_map_lookup_elem(map4, &k4);
}

/* Branch-free on purpose: every branch here would multiply the verifier's
 * states in the probe loops below. */
#define PP_DEBRUIJN64 0x03f79d71b4ca8b09ull

static const __u8 pp_debruijn_index[64] = {
	0, 1, 56, 2, 57, 49, 28, 3, 61, 58, 42, 50, 38, 29, 17, 4,
	62, 47, 59, 36, 45, 43, 51, 22, 53, 39, 33, 30, 24, 18, 12, 5,
	63, 55, 48, 27, 60, 41, 37, 16, 46, 35, 44, 21, 52, 32, 23, 11,
	54, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6,
};

/* Index of the highest set bit of x, which is not 0. */
static __always_inline __u32 pp_fls64(__u64 x)
{
	x |= x >> 1;
	x |= x >> 2;
	x |= x >> 4;
	x |= x >> 8;
	x |= x >> 16;
	x |= x >> 32;
	return pp_debruijn_index[((x ^ (x >> 1)) * PP_DEBRUIJN64) >> 58];
}

/* Index of the lowest set bit of x, which is not 0. */
static __always_inline __u32 pp_ctz64(__u64 x)
{
	return pp_debruijn_index[((x & -x) * PP_DEBRUIJN64) >> 58];
}

/* Network-order mask of the first len bits of a 32-bit word, len 0..32. */
static __always_inline __be32 pp_mask32(__u32 len)
{
	return bpf_htonl((__u32)(0xffffffff00000000ull >> (len & 63)));
}

/* Longest-prefix lookup of the source in a prefix-list hash map of one
 * family: probes the lengths in lens, longest first (pp_abi.h). */
static __always_inline void *pp_tss_v4(void *map, __u64 lens, __be32 addr,
				       __u32 scope)
{
	struct pp_lpm_v4_key k = { .scope = scope };
	__be32 a;
	__u32 len;
	void *v;
	int i;

	for (i = 0; i <= 32; i++) {
		if (!lens)
			break;
		len = pp_fls64(lens);
		lens &= ~(1ull << len);
		if (len > 32)
			continue;
		k.prefixlen = 32 + len;
		a = addr & pp_mask32(len);
		__builtin_memcpy(k.addr, &a, sizeof(a));
		v = bpf_map_lookup_elem(map, &k);
		if (v)
			return v;
	}
	return NULL;
}

/* Network-order mask of the first len bits of 128, len 0..128, built
 * from two 64-bit halves without a branch on len. */
static __always_inline void pp_mask128(__u32 len, __be32 w[4])
{
	__u64 lo_len = len > 64 ? len - 64 : 0;
	__u64 hi_len = len - lo_len;
	__u64 hi = ~0ull << ((64 - hi_len) & 63);
	__u64 lo = ~0ull << ((64 - lo_len) & 63);

	/* (64 - 0) & 63 shifts by 0: a half of length 0 is cleared here. */
	hi &= -(__u64)(hi_len != 0);
	lo &= -(__u64)(lo_len != 0);
	w[0] = bpf_htonl(hi >> 32);
	w[1] = bpf_htonl((__u32)hi);
	w[2] = bpf_htonl(lo >> 32);
	w[3] = bpf_htonl((__u32)lo);
}

/* IPv6 probes run under bpf_loop: up to 129 lengths would be too many
 * unrolled paths for the verifier. The callback copies the first 8 bytes of
 * the value found (expires_ns of a list entry, the mask of a source set). */
struct pp_tss6 {
	struct pp_lpm_v6_key key;
	struct pp_addr addr;
	__u64 bits[PP_LENS_V6_WORDS];
	__u64 value;
	void *map;
	__u32 found;
};

static long pp_tss6_step(__u32 i, void *data)
{
	struct pp_tss6 *t = data;
	__be32 w[4];
	__u64 *v;
	__u32 len;

	if (t->bits[2] & 1) {
		len = 128;
		t->bits[2] = 0;
	} else if (t->bits[1]) {
		len = pp_fls64(t->bits[1]);
		t->bits[1] &= ~(1ull << len);
		len += 64;
	} else if (t->bits[0]) {
		len = pp_fls64(t->bits[0]);
		t->bits[0] &= ~(1ull << len);
	} else {
		return 1;
	}
	t->key.prefixlen = 32 + len;
	pp_mask128(len, w);
	w[0] &= t->addr.words[0];
	w[1] &= t->addr.words[1];
	w[2] &= t->addr.words[2];
	w[3] &= t->addr.words[3];
	__builtin_memcpy(t->key.addr, w, sizeof(t->key.addr));
	v = bpf_map_lookup_elem(t->map, &t->key);
	if (!v)
		return 0;
	t->value = *v;
	t->found = 1;
	return 1;
}

/* Longest-prefix lookup of an IPv6 source: 1 and the value's first 8 bytes
 * in *value when some prefix holds it, else 0. */
static __always_inline int pp_tss_v6(void *map,
				     const struct pp_prefix_lens *lens,
				     const struct pp_addr *addr, __u32 scope,
				     __u64 *value)
{
	struct pp_tss6 t = {
		.key = { .scope = scope },
		.addr = *addr,
		.bits = { lens->v6[0], lens->v6[1], lens->v6[2] },
		.map = map,
	};

	if (!t.bits[0] && !t.bits[1] && !t.bits[2])
		return 0;
	bpf_loop(129, pp_tss6_step, &t, 0);
	*value = t.value;
	return t.found;
}

enum pp_list {
	PP_LIST_ALLOW = 0,
	PP_LIST_BLOCK = 1,
	PP_LIST_SRCSET = 2,
};

/* Longest-prefix lookup of the source in one prefix list: 1 and the first
 * 8 bytes of the value found in *value, or 0. A global function: its
 * probe loop is verified once, not once per path of every caller. */
__noinline int pp_prefix_lookup(const struct pp_pkt *p,
				const struct pp_config *cfg, __u32 list,
				__u32 scope, __u64 *value)
{
	const struct pp_prefix_lens *lens;
	void *map4, *map6;
	__u64 *v;

	if (!p || !cfg || !value)
		return 0;
	if (list == PP_LIST_ALLOW) {
		lens = &cfg->allow_lens;
		map4 = &pp_allow_v4;
		map6 = &pp_allow_v6;
	} else if (list == PP_LIST_BLOCK) {
		lens = &cfg->block_lens;
		map4 = &pp_block_v4;
		map6 = &pp_block_v6;
	} else {
		lens = &cfg->srcset_lens;
		map4 = &pp_srcset_v4;
		map6 = &pp_srcset_v6;
	}
	if (p->is_v6)
		return pp_tss_v6(map6, lens, &p->src, scope, value);
	v = pp_tss_v4(map4, lens->v4, p->src.words[3], scope);
	if (!v)
		return 0;
	*value = *v;
	return 1;
}

/* What a list's IPv4 summary says about the source's /24 (pp_abi.h, "IPv4
 * summaries"): PP_SUM_NONE or PP_SUM_MATCH decide, anything else probes. */
static __always_inline __u32 pp_sum_v4(__u32 list, __be32 src)
{
	__u32 net = bpf_ntohl(src) >> 8;
	__u32 idx = net / PP_SUM_PER_WORD;
	__u64 *w = bpf_map_lookup_elem(list == PP_LIST_ALLOW ? (void *)&pp_allow_v4_sum
							    : (void *)&pp_block_v4_sum,
				       &idx);

	return w ? (*w >> (2 * (net % PP_SUM_PER_WORD))) & 3 : PP_SUM_PROBE;
}

/* Whether the longest list entry matching the source applies. Empty
 * lists cost no call, nor do /24s the summary decides. */
static __always_inline int pp_list_hit(const struct pp_config *cfg,
				       __u32 list, const struct pp_pkt *p,
				       __u32 scope, __u64 *now, __u64 *until)
{
	const struct pp_prefix_lens *lens =
		list == PP_LIST_ALLOW ? &cfg->allow_lens : &cfg->block_lens;
	__u64 expires_ns = 0;
	__u32 sum;

	if (p->is_v6 ? !(lens->v6[0] | lens->v6[1] | lens->v6[2]) : !lens->v4)
		return 0;
	if (!p->is_v6 && scope == PP_SCOPE_GLOBAL) {
		sum = pp_sum_v4(list, p->src.words[3]);
		if (sum == PP_SUM_NONE)
			return 0;
		if (sum == PP_SUM_MATCH)
			return 1;
	}
	return pp_prefix_lookup(p, cfg, list, scope, &expires_ns) &&
	       pp_applies(expires_ns, now, until);
}

#define PP_LIST_DROP (PP_CACHE_BAN | PP_CACHE_BLOCK)

/* Whether a ban of the source applies: pp_bans while it holds entries,
 * then the program's own pp_dyn_bans while it does. */
static __always_inline int pp_banned(const struct pp_pkt *p,
				     const struct pp_config *cfg, __u64 *now,
				     __u64 *until)
{
	struct pp_state *state;
	__u64 *ban;

	if (cfg->flags & PP_CFG_BANS) {
		ban = bpf_map_lookup_elem(&pp_bans, &p->src);
		if (ban && pp_applies(*ban, now, until))
			return 1;
	}
	state = bpf_map_lookup_elem(&pp_state, &pp_key0);
	if (state && state->dyn_bans) {
		ban = bpf_map_lookup_elem(&pp_dyn_bans, &p->src);
		if (ban && pp_applies(*ban, now, until))
			return 1;
	}
	return 0;
}

/* What the allow-list, bans and block-list say about the source, as one
 * PP_CACHE_* verdict bit (0 = nothing), in pipeline order: allow, ban,
 * block. backend 0 means traffic for no service: global entries only.
 * *until gets the earliest expiry of the entries that decided. */
static __always_inline int pp_lists_inline(const struct pp_pkt *p,
					   const struct pp_config *cfg,
					   __u32 backend, __u32 svc_flags,
					   __u64 *now, __u64 *until)
{
	*until = 0;
	if (pp_list_hit(cfg, PP_LIST_ALLOW, p, PP_SCOPE_GLOBAL, now, until))
		return PP_CACHE_ALLOW;
	if (backend && (svc_flags & PP_SVC_SCOPED_ALLOW) &&
	    pp_list_hit(cfg, PP_LIST_ALLOW, p, backend, now, until))
		return PP_CACHE_ALLOW;
	if (pp_banned(p, cfg, now, until))
		return PP_CACHE_BAN;
	if (pp_list_hit(cfg, PP_LIST_BLOCK, p, PP_SCOPE_GLOBAL, now, until))
		return PP_CACHE_BLOCK;
	if (backend && (svc_flags & PP_SVC_SCOPED_BLOCK) &&
	    pp_list_hit(cfg, PP_LIST_BLOCK, p, backend, now, until))
		return PP_CACHE_BLOCK;
	return 0;
}

/* The list checks run as global functions, each verified once on its own:
 * inlined, their prefix-length loops would multiply the states of every
 * path of the caller. pp_lists answers for a service's traffic. */
__noinline int pp_lists(const struct pp_pkt *p, const struct pp_config *cfg,
			const struct pp_service *svc, __u64 *now, __u64 *until)
{
	if (!p || !cfg || !svc || !now || !until)
		return 0;
	return pp_lists_inline(p, cfg, svc->backend, svc->flags, now, until);
}

/* The global entries only, for traffic to no service. */
__noinline int pp_global_lists(const struct pp_pkt *p,
			       const struct pp_config *cfg, __u64 *now,
			       __u64 *until)
{
	if (!p || !cfg || !now || !until)
		return 0;
	return pp_lists_inline(p, cfg, 0, 0, now, until);
}

/* The source-set mask of the source: only rules that read source sets
 * need it, and the rules run only for sources the lists did not drop. */
__noinline __u64 pp_src_sets(const struct pp_pkt *p,
			     const struct pp_config *cfg)
{
	__u64 sets = 0;

	if (!p || !cfg)
		return 0;
	if (!pp_prefix_lookup(p, cfg, PP_LIST_SRCSET, 0, &sets))
		return 0;
	return sets;
}

/* The earliest of the deciding entries' expiry and the cache TTL. */
static __always_inline __u64 pp_cache_until(__u64 until_ns, __u64 *now)
{
	__u64 ttl = pp_now(now) + PP_CACHE_TTL_NS;

	return until_ns && until_ns < ttl ? until_ns : ttl;
}

/* The list verdict when the IPv4 summaries decide both lists for the source
 * and the service has no lists of its own, as pp_lists_inline would give
 * it; -1 when the hash maps must be probed. Cheaper than the per-source
 * cache, so a decided source needs no cache, and a dropped one no state. */
static __always_inline int pp_lists_fast(const struct pp_config *cfg,
					 const struct pp_service *svc,
					 const struct pp_pkt *p, __u64 *now)
{
	__u32 allow = PP_SUM_NONE, block = PP_SUM_NONE;
	__u64 until = 0;

	if (p->is_v6 ||
	    (svc->flags & (PP_SVC_SCOPED_ALLOW | PP_SVC_SCOPED_BLOCK)))
		return -1;
	if (cfg->allow_lens.v4)
		allow = pp_sum_v4(PP_LIST_ALLOW, p->src.words[3]);
	if (allow == PP_SUM_MATCH)
		return PP_CACHE_ALLOW;
	if (allow != PP_SUM_NONE)
		return -1;
	if (cfg->block_lens.v4)
		block = pp_sum_v4(PP_LIST_BLOCK, p->src.words[3]);
	if (block != PP_SUM_NONE && block != PP_SUM_MATCH)
		return -1;
	if (pp_banned(p, cfg, now, &until))
		return PP_CACHE_BAN;
	return block == PP_SUM_MATCH ? PP_CACHE_BLOCK : 0;
}

/* The keyed hash of a pp_src_table key (pp_abi.h, "Source table"). */
static __always_inline __u64 pp_src_hash(const struct pp_config *cfg,
					 __u32 scope, const struct pp_addr *a)
{
	return cfg->src_seed[0] + scope * cfg->src_seed[1] +
	       a->words[0] * cfg->src_seed[2] + a->words[1] * cfg->src_seed[3] +
	       a->words[2] * cfg->src_seed[4] + a->words[3] * cfg->src_seed[5];
}

/* What a way's check must be for its cached verdict to count: the tag of
 * the source that computed it, folded with every cached field. Computed
 * from values, never from the shared way: what is sealed is what was
 * validated or computed for this source. */
static __always_inline __u32 pp_src_seal(__u32 tag, __u32 gen, __u32 cache,
					 __u64 until, __u64 sets)
{
	return tag ^ gen ^ cache ^ (__u32)until ^ (__u32)(until >> 32) ^
	       (__u32)sets ^ (__u32)(sets >> 32);
}

/* Writes a cached verdict into a way the source holds, and its seal. */
static __always_inline void pp_src_store(struct pp_src_way *way, __u32 tag,
					 __u32 gen, __u32 cache, __u64 until,
					 __u64 sets)
{
	way->st.cache = cache;
	way->st.list_gen = gen;
	way->st.cache_until_ns = until;
	way->st.src_sets = sets;
	way->check = pp_src_seal(tag, gen, cache, until, sets);
}

#define PP_READ_ONCE(x) (*(volatile typeof(x) *)&(x))

/* The way of the set that holds (scope, source): its index, or -1 minus
 * the index of the way a new source takes (a free one, else the one whose
 * cached verdict ends first). */
static __always_inline int pp_src_way_of(const struct pp_src_set *set,
					 __u32 tag, __u32 scope,
					 const struct pp_addr *a)
{
	const struct pp_src_way *way;
	__u64 oldest = ~0ull;
	int w, victim = 0;

	if (!set || !a)
		return -1;
#pragma unroll
	for (w = 0; w < PP_SRC_WAYS; w++) {
		way = &set->way[w];
		if (way->tag == tag && way->key.scope == scope &&
		    way->key.addr.words[3] == a->words[3] &&
		    way->key.addr.words[2] == a->words[2] &&
		    way->key.addr.words[1] == a->words[1] &&
		    way->key.addr.words[0] == a->words[0])
			return w;
		if (!way->tag) {
			oldest = 0;
			victim = w;
		} else if (way->st.cache_until_ns < oldest) {
			oldest = way->st.cache_until_ns;
			victim = w;
		}
	}
	return -1 - victim;
}

/* The list verdict for service traffic, and the source's way in
 * pp_src_table. One array read and a key compare replace the list lookups
 * for every packet of a source after its first, until the lists change
 * (list_gen), a deciding entry expires or the TTL runs out. A source the
 * lists drop gets no way of its own: a flood of spoofed blocked sources
 * must not evict the sources being served. *wayp is NULL without a way;
 * with one, *tagp is the source's tag and *untilp the end of the verdict
 * the way now holds. A cached verdict is read field by field once and
 * trusted only when its seal matches; PP_CACHE_SETS in the result says
 * p->src_sets holds the source sets it was sealed with. */
static __always_inline int pp_src_lists(const struct pp_config *cfg,
					const struct pp_service *svc,
					struct pp_pkt *p, __u32 gen, __u64 *now,
					struct pp_src_way **wayp, __u32 *tagp,
					__u64 *untilp)
{
	struct pp_src_set *set;
	struct pp_src_way *way;
	__u64 until = 0, h, c_until, c_sets;
	__u32 idx, tag, c_cache, c_gen;
	int lists, w;

	*wayp = NULL;
	lists = pp_lists_fast(cfg, svc, p, now);
	if (lists > 0 && (lists & PP_LIST_DROP))
		return lists;
	h = pp_src_hash(cfg, svc->backend, &p->src);
	idx = (h >> 32) & cfg->src_set_mask;
	tag = (__u32)h | 1;
	*tagp = tag;
	set = bpf_map_lookup_elem(&pp_src_table, &idx);
	if (!set)
		return lists >= 0 ? lists : pp_lists(p, cfg, svc, now, &until);
	w = pp_src_way_of(set, tag, svc->backend, &p->src);
	way = &set->way[(w >= 0 ? w : -1 - w) & (PP_SRC_WAYS - 1)];
	if (w >= 0) {
		*wayp = way;
		c_cache = PP_READ_ONCE(way->st.cache);
		c_gen = PP_READ_ONCE(way->st.list_gen);
		c_until = PP_READ_ONCE(way->st.cache_until_ns);
		c_sets = PP_READ_ONCE(way->st.src_sets);
		if ((c_cache & PP_CACHE_VALID) && c_gen == gen &&
		    c_until > pp_now(now) &&
		    PP_READ_ONCE(way->check) ==
			    pp_src_seal(tag, c_gen, c_cache, c_until, c_sets)) {
			*untilp = c_until;
			p->src_sets = c_sets;
			return (lists >= 0 ? lists :
			        c_cache & (PP_CACHE_ALLOW | PP_LIST_DROP)) |
			       (c_cache & PP_CACHE_SETS);
		}
	}
	if (lists < 0)
		lists = pp_lists(p, cfg, svc, now, &until);
	if (w < 0) {
		if (lists & PP_LIST_DROP)
			return lists;
		/* Free the way before rewriting it and tag it after, in that
		 * order (x86 keeps stores in order; the barriers keep the
		 * compiler from moving them), so no reader matches a
		 * half-written key. */
		*(volatile __u32 *)&way->tag = 0;
		asm volatile("" ::: "memory");
		__builtin_memset(&way->st, 0, sizeof(way->st));
		way->key.scope = svc->backend;
		way->key.addr = p->src;
		asm volatile("" ::: "memory");
		*(volatile __u32 *)&way->tag = tag;
		*wayp = way;
	}
	until = pp_cache_until(until, now);
	*untilp = until;
	pp_src_store(way, tag, gen, PP_CACHE_VALID | lists, until, 0);
	return lists;
}

static __always_inline int pp_is_mgmt_port(const struct pp_config *cfg,
					   __u16 port)
{
	int i;

#pragma unroll
	for (i = 0; i < PP_MGMT_PORTS; i++) {
		if (i >= cfg->nr_mgmt_ports)
			break;
		if (cfg->mgmt_ports[i] == port)
			return 1;
	}
	return 0;
}

/* Headers that parse but that no real peer sends: impossible TCP flag
 * combinations, port 0, and sources that cannot be on the wire. */
static __always_inline int pp_is_bogus(const struct pp_pkt *p)
{
	__u8 f = p->tcp_flags;
	__u8 first;

	if (p->has_ports && (!p->sport || !p->dport))
		return 1;
	if (p->proto == IPPROTO_TCP && p->has_ports) {
		if (!(f & 0x3f))
			return 1;
		if ((f & (PP_TCP_SYN | PP_TCP_FIN)) ==
		    (PP_TCP_SYN | PP_TCP_FIN))
			return 1;
		if ((f & (PP_TCP_SYN | PP_TCP_RST)) ==
		    (PP_TCP_SYN | PP_TCP_RST))
			return 1;
		if (!(f & PP_TCP_ACK) &&
		    (f & (PP_TCP_FIN | PP_TCP_PSH | PP_TCP_URG)))
			return 1;
	}
	if (p->is_v6) {
		first = p->src.words[0] & 0xff;
		if (first == 0xff)
			return 1;
		if (!p->src.words[0] && !p->src.words[1] &&
		    !p->src.words[2] &&
		    (p->src.words[3] == bpf_htonl(1) || !p->src.words[3]))
			return 1;
		return 0;
	}
	first = p->src.words[3] & 0xff;
	return first == 0 || first == 127 || first >= 224;
}

static __always_inline int pp_rule_ports(const struct pp_rule *r,
					 const struct pp_pkt *p)
{
	int j;

	if (!r->nr_dports)
		return 1;
	if (!p->has_ports)
		return 0;
	for (j = 0; j < PP_RULE_PORT_RANGES; j++) {
		if (j >= r->nr_dports)
			break;
		if (p->dport >= r->dports[j].lo && p->dport <= r->dports[j].hi)
			return 1;
	}
	return 0;
}

static __always_inline void pp_count_rule(const struct pp_rule *r,
					  const struct pp_pkt *p, __u64 *now)
{
	__u32 slot = r->stats_slot;
	struct pp_rule_ctr *rc = bpf_map_lookup_elem(&pp_rule_ctrs, &slot);

	if (!rc)
		return;
	rc->packets += 1;
	rc->bytes += p->len;
	rc->last_match_ns = pp_now(now);
}

/* Takes a packet from the per-source bucket of (scope, source); a source
 * seen for the first time starts with a full bucket. Returns 1 to admit.
 * Key and new entry are built in pp_scratch, not on the stack. */
static __always_inline int pp_src_admit(__u32 scope, const struct pp_pkt *p,
					const struct pp_limit *pkt,
					const struct pp_limit *byte,
					__u64 *now)
{
	struct pp_src_way *tmp = bpf_map_lookup_elem(&pp_scratch, &pp_key0);
	struct pp_src_state *st;
	int ok;

	if (!tmp)
		return 1;
	tmp->key.scope = scope;
	tmp->key.addr = p->src;
	st = bpf_map_lookup_elem(&pp_src_limits, &tmp->key);
	if (!st) {
		__builtin_memset(&tmp->st, 0, sizeof(tmp->st));
		pp_bucket_fill(&tmp->st.bucket, pp_now(now), pkt, byte);
		ok = pp_bucket_admit(&tmp->st.bucket, *now, p->len, pkt, byte);
		tmp->st.packets = 1;
		tmp->st.bytes = p->len;
		tmp->st.drops = !ok;
		bpf_map_update_elem(&pp_src_limits, &tmp->key, &tmp->st, BPF_ANY);
		return ok;
	}
	/* Plain increments: the entry is shared by CPUs, and a lost update
	 * only blurs a top-talker ranking; atomics would cost every packet. */
	st->packets += 1;
	st->bytes += p->len;
	ok = pp_bucket_admit(&st->bucket, pp_now(now), p->len, pkt, byte);
	if (!ok)
		st->drops += 1;
	return ok;
}

/* The backend bucket is per CPU so CPUs never contend for it; each CPU
 * gets the share user space wrote (rate / CPUs), which under-admits when
 * RSS is skewed. */
static __always_inline int pp_global_admit(const struct pp_service *svc,
					   const struct pp_pkt *p, __u64 *now)
{
	__u32 backend = svc->backend;
	struct pp_bucket *b;

	b = bpf_map_lookup_elem(&pp_global_bkt, &backend);
	if (!b)
		return 1;
	if (!b->last_ns)
		pp_bucket_fill(b, pp_now(now), &svc->glob_pkt, &svc->glob_byte);
	return pp_bucket_admit(b, pp_now(now), p->len, &svc->glob_pkt,
			       &svc->glob_byte);
}

/* New connections per source: a SYN takes a token from the source's
 * connection bucket (the backend's pp_l7_cfg.conn); 1 to admit. */
static __always_inline int pp_conn_admit(const struct pp_service *svc,
					 const struct pp_pkt *p, __u64 *now)
{
	struct pp_limit none = {};
	struct pp_l7_cfg *l7;
	__u32 backend = svc->backend;

	l7 = bpf_map_lookup_elem(&pp_l7_cfgs, &backend);
	if (!l7 || !l7->conn.rate)
		return 1;
	return pp_src_admit(PP_SCOPE_CONN | backend, p, &l7->conn, &none, now);
}

enum pp_rules_outcome {
	PP_RULES_CONTINUE = 0,	/* no deciding rule: apply the buckets */
	PP_RULES_DECIDED = 1,	/* verdict set */
};

/* Evaluates the backend's rules in priority order. Only rules whose
 * protocol and source-set masks admit the packet are looked at, so a
 * packet no rule can match costs a few ALU ops.
 * LOG rules only set their bit in *logged; the caller emits their events
 * with the final verdict.
 * A global function: the verifier checks it once, on its own, instead of
 * once per path of the caller that reaches it. */
__noinline int pp_run_rules(const struct pp_ruleset *rs,
			    const struct pp_pkt *p, struct pp_verdict *v,
			    __u64 *logged, __u64 *now)
{
	struct pp_limit limit = {}, none = {};
	const struct pp_rule *r;
	__u64 src_bits, cand;
	__u32 count, action = PP_ACT_NONE, slot = PP_NO_RULE;
	int i, k;

	if (!rs || !p || !v || !logged || !now)
		return PP_RULES_CONTINUE;
	count = rs->count;
	src_bits = p->src_sets;

	cand = rs->unsourced;
	for (k = 0; k < PP_MAX_SOURCE_SETS && src_bits; k++) {
		cand |= rs->by_set[pp_ctz64(src_bits) & (PP_MAX_SOURCE_SETS - 1)];
		src_bits &= src_bits - 1;
	}
	src_bits = p->src_sets;
	cand &= rs->by_proto[p->pclass & (PP_PROTO_CLASSES - 1)];
	if (count < PP_MAX_RULES)
		cand &= (1ull << count) - 1;

	/* Candidates lowest first: the rules' priority order. */
	for (k = 0; k < PP_MAX_RULES && cand; k++) {
		i = pp_ctz64(cand) & (PP_MAX_RULES - 1);
		cand &= cand - 1;
		r = &rs->rules[i];
		if (r->src_none & src_bits)
			continue;
		if (!pp_rule_ports(r, p))
			continue;
		if ((r->flags & PP_RULE_TCP_FLAGS) &&
		    (p->proto != IPPROTO_TCP || !p->has_ports ||
		     (p->tcp_flags & r->tcp_flags_mask) != r->tcp_flags_value))
			continue;

		pp_count_rule(r, p, now);
		if (r->action == PP_ACT_LOG) {
			*logged |= 1ull << i;
			continue;
		}
		if (r->action == PP_ACT_NONE)
			continue;
		action = r->action;
		slot = r->stats_slot;
		limit = r->limit;
		break;
	}

	v->rule_slot = slot;
	switch (action) {
	case PP_ACT_ALLOW:
		v->action = XDP_PASS;
		v->reason = PP_REASON_RULE_ALLOW;
		return PP_RULES_DECIDED;
	case PP_ACT_DROP:
		v->action = XDP_DROP;
		v->reason = PP_REASON_RULE_DROP;
		return PP_RULES_DECIDED;
	case PP_ACT_CHALLENGE:
		v->action = XDP_PASS;
		v->reason = PP_REASON_CHALLENGE;
		return PP_RULES_DECIDED;
	case PP_ACT_REDIRECT:
		v->action = XDP_PASS;
		v->reason = PP_REASON_REDIRECT;
		return PP_RULES_DECIDED;
	case PP_ACT_RATE_LIMIT:
		if (pp_src_admit(PP_SCOPE_RULE | slot, p, &limit, &none, now))
			return PP_RULES_CONTINUE;
		v->action = XDP_DROP;
		v->reason = PP_REASON_RULE_RATELIMIT;
		return PP_RULES_DECIDED;
	default:
		return PP_RULES_CONTINUE;
	}
}

/* One event per LOG rule that matched, carrying the final verdict. */
__noinline int pp_log_rules(const struct pp_ruleset *rs,
			    const struct pp_pkt *p,
			    const struct pp_verdict *v, __u64 logged)
{
	struct pp_verdict lv;
	int i;

	if (!rs || !p || !v)
		return 0;
	lv = *v;

	for (i = 0; i < PP_MAX_RULES; i++) {
		if (!(logged >> i))
			break;
		if (!((logged >> i) & 1))
			continue;
		lv.rule_slot = rs->rules[i].stats_slot;
		pp_event(p, &lv, PP_EVENT_LOG);
	}
	return 0;
}

/* Whether the source holds an open session with the backend; refreshes it
 * once it is half used, so a busy session costs a write per half-life. */
static __always_inline int pp_l7_session(const struct pp_src_key *key,
					 __u64 session_ns, __u64 *now)
{
	__u64 *until = bpf_map_lookup_elem(&pp_l7_sessions, key);

	if (!until || *until <= pp_now(now))
		return 0;
	if (*until - *now < session_ns / 2)
		*until = *now + session_ns;
	return 1;
}

/* What pp_conn_slot does with a client port's slot. */
enum pp_conn_op {
	PP_CONN_TAKE = 0,	/* a new connection: admitted if the source has room */
	PP_CONN_TOUCH = 1,	/* a sign of life: the connection keeps its slot */
	PP_CONN_FREE = 2,	/* the connection ended */
};

/*
 * maxConnectionsPerIp: the connections a source holds to a backend, one
 * slot per client port in pp_conns (fk names backend, source and port). TAKE admits (1) a port that holds a
 * live slot, or takes a free one while fewer than cfg->max_conns are live, else
 * refuses (0); TOUCH refreshes the port's slot; FREE releases it.
 *
 * Slots with a last-seen time rather than a counter: a counter leaks each
 * time a close goes unseen (a client gone without FIN, a server's RST, an
 * evicted flow entry, a RakNet client that never says goodbye), and leaked
 * counts would lock the source out for good. A slot lapses the backend's
 * session_ns after its connection was last seen instead, so an unseen
 * close costs the source one connection for at most that long. The price:
 * PP_CONN_SLOTS is the highest limit, a live connection must be touched
 * within session_ns (Minecraft Java keep-alives come every 15-20 s, RakNet
 * pings every few seconds), and a connection silent for longer (a TCP
 * connection opened and never used) stops counting.
 * Unlocked: CPUs racing for one source's slots may lose a take or a free,
 * so at worst one connection more is admitted or a slot lapses instead of
 * being freed. A global function: its slot loop is verified once.
 */
/* The scan of a source's slots, under bpf_loop: unrolled, every slot's
 * three outcomes would multiply the verifier's states 3^PP_CONN_SLOTS. */
struct pp_conn_scan {
	struct pp_src_key key;
	struct pp_conn_slots *cs;
	__u64 t;
	__u64 ttl;
	__u32 port;
	__u32 live;
	__u32 mine;	/* the port's live slot, or PP_CONN_SLOTS */
	__u32 free;	/* the first lapsed or free slot, or PP_CONN_SLOTS */
};

static long pp_conn_scan_step(__u32 i, void *data)
{
	struct pp_conn_scan *sc = data;
	struct pp_conn_slots *cs = sc->cs;
	__u64 last;

	if (i >= PP_CONN_SLOTS || !cs)
		return 1;
	last = cs->last_ns[i];
	/* Written as a sum: another CPU may have stamped the slot a tick
	 * later than this CPU's clock reads. */
	if (!last || last + sc->ttl <= sc->t) {
		if (sc->free == PP_CONN_SLOTS)
			sc->free = i;
	} else if (cs->ports[i] == sc->port) {
		sc->mine = i;
	} else {
		sc->live += 1;
	}
	return 0;
}

/* A source's first connection starts from this, not a stack copy: the
 * stack of pp_xdp and its callees must stay within 512 bytes. */
static const struct pp_conn_slots pp_conn_none;

__noinline int pp_conn_slot(const struct pp_flow_key *fk,
			    const struct pp_l7_cfg *cfg, __u32 op, __u64 *now)
{
	struct pp_conn_scan sc = {
		.mine = PP_CONN_SLOTS,
		.free = PP_CONN_SLOTS,
	};
	__u32 i;

	if (!fk || !cfg || !now)
		return 1;
	sc.key.scope = fk->backend;
	sc.key.addr = fk->src;
	sc.port = fk->sport;
	sc.t = pp_now(now);
	sc.ttl = cfg->session_ns;
	sc.cs = bpf_map_lookup_elem(&pp_conns, &sc.key);
	if (!sc.cs) {
		if (op != PP_CONN_TAKE)
			return 1;
		bpf_map_update_elem(&pp_conns, &sc.key, &pp_conn_none,
				    BPF_NOEXIST);
		sc.cs = bpf_map_lookup_elem(&pp_conns, &sc.key);
		if (!sc.cs)
			return 1;
	}
	bpf_loop(PP_CONN_SLOTS, pp_conn_scan_step, &sc, 0);
	i = sc.mine;
	if (i < PP_CONN_SLOTS) {
		sc.cs->last_ns[i] = op == PP_CONN_FREE ? 0 : sc.t;
		return 1;
	}
	if (op != PP_CONN_TAKE)
		return 1;
	i = sc.free;
	if (sc.live >= cfg->max_conns || i >= PP_CONN_SLOTS)
		return 0;
	sc.cs->ports[i] = sc.port;
	sc.cs->last_ns[i] = sc.t;
	return 1;
}

/* The backend's protocol checks for a UDP datagram whose payload starts
 * off bytes into the packet: 0 to pass, else the drop reason. A global
 * function with the packet re-read from ctx, verified once. */
__noinline int pp_l7_check(struct xdp_md *ctx, const struct pp_pkt *p,
			   const struct pp_service *svc, __u64 *now)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct pp_src_key key = {};
	struct pp_flow_key fk = {};
	struct pp_l7_cfg *cfg;
	const __u8 *pos;
	__u64 until;
	__u32 backend, len, off, validate;
	int class;

	if (!p || !svc || !now || p->l7_off > PP_L7_MAX_OFF)
		return 0;
	off = p->l7_off;
	backend = svc->backend;
	cfg = bpf_map_lookup_elem(&pp_l7_cfgs, &backend);
	if (!cfg)
		return 0;
	pos = data + off;
	len = p->payload_len;
	key.scope = backend;
	key.addr = p->src;
	fk.backend = backend;
	fk.sport = p->sport;
	fk.src = p->src;

	/* Sessions per source count client ports: each RakNet connection
	 * starts with its own request 2 and ends with a disconnection
	 * notification, or lapses. */
	if (svc->l7 == PP_L7_RAKNET &&
	    ((cfg->flags & PP_L7F_RAKNET) || cfg->max_conns)) {
		validate = cfg->flags & PP_L7F_RAKNET;
		class = pp_raknet_class(pos, end, len);
		if (class < 0)
			return validate ? PP_REASON_RAKNET : 0;
		if (class == PP_RAKNET_CONNECTED) {
			if (validate &&
			    !pp_l7_session(&key, cfg->session_ns, now))
				return PP_REASON_RAKNET;
			if (cfg->max_conns)
				pp_conn_slot(&fk, cfg,
					     pp_raknet_disconnect(pos, end, len) ?
						     PP_CONN_FREE : PP_CONN_TOUCH,
					     now);
			return 0;
		}
		if (class == PP_RAKNET_REQ2) {
			if (cfg->max_conns &&
			    !pp_conn_slot(&fk, cfg, PP_CONN_TAKE, now))
				return PP_REASON_MAX_CONNS;
			if (!validate)
				return 0;
			until = pp_now(now) + cfg->session_ns;
			bpf_map_update_elem(&pp_l7_sessions, &key, &until,
					    BPF_ANY);
		}
		return 0;
	}
	if (svc->l7 == PP_L7_QUIC && (cfg->flags & PP_L7F_QUIC)) {
		class = pp_quic_class(pos, end, len, cfg->quic_versions,
				      cfg->nr_quic_versions);
		if (class < 0)
			return PP_REASON_QUIC;
		if (class == PP_QUIC_SESSION &&
		    !pp_l7_session(&key, cfg->session_ns, now))
			return PP_REASON_QUIC;
		if (class == PP_QUIC_INITIAL) {
			until = pp_now(now) + cfg->session_ns;
			bpf_map_update_elem(&pp_l7_sessions, &key, &until,
					    BPF_ANY);
		}
	}
	return 0;
}

/* Bans the source for ban_ns in pp_dyn_bans, the program's own bans, and
 * voids the source's cached verdict for this backend so its next packet
 * finds the ban; other backends see it within PP_CACHE_TTL_NS. */
static __always_inline void pp_dyn_ban(const struct pp_pkt *p,
				       struct pp_src_state *st, __u64 ban_ns,
				       __u64 *now)
{
	struct pp_state *state;
	__u64 until;

	if (!ban_ns)
		return;
	until = pp_now(now) + ban_ns;
	bpf_map_update_elem(&pp_dyn_bans, &p->src, &until, BPF_ANY);
	state = bpf_map_lookup_elem(&pp_state, &pp_key0);
	if (state && !state->dyn_bans)
		state->dyn_bans = 1;
	if (st)
		st->cache = 0;
}

/* Whether the Minecraft Java flow of key, if any, is the connection whose
 * first data comes at first_seq; the flow of an earlier connection from
 * that client port (port reuse, NAT) is forgotten, so the new one is
 * checked from the start. */
static __always_inline int pp_mc_same_flow(const struct pp_flow_key *key,
					   __u32 first_seq)
{
	struct pp_mc_flow *fl = bpf_map_lookup_elem(&pp_mc_flows, key);

	if (fl && fl->seq == first_seq)
		return 1;
	if (fl)
		bpf_map_delete_elem(&pp_mc_flows, key);
	return 0;
}

/* Opens a pending Minecraft Java connection, as its SYN would have (see
 * pp_mc_check): the ACK returning a cookie comes at the sequence number of
 * the connection's first data. */
static __always_inline void pp_mc_open(const struct pp_service *svc,
				       const struct pp_pkt *p, __u64 *now)
{
	struct pp_flow_key key = {
		.backend = svc->backend,
		.sport = p->sport,
		.src = p->src,
	};
	__u64 syn = pp_now(now);

	if (!pp_mc_same_flow(&key, p->tcp_seq))
		bpf_map_update_elem(&pp_mc_syns, &key, &syn, BPF_NOEXIST);
}

/* maxConnectionsPerIp for a TCP segment to a Minecraft Java backend: 0 to
 * pass, else the drop reason. A connection's opening segment (its SYN, or
 * at HIGH and up the ACK returning a valid SYN cookie, since XDP answered
 * the SYN itself) takes one of the source's slots (pp_conn_slot) or is
 * refused; the client's FIN or RST releases its port's slot; other
 * segments of a flow in pp_mc_flows keep it, touched at most once per half
 * session (fl->last_ns). A pending flow's slot was stamped
 * by its SYN moments before.
 * Apart from pp_mc_check, and called before it, for the stack: pp_xdp,
 * pp_mc_check and pp_conn_slot together would pass the 512 bytes BPF
 * allows. The price is a second pp_mc_flows lookup per segment, and only
 * for backends with a limit. */
__noinline int pp_mc_conns(const struct pp_pkt *p,
			   const struct pp_service *svc, __u64 *now, int opening)
{
	struct pp_flow_key key = {};
	struct pp_l7_cfg *cfg;
	struct pp_mc_flow *fl;
	__u32 backend;

	if (!p || !svc || !now)
		return 0;
	backend = svc->backend;
	cfg = bpf_map_lookup_elem(&pp_l7_cfgs, &backend);
	if (!cfg || !cfg->max_conns)
		return 0;
	key.backend = backend;
	key.sport = p->sport;
	key.src = p->src;

	if (opening)
		return pp_conn_slot(&key, cfg, PP_CONN_TAKE, now) ?
			       0 : PP_REASON_MAX_CONNS;
	if (p->tcp_flags & (PP_TCP_FIN | PP_TCP_RST)) {
		pp_conn_slot(&key, cfg, PP_CONN_FREE, now);
		return 0;
	}
	fl = bpf_map_lookup_elem(&pp_mc_flows, &key);
	if (fl && fl->last_ns + cfg->session_ns / 2 <= pp_now(now)) {
		fl->last_ns = *now;
		pp_conn_slot(&key, cfg, PP_CONN_TOUCH, now);
	}
	return 0;
}

/* A TCP segment to a Minecraft Java backend: 0 to pass, else the drop
 * reason. A SYN (without payload) opens a pending connection; a segment of
 * a connection never opened drops; its first data must be a valid
 * handshake (and what follows it), which moves it to pp_mc_flows and, once
 * complete, to the fast path. An invalid handshake bans the source. The
 * first data sent again (a TCP retransmission: the copy this program passed
 * was lost further on) is checked as the first data again, not as what
 * follows it. With max_conns and no validation the flows are tracked all the same:
 * pp_mc_conns keeps the slots of flows in pp_mc_flows alive. */
__noinline int pp_mc_check(struct xdp_md *ctx, const struct pp_pkt *p,
			   const struct pp_service *svc,
			   struct pp_src_state *st, __u64 *now)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct pp_flow_key key = {};
	struct pp_mc_flow flow = {};
	struct pp_mc_flow *fl;
	__u64 syn;
	struct pp_l7_cfg *cfg;
	const __u8 *pos;
	__u32 backend, off, validate;
	int next;

	if (!p || !svc || !now || p->l7_off > PP_L7_MAX_OFF)
		return 0;
	off = p->l7_off;
	backend = svc->backend;
	cfg = bpf_map_lookup_elem(&pp_l7_cfgs, &backend);
	if (!cfg)
		return 0;
	validate = cfg->flags & PP_L7F_MC_JAVA;
	if (!validate && !cfg->max_conns)
		return 0;
	key.backend = backend;
	key.sport = p->sport;
	key.src = p->src;

	if (p->tcp_flags & PP_TCP_SYN) {
		if ((p->tcp_flags & PP_TCP_ACK) || p->payload_len)
			return validate ? PP_REASON_INVALID : 0;
		/* A late copy of the flow's own SYN changes nothing. */
		pp_mc_same_flow(&key, p->tcp_seq + 1);
		syn = pp_now(now);
		bpf_map_update_elem(&pp_mc_syns, &key, &syn, BPF_ANY);
		return 0;
	}
	fl = bpf_map_lookup_elem(&pp_mc_flows, &key);
	if (!fl && !bpf_map_lookup_elem(&pp_mc_syns, &key))
		return validate ? PP_REASON_INVALID : 0;
	if (fl && (fl->state == PP_MC_VALID || !p->payload_len ||
		   (p->tcp_flags & PP_TCP_RST)))
		return 0;
	if (!fl && (!p->payload_len || (p->tcp_flags & PP_TCP_RST)))
		return 0;
	pos = data + off;
	if (!validate)
		next = PP_MC_VALID;
	else if (fl && p->tcp_seq != fl->seq)
		next = pp_mc_next(pos, end, p->payload_len, fl->state);
	else
		next = pp_mc_first(pos, end, p->payload_len, cfg->mc_min_proto,
				   cfg->mc_max_proto,
				   cfg->flags & PP_L7F_MC_LEGACY);
	if (next < 0) {
		pp_dyn_ban(p, st, cfg->ban_ns, now);
		return PP_REASON_MC_HANDSHAKE;
	}
	if (fl) {
		fl->state = next;
		fl->last_ns = pp_now(now);
		return 0;
	}
	flow.state = next;
	flow.seq = p->tcp_seq;
	flow.last_ns = pp_now(now);
	bpf_map_update_elem(&pp_mc_flows, &key, &flow, BPF_ANY);
	bpf_map_delete_elem(&pp_mc_syns, &key);
	return 0;
}

/* The traffic class of a packet in its backend's counters (pp_abi.h,
 * struct pp_backend_ctr), or NULL for none. */
static __always_inline struct pp_class_ctr *
pp_class_of(struct pp_backend_ctr *bc, const struct pp_pkt *p)
{
	if (p->frag)
		return &bc->frag;
	switch (p->pclass) {
	case PP_PCLASS_TCP:
		return (p->tcp_flags & (PP_TCP_SYN | PP_TCP_ACK)) == PP_TCP_SYN ?
			       &bc->syn : &bc->ack;
	case PP_PCLASS_UDP:
		return &bc->udp;
	case PP_PCLASS_ICMP:
		return &bc->icmp;
	default:
		return NULL;
	}
}

/* The service a packet is for: by the port index when it knows (pp_abi.h,
 * "Service index"), else by pp_services, the exact address before any. */
static __always_inline const struct pp_service *
pp_service_of(const struct pp_pkt *p)
{
	struct pp_service_key sk = {};
	const struct pp_service *svc;
	const struct pp_svc_slot *slot;
	const __be32 *a;
	__u32 key, *idx;

	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
		key = (p->proto == IPPROTO_UDP ? PP_PORT_UDP : 0) + p->dport;
		idx = bpf_map_lookup_elem(&pp_svc_ports, &key);
		if (idx && *idx == PP_PORT_NONE)
			return NULL;
		if (idx && *idx) {
			key = *idx - 1;
			slot = bpf_map_lookup_elem(&pp_svc_slots, &key);
			if (!slot)
				return NULL;
			a = slot->key.addr.words;
			if (!(a[0] | a[1] | a[2] | a[3]) ||
			    (a[0] == p->dst.words[0] && a[1] == p->dst.words[1] &&
			     a[2] == p->dst.words[2] && a[3] == p->dst.words[3]))
				return &slot->svc;
			return NULL;
		}
	}
	sk.addr = p->dst;
	sk.port = p->dport;
	sk.proto = p->proto;
	svc = bpf_map_lookup_elem(&pp_services, &sk);
	if (!svc) {
		__builtin_memset(&sk.addr, 0, sizeof(sk.addr));
		svc = bpf_map_lookup_elem(&pp_services, &sk);
	}
	return svc;
}

SEC("xdp")
int pp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct pp_verdict v = {
		.action = XDP_PASS,
		.reason = PP_REASON_PASS,
		.rule_slot = PP_NO_RULE,
	};
	struct pp_cursor c = { .pos = data };
	const struct pp_service *svc = NULL;
	const struct pp_ruleset *rs = NULL;
	struct pp_pkt p = {};
	struct pp_config *cfg;
	struct ipv6hdr *ip6h;
	struct iphdr *iph;
	struct ethhdr *eth;
	struct pp_ipv6_opt_hdr *ext;
	struct tcphdr *th;
	struct udphdr *uh;
	struct icmphdr *icmph;
	struct icmp6hdr *icmp6h;
	struct pp_ctr *rc;
	struct pp_backend_ctr *bc;
	struct pp_class_ctr *cc;
	struct pp_src_way *way = NULL;
	struct pp_src_state *st = NULL;
	__u32 l4_len, flags, rkey, reason, gen, lists, tag = 0;
	__u32 cookie_ok = 0, rst = 0, opening;
	__u64 now = 0, logged = 0, until = 0;
	int eth_type, proto;
	__u8 *refl;

	p.len = ctx->data_end - ctx->data;
	cfg = bpf_map_lookup_elem(&pp_config, &pp_key0);
	if (!cfg)
		goto out;

	eth_type = parse_ethhdr(&c, end, &eth, &p.vlan);
	if (eth_type < 0)
		goto invalid;
	if (eth_type == ETH_P_IP) {
		proto = parse_iphdr(&c, end, &iph);
		if (proto < 0)
			goto invalid;
		p.src.words[2] = bpf_htonl(0xffff);
		p.src.words[3] = iph->saddr;
		p.dst.words[2] = bpf_htonl(0xffff);
		p.dst.words[3] = iph->daddr;
		l4_len = bpf_ntohs(iph->tot_len) - iph->ihl * 4;
		if (bpf_ntohs(iph->frag_off) & PP_IP_OFFSET)
			p.frag = PP_FRAG_LATER;
		else if (bpf_ntohs(iph->frag_off) & PP_IP_MF)
			p.frag = PP_FRAG_FIRST;
	} else if (eth_type == ETH_P_IPV6) {
		proto = parse_ip6hdr(&c, end, &ip6h);
		if (proto < 0)
			goto invalid;
		__builtin_memcpy(p.src.words, &ip6h->saddr, sizeof(p.src));
		__builtin_memcpy(p.dst.words, &ip6h->daddr, sizeof(p.dst));
		p.is_v6 = 1;
		l4_len = 0;
		proto = parse_ip6_ext(&c, end, proto, &p.frag, &l4_len, &ext);
		if (proto < 0 || l4_len > bpf_ntohs(ip6h->payload_len))
			goto invalid;
		l4_len = bpf_ntohs(ip6h->payload_len) - l4_len;
	} else {
		v.reason = PP_REASON_NON_IP;
		goto out;
	}
	p.proto = proto;

	switch (proto) {
	case IPPROTO_TCP:
		p.pclass = PP_PCLASS_TCP;
		if (p.frag == PP_FRAG_LATER)
			break;
		if (parse_tcphdr(&c, end, l4_len, &th) < 0)
			goto invalid;
		p.sport = bpf_ntohs(th->source);
		p.dport = bpf_ntohs(th->dest);
		p.tcp_flags = ((__u8 *)th)[13];
		p.tcp_seq = bpf_ntohl(th->seq);
		p.has_ports = 1;
		p.payload_len = l4_len - th->doff * 4;
		p.l7_off = c.pos - data;
		break;
	case IPPROTO_UDP:
		p.pclass = PP_PCLASS_UDP;
		if (p.frag == PP_FRAG_LATER)
			break;
		/* A first fragment's UDP length is the reassembled datagram's,
		 * larger than this fragment carries. */
		if (parse_udphdr(&c, end, p.frag == PP_FRAG_FIRST ? 0xffff : l4_len,
				 &uh) < 0)
			goto invalid;
		p.sport = bpf_ntohs(uh->source);
		p.dport = bpf_ntohs(uh->dest);
		p.has_ports = 1;
		p.payload_len = bpf_ntohs(uh->len) - sizeof(*uh);
		p.l7_off = c.pos - data;
		break;
	case IPPROTO_ICMP:
		p.pclass = p.is_v6 ? PP_PCLASS_OTHER : PP_PCLASS_ICMP;
		if (p.frag == PP_FRAG_LATER || p.is_v6)
			break;
		if (parse_icmphdr(&c, end, l4_len, &icmph) < 0)
			goto invalid;
		break;
	case IPPROTO_ICMPV6:
		p.pclass = p.is_v6 ? PP_PCLASS_ICMP : PP_PCLASS_OTHER;
		if (p.frag == PP_FRAG_LATER || !p.is_v6)
			break;
		if (parse_icmp6hdr(&c, end, l4_len, &icmp6h) < 0)
			goto invalid;
		break;
	default:
		p.pclass = PP_PCLASS_OTHER;
		break;
	}

	/* Never lock the owner out: admin networks reach the management
	 * ports whatever else is configured. Later fragments carry no port,
	 * so an admin source is enough for them. */
	if ((p.proto == IPPROTO_TCP && p.has_ports &&
	     pp_is_mgmt_port(cfg, p.dport)) ||
	    p.frag == PP_FRAG_LATER) {
		if (pp_lpm_src(&pp_mgmt_v4, &pp_mgmt_v6, &p, 0)) {
			v.reason = PP_REASON_MGMT;
			goto out;
		}
	}

	/* Read before any list lookup: a cached verdict is stamped with the
	 * generation it was computed against, never a newer one. */
	gen = cfg->list_gen;

	/* Looked up before the lists because backend-scoped entries and the
	 * per-source cache need the backend; verdicts keep the order allow,
	 * ban, block, service. */
	svc = pp_service_of(&p);

	if (svc) {
		v.backend = svc->backend;
		lists = pp_src_lists(cfg, svc, &p, gen, &now, &way, &tag,
				     &until);
		if (way) {
			st = &way->st;
			st->packets += 1;
			st->bytes += p.len;
		}
	} else {
		lists = pp_global_lists(&p, cfg, &now, &until);
	}

	if (lists & PP_CACHE_ALLOW) {
		v.reason = PP_REASON_ALLOW;
		goto out;
	}
	if (lists & PP_CACHE_BAN) {
		v.action = XDP_DROP;
		v.reason = PP_REASON_BAN;
		goto out;
	}
	if (lists & PP_CACHE_BLOCK) {
		v.action = XDP_DROP;
		v.reason = PP_REASON_BLOCK;
		goto out;
	}

	if (!svc) {
		v.reason = PP_REASON_NO_SERVICE;
		goto out;
	}
	flags = svc->flags;

	if (p.frag && (flags & PP_SVC_DROP_FRAGMENTS)) {
		v.action = XDP_DROP;
		v.reason = PP_REASON_FRAGMENT;
		goto out;
	}
	if ((flags & PP_SVC_DROP_INVALID) && pp_is_bogus(&p)) {
		v.action = XDP_DROP;
		v.reason = PP_REASON_INVALID;
		goto out;
	}
	if ((flags & PP_SVC_DROP_REFLECTION) && p.proto == IPPROTO_UDP &&
	    p.has_ports) {
		rkey = p.sport;
		refl = bpf_map_lookup_elem(&pp_reflect_ports, &rkey);
		if (refl && *refl) {
			v.action = XDP_DROP;
			v.reason = PP_REASON_REFLECTION;
			goto out;
		}
	}

	if (svc->ruleset != PP_NO_RULESET) {
		rs = bpf_map_lookup_elem(&pp_rulesets, &svc->ruleset);
		if (rs && rs->count) {
			/* Source sets are looked up only for rule sets that
			 * read them, once per source and list generation. */
			if ((rs->flags & PP_RS_NEEDS_SOURCE) &&
			    !(lists & PP_CACHE_SETS)) {
				p.src_sets = pp_src_sets(&p, cfg);
				/* The lists said nothing (an allow, ban or
				 * block went out above): that verdict and its
				 * end, with the sets, written whole. */
				if (way)
					pp_src_store(way, tag, gen,
						     PP_CACHE_VALID | PP_CACHE_SETS,
						     until, p.src_sets);
			}
			if (pp_run_rules(rs, &p, &v, &logged, &now) ==
			    PP_RULES_DECIDED)
				goto out;
		}
	}
	v.action = XDP_PASS;
	v.reason = PP_REASON_PASS;

	/* A bucket is filled when first used, so a source first seen while
	 * the level had no per-source limit does not start empty. */
	if ((flags & PP_SVC_SRC_LIMIT) && st) {
		if (!st->bucket.last_ns)
			pp_bucket_fill(&st->bucket, pp_now(&now), &svc->src_pkt,
				       &svc->src_byte);
		if (!pp_bucket_admit(&st->bucket, pp_now(&now), p.len,
				     &svc->src_pkt, &svc->src_byte)) {
			st->drops += 1;
			v.action = XDP_DROP;
			v.reason = PP_REASON_RATELIMIT;
			goto out;
		}
	}
	if ((flags & PP_SVC_GLOBAL_LIMIT) &&
	    !pp_global_admit(svc, &p, &now)) {
		v.action = XDP_DROP;
		v.reason = PP_REASON_GLOBAL_RATELIMIT;
		goto out;
	}
	if ((flags & PP_SVC_SYN_COOKIES) && p.proto == IPPROTO_TCP &&
	    p.has_ports && !p.frag) {
		switch (pp_syncookie(ctx, p.len, p.is_v6, p.tcp_flags)) {
		case PP_SYN_ANSWERED:
			/* Stateless: a spoofed SYN costs no connection bucket;
			 * new connections are counted at their cookie ACK. */
			v.action = XDP_TX;
			v.reason = PP_REASON_SYN_COOKIE;
			goto out;
		case PP_SYN_BAD:
			v.action = XDP_DROP;
			v.reason = PP_REASON_COOKIE_BAD;
			goto out;
		case PP_SYN_COOKIE_OK:
			cookie_ok = 1;
			break;
		}
	}
	/* New connections per source: at the SYN, or where XDP answered the
	 * SYN, at the ACK that returns a valid cookie (a source that really
	 * holds the address). */
	opening = p.proto == IPPROTO_TCP &&
		  (cookie_ok ||
		   (p.tcp_flags & (PP_TCP_SYN | PP_TCP_ACK)) == PP_TCP_SYN);
	if ((flags & PP_SVC_CONN_LIMIT) && opening &&
	    !pp_conn_admit(svc, &p, &now)) {
		v.reason = PP_REASON_CONN_RATELIMIT;
		goto refuse;
	}
	if ((flags & PP_SVC_L7_VALIDATE) && p.l7_off && !p.frag) {
		reason = 0;
		if (p.proto == IPPROTO_UDP &&
		    (svc->l7 == PP_L7_RAKNET || svc->l7 == PP_L7_QUIC))
			reason = pp_l7_check(ctx, &p, svc, &now);
		else if (p.proto == IPPROTO_TCP &&
			 svc->l7 == PP_L7_MINECRAFT_JAVA) {
			reason = pp_mc_conns(&p, svc, &now, opening);
			if (reason) {
				v.reason = reason;
				goto refuse;
			}
			/* The SYN never reached pp_mc_check: the cookie opens
			 * the connection for the handshake checks instead. */
			if (cookie_ok)
				pp_mc_open(svc, &p, &now);
			reason = pp_mc_check(ctx, &p, svc, st, &now);
		}
		if (reason) {
			v.action = XDP_DROP;
			v.reason = reason;
			goto out;
		}
	}
	if (cookie_ok)
		v.reason = PP_REASON_COOKIE_ACK;
	goto out;

refuse:
	/* A connection refused at its SYN is a drop (the client sends the SYN
	 * again); at its cookie ACK, the ACK is dropped all the same, counted
	 * so, and the client gets the listener's RST in its place. */
	v.action = XDP_DROP;
	rst = cookie_ok && !pp_syn_refuse(ctx, p.len, p.is_v6);
	goto out;

invalid:
	v.action = XDP_DROP;
	v.reason = PP_REASON_INVALID;
out:
	reason = v.reason;
	rc = bpf_map_lookup_elem(&pp_reason_ctrs, &reason);
	if (rc) {
		rc->packets += 1;
		rc->bytes += p.len;
	}
	if (v.backend) {
		bc = bpf_map_lookup_elem(&pp_backend_ctrs, &v.backend);
		if (bc) {
			bc->rx_packets += 1;
			bc->rx_bytes += p.len;
			/* A SYN answered from XDP never reaches the backend. */
			if (v.action != XDP_PASS) {
				bc->drop_packets += 1;
				bc->drop_bytes += p.len;
			} else {
				bc->pass_packets += 1;
				bc->pass_bytes += p.len;
			}
			cc = pp_class_of(bc, &p);
			if (cc) {
				cc->packets += 1;
				cc->drops += v.action == XDP_DROP;
			}
		}
	}
	if (logged && rs)
		pp_log_rules(rs, &p, &v, logged);
	if (v.action == XDP_DROP && cfg && cfg->sample_rate &&
	    bpf_get_prandom_u32() % cfg->sample_rate == 0)
		pp_event(&p, &v, PP_EVENT_SAMPLE);
	return rst ? XDP_TX : v.action;
}

char LICENSE[] SEC("license") = "GPL";
