/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pp_abi.h - the kernel/user ABI of the PistonProtection data plane.
 *
 * Contract: every struct, enum, flag bit and map name shared with user space
 * lives here and nowhere else; src/dataplane/abi.ts mirrors it and
 * test/bpf/abi.test.ts compares the two through the BTF of pp_xdp.o.
 *
 * Byte order: addresses are stored in network byte order inside a 16-byte
 * struct pp_addr (IPv4 as v4-mapped ::ffff:a.b.c.d). Ports, counters,
 * rates and times are host byte order. Times are CLOCK_MONOTONIC
 * nanoseconds (bpf_ktime_get_ns), 0 meaning "never expires".
 *
 * Prefix lists: pp_allow_*, pp_block_* and pp_srcset_* are exact-match hash
 * maps keyed by (prefix length, scope, address with the host bits cleared),
 * one table per family. User space publishes the lengths each list holds
 * (in any scope) in pp_config.*_lens; the program probes only those lengths,
 * longest first, and the first key present decides: longest-prefix match
 * by tuple-space search. A length bit may be set with no entry of that
 * length (a wasted probe), never the reverse: write the entries, then the
 * lengths. Likewise PP_CFG_BANS in pp_config.flags: pp_bans is probed only
 * while it is set.
 *
 * IPv4 summaries: pp_allow_v4_sum and pp_block_v4_sum hold two bits per
 * /24 of the address space (PP_SUM_PER_WORD to a __u64, /24 n in word
 * n / PP_SUM_PER_WORD at bit 2 * (n % PP_SUM_PER_WORD)), saying what the
 * list's global (scope 0) entries say about every source in that /24:
 * PP_SUM_NONE, no entry matches; PP_SUM_MATCH, the longest match is a
 * permanent entry of length 24 or less; PP_SUM_PROBE, look in the hash
 * maps (an entry longer than /24 lies in it, or the longest match
 * expires). Zero is PP_SUM_PROBE, so a summary not yet written is never
 * wrong, only slower. User space writes a /24's entries before its
 * summary turns NONE or MATCH, and the summary before removing entries.
 * A flood of blocked sources costs one array read per packet, whatever
 * the size of the list.
 *
 * Service index: pp_svc_ports has one __u32 per (TCP or UDP, destination
 * port), TCP ports first (key = port, or PP_PORT_UDP + port): PP_PORT_NONE,
 * no service on that port for any address; n > 0, the port's only service
 * (for one address, or any) is in pp_svc_slots[n - 1]; 0, look in
 * pp_services (several addresses share the port, or nobody wrote the
 * index: zero is never wrong, only slower). A slot is written before an
 * index entry points at it and never rewritten while one does: a changed
 * service moves to a free slot. Other protocols always use pp_services.
 *
 * Source table: pp_src_table holds the per-(backend, source) state, one
 * array element per set of PP_SRC_WAYS ways. A key's set and tag come from
 * a keyed hash, h = seed[0] + scope * seed[1] + sum of addr.words[i] *
 * seed[2 + i] (64-bit, words as loaded), with the seeds from
 * pp_config.src_seed: set (h >> 32) & pp_config.src_set_mask, tag
 * (__u32)h | 1. A way with tag 0 is free. A new source takes a free way,
 * else the way whose cached verdict ends first (least recently refreshed).
 * The array is shared by CPUs without locks: a way's check ties its cached
 * verdict to the tag of the source that computed it (pp_src_check), so a
 * way torn by two CPUs claiming it at once never lends one source's
 * verdict to another; counters and buckets are only approximate then.
 *
 * List generation: the program caches, per (backend, source), what the
 * allow-list, bans, block-list and source sets said about a source it
 * passed, for at most PP_CACHE_TTL_NS; a source the lists drop gets no
 * per-source entry. After changing pp_allow_*, pp_bans, pp_block_* or
 * pp_srcset_*, user space increments pp_config.list_gen so the change
 * applies from the next packet; without the bump it applies within
 * PP_CACHE_TTL_NS. Expiries need no bump: a cached answer never outlives
 * the entries it came from.
 *
 * Enums that name flag bits or indexes are used as the BTF type of the field
 * or map key they describe, so they reach the object's BTF and are checked.
 * One-byte enums are packed so they fit u8 fields.
 */
#ifndef PP_ABI_H
#define PP_ABI_H

#include <linux/types.h>

#define PP_PACKED_ENUM __attribute__((packed))

/* Hard limits of the program; map sizes are configuration, not these. */
#define PP_MAX_RULES 64		/* rules evaluated per backend */
#define PP_RULE_PORT_RANGES 4	/* destination port ranges per rule */
#define PP_MAX_SOURCE_SETS 64	/* bits in a source-set mask */
#define PP_MGMT_PORTS 8		/* management TCP ports in pp_config */
#define PP_PROTO_CLASSES 4	/* enum pp_pclass */
#define PP_REASON_SLOTS 32	/* entries of pp_reason_ctrs */
#define PP_NO_RULESET 0xffffffffu
#define PP_NO_RULE 0xffffffffu		/* pp_event.rule_slot without a rule */
#define PP_TOKEN_SCALE 1000000000ull	/* bucket tokens are nano-tokens */
#define PP_CACHE_TTL_NS 250000000ull	/* longest life of a cached list verdict */
#define PP_LENS_V6_WORDS 3		/* u64 words for prefix lengths 0..128 */
#define PP_PORT_KEYS (2u << 16)	/* entries of pp_svc_ports */
#define PP_PORT_UDP (1u << 16)	/* first UDP key of pp_svc_ports */
#define PP_PORT_NONE 0xffffffffu	/* no service on the port (pp_svc_ports) */
#define PP_SUM_WORDS (1u << 19)	/* entries of pp_{allow,block}_v4_sum */
#define PP_SUM_PER_WORD 32	/* /24s per summary word, two bits each */
#define PP_SUM_PROBE 0		/* IPv4 summary states, see above */
#define PP_SUM_NONE 1
#define PP_SUM_MATCH 2
#define PP_SRC_WAYS 4		/* ways per set of pp_src_table */
#define PP_SRC_SEEDS 6		/* __u64 hash seeds in pp_config */

/* Default max_entries; the loader overrides them from configuration. */
#define PP_DEF_BACKENDS 1024
#define PP_DEF_RULESETS 2048
#define PP_DEF_RULE_SLOTS 65536
#define PP_DEF_LIST_ENTRIES 262144
#define PP_DEF_BANS 65536
#define PP_DEF_SRCSET_ENTRIES 262144
#define PP_DEF_SERVICES 4096
#define PP_DEF_SRC_LIMITS 131072
#define PP_DEF_SRC_SETS 32768
#define PP_DEF_MGMT_ENTRIES 256
#define PP_DEF_EVENTS_BYTES (256 * 1024)
#define PP_DEF_L7_SESSIONS 65536
#define PP_DEF_MC_FLOWS 65536
#define PP_DEF_DYN_BANS 65536
#define PP_L7_QUIC_VERSIONS 4	/* allowed QUIC versions per backend */
#define PP_CONN_SLOTS 16	/* connections tracked per source (pp_conn_slots) */
#define PP_DEF_CONN_SOURCES 32768

/* Why a packet got its verdict: index of pp_reason_ctrs, field of events. */
enum PP_PACKED_ENUM pp_reason {
	PP_REASON_PASS = 0,		/* service traffic that passed every check */
	PP_REASON_NO_SERVICE = 1,	/* IP traffic for no protected service */
	PP_REASON_NON_IP = 2,		/* not IPv4/IPv6 */
	PP_REASON_MGMT = 3,		/* management allow-list */
	PP_REASON_ALLOW = 4,		/* allow-list (global or backend) */
	PP_REASON_BAN = 5,		/* dynamic ban */
	PP_REASON_BLOCK = 6,		/* block-list (global or backend) */
	PP_REASON_RULE_ALLOW = 7,
	PP_REASON_RULE_DROP = 8,
	PP_REASON_RULE_RATELIMIT = 9,
	PP_REASON_RATELIMIT = 10,	/* per-source bucket */
	PP_REASON_GLOBAL_RATELIMIT = 11,/* the backend's bucket */
	PP_REASON_INVALID = 12,		/* malformed or impossible headers */
	PP_REASON_FRAGMENT = 13,
	PP_REASON_REFLECTION = 14,	/* UDP from a reflection source port */
	PP_REASON_CHALLENGE = 15,	/* rule hands the source to the proxy */
	PP_REASON_REDIRECT = 16,	/* rule hands the flow to the proxy */
	PP_REASON_MC_HANDSHAKE = 17,	/* invalid Minecraft Java handshake */
	PP_REASON_RAKNET = 18,		/* RakNet without magic or session */
	PP_REASON_QUIC = 19,		/* invalid QUIC header or no session */
	PP_REASON_SYN_COOKIE = 20,	/* SYN answered from XDP: SYN-ACK with a cookie (XDP_TX) */
	PP_REASON_CONN_RATELIMIT = 21,	/* new connections per source */
	PP_REASON_COOKIE_ACK = 22,	/* ACK of no known flow with a valid SYN cookie */
	PP_REASON_COOKIE_BAD = 23,	/* segment of no known flow without a valid cookie */
	PP_REASON_MAX_CONNS = 24,	/* concurrent connections per source */
	PP_REASON_COUNT = 25,
};

/* Protection level of a service; the semantics live in levels.ts. */
enum PP_PACKED_ENUM pp_level {
	PP_LEVEL_OFF = 0,
	PP_LEVEL_LOW = 1,
	PP_LEVEL_MEDIUM = 2,
	PP_LEVEL_HIGH = 3,
	PP_LEVEL_UNDER_ATTACK = 4,
};

/* pp_service.flags: what the kernel checks for a service. */
enum pp_svc_flag {
	PP_SVC_SRC_LIMIT = 1u << 0,	/* per-source pps/bps buckets */
	PP_SVC_GLOBAL_LIMIT = 1u << 1,	/* the backend's pps/bps bucket */
	PP_SVC_DROP_INVALID = 1u << 2,	/* impossible TCP flags, port 0, martians */
	PP_SVC_DROP_FRAGMENTS = 1u << 3,
	PP_SVC_DROP_REFLECTION = 1u << 4,
	PP_SVC_L7_VALIDATE = 1u << 5,	/* protocol checks (pp_l7_cfg) */
	PP_SVC_CONN_LIMIT = 1u << 7,	/* new connections per source */
	PP_SVC_SYN_COOKIES = 1u << 6,	/* TCP: SYN cookies from XDP (pp_syn_cfg) */
	/* Reserved; the program ignores them today. */
	PP_SVC_VERIFIED_ONLY = 1u << 8,
	PP_SVC_CHALLENGE_NEW = 1u << 9,
	/* Set by the reconciler when backend-scoped list entries exist. */
	PP_SVC_SCOPED_ALLOW = 1u << 16,
	PP_SVC_SCOPED_BLOCK = 1u << 17,
};

/* Service protocol for the protocol checks (HTTP has none). */
enum PP_PACKED_ENUM pp_l7 {
	PP_L7_NONE = 0,
	PP_L7_MINECRAFT_JAVA = 1,
	PP_L7_RAKNET = 2,
	PP_L7_QUIC = 3,
	PP_L7_HTTP = 4,
};

/* pp_l7_cfg.flags: the protocol checks of a backend, applied when its
 * service has PP_SVC_L7_VALIDATE and the matching pp_l7 protocol. */
enum pp_l7_flag {
	PP_L7F_RAKNET = 1u << 0,	/* RakNet offline magic, sizes, sessions */
	PP_L7F_QUIC = 1u << 1,		/* QUIC long headers, Initial, sessions */
	PP_L7F_MC_JAVA = 1u << 2,	/* Minecraft Java handshakes per flow */
	PP_L7F_MC_LEGACY = 1u << 3,	/* ... and the legacy ping (0xfe) */
};

/* pp_mc_flow.state: where a Minecraft Java connection is. */
enum pp_mc_state {
	PP_MC_SYN = 1,		/* SYN seen, expecting the handshake (pp_mc_syns) */
	PP_MC_STATUS = 2,	/* handshake for status, expecting its request */
	PP_MC_LOGIN = 3,	/* handshake for login or transfer */
	PP_MC_VALID = 4,	/* validated: the fast path */
};

/* Protocol class: index of pp_ruleset.by_proto; bit (1 << class) in masks. */
enum pp_pclass {
	PP_PCLASS_TCP = 0,
	PP_PCLASS_UDP = 1,
	PP_PCLASS_ICMP = 2,	/* ICMP and ICMPv6 */
	PP_PCLASS_OTHER = 3,
};

enum PP_PACKED_ENUM pp_proto_bit {
	PP_PROTO_TCP = 1 << PP_PCLASS_TCP,
	PP_PROTO_UDP = 1 << PP_PCLASS_UDP,
	PP_PROTO_ICMP = 1 << PP_PCLASS_ICMP,
	PP_PROTO_OTHER = 1 << PP_PCLASS_OTHER,
};

enum PP_PACKED_ENUM pp_action {
	PP_ACT_NONE = 0,
	PP_ACT_ALLOW = 1,	/* pass, skipping rate limits */
	PP_ACT_DROP = 2,
	PP_ACT_RATE_LIMIT = 3,	/* rule's own per-source bucket, then go on */
	PP_ACT_LOG = 4,		/* event, then the next rule */
	PP_ACT_CHALLENGE = 5,	/* pass to the proxy, counted */
	PP_ACT_REDIRECT = 6,	/* pass to the proxy, counted */
};

enum PP_PACKED_ENUM pp_rule_flag {
	PP_RULE_TCP_FLAGS = 1 << 0,	/* tcp_flags_mask/value apply */
};

enum PP_PACKED_ENUM pp_ruleset_flag {
	PP_RS_NEEDS_SOURCE = 1 << 0,	/* some rule reads source sets */
};

enum PP_PACKED_ENUM pp_event_kind {
	PP_EVENT_SAMPLE = 1,	/* sampled drop */
	PP_EVENT_LOG = 2,	/* LOG rule matched */
};

/* pp_config.flags */
enum pp_cfg_flag {
	PP_CFG_BANS = 1u << 0,	/* pp_bans may hold entries; else not probed */
};

/* pp_syn_cfg.flags */
enum pp_syn_flag {
	/* Answer SYNs of PP_SVC_SYN_COOKIES services from XDP. User space sets
	 * it only while its nftables SYNPROXY holds every such port: the ACKs
	 * the program passes are completed there, nowhere else. */
	PP_SYN_XDP = 1u << 0,
};

/* pp_src_state.cache: the cached list verdict for the source. */
enum pp_cache_flag {
	PP_CACHE_VALID = 1u << 0,
	PP_CACHE_ALLOW = 1u << 1,
	PP_CACHE_BAN = 1u << 2,
	PP_CACHE_BLOCK = 1u << 3,
	PP_CACHE_SETS = 1u << 4,	/* src_sets holds the source's sets */
};

/* pp_src_key.scope: a backend index, a rule's stats slot | RULE, or a
 * backend index | CONN. */
enum pp_scope {
	PP_SCOPE_GLOBAL = 0,
	PP_SCOPE_CONN = 0x40000000u,	/* | backend: the source's SYN bucket */
	PP_SCOPE_RULE = 0x80000000u,
};

struct pp_addr {
	__be32 words[4];
};

/* Key of the management LPM tries and of the prefix-list hash maps;
 * prefixlen counts the 32 scope bits too; host bits of addr are zero. */
struct pp_lpm_v4_key {
	__u32 prefixlen;
	__u32 scope;		/* 0 = global, else backend index */
	__u8 addr[4];
};

struct pp_lpm_v6_key {
	__u32 prefixlen;
	__u32 scope;
	__u8 addr[16];
};

/* Value of the allow and block lists. */
struct pp_list_entry {
	__u64 expires_ns;	/* 0 = never */
	__u32 reason;		/* control-plane reason code, echoed in events */
	__u32 entry_id;		/* control-plane id, echoed in events */
};

struct pp_limit {
	__u32 rate;		/* per second; 0 = unlimited */
	__u32 burst;		/* bucket depth; 0 = one second of rate */
};

struct pp_service_key {
	struct pp_addr addr;	/* all zero = any local address */
	__u16 port;		/* 0 = host entry for port-less packets */
	__u8 proto;		/* IPPROTO_TCP / IPPROTO_UDP / ... */
	__u8 pad;
};

struct pp_service {
	__u32 backend;		/* 1..; 0 is the global scope */
	enum pp_svc_flag flags;
	__u32 ruleset;		/* pp_rulesets index or PP_NO_RULESET */
	enum pp_level level;
	enum pp_l7 l7;
	__u16 pad;
	struct pp_limit src_pkt;	/* packets/s per source */
	struct pp_limit src_byte;	/* bytes/s per source */
	struct pp_limit glob_pkt;	/* packets/s for the backend, per CPU */
	struct pp_limit glob_byte;	/* bytes/s for the backend, per CPU */
};

/* One service in pp_svc_slots: its pp_services key and value. */
struct pp_svc_slot {
	struct pp_service_key key;
	struct pp_service svc;
};

struct pp_port_range {
	__u16 lo;
	__u16 hi;
};

struct pp_rule {
	__u64 src_any;		/* source in one of these sets; 0 = any */
	__u64 src_none;		/* and in none of these */
	struct pp_port_range dports[PP_RULE_PORT_RANGES];
	__u32 stats_slot;	/* pp_rule_ctrs index, stable per rule */
	struct pp_limit limit;	/* RATE_LIMIT: packets/s per source */
	enum pp_action action;
	enum pp_proto_bit protos;	/* mask of PP_PROTO_*; 0 = any */
	__u8 nr_dports;		/* 0 = any port */
	enum pp_rule_flag flags;
	__u8 tcp_flags_mask;
	__u8 tcp_flags_value;
	__u8 pad[6];
};

/* One backend's rules in priority order, with the masks that let the
 * program skip rules that cannot match without looking at them. */
struct pp_ruleset {
	__u32 count;
	enum pp_ruleset_flag flags;
	__u8 pad[3];
	__u64 unsourced;	/* bit i: rule i has src_any == 0 */
	__u64 by_proto[PP_PROTO_CLASSES];	/* bit i: rule i takes class */
	__u64 by_set[PP_MAX_SOURCE_SETS];	/* bit i: rule i wants set s */
	struct pp_rule rules[PP_MAX_RULES];
};

/* Prefix lengths a list holds: bit n set = some entry of length /n. */
struct pp_prefix_lens {
	__u64 v4;			/* bits 0..32 */
	__u64 v6[PP_LENS_V6_WORDS];	/* length n is bit n % 64 of v6[n / 64] */
};

struct pp_config {
	__u32 sample_rate;	/* 1 in N drops become events; 0 = none */
	__u32 src_set_mask;	/* sets in pp_src_table - 1 (a power of two) */
	__u32 list_gen;		/* bumped by user space after list changes */
	__u32 nr_mgmt_ports;
	__u16 mgmt_ports[PP_MGMT_PORTS];	/* TCP destination ports */
	struct pp_prefix_lens allow_lens;	/* lengths in pp_allow_v4/v6 */
	struct pp_prefix_lens block_lens;	/* lengths in pp_block_v4/v6 */
	struct pp_prefix_lens srcset_lens;	/* lengths in pp_srcset_v4/v6 */
	enum pp_cfg_flag flags;
	__u32 pad;
	__u64 src_seed[PP_SRC_SEEDS];	/* pp_src_table hash keys, random */
};

/* A backend's L7 options (pp_l7_cfgs, keyed by backend index). */
struct pp_l7_cfg {
	enum pp_l7_flag flags;
	__u32 nr_quic_versions;
	__u32 quic_versions[PP_L7_QUIC_VERSIONS];	/* host order */
	__u64 session_ns;	/* a session lasts this long after its last use */
	__u32 mc_min_proto;	/* Minecraft Java protocol versions allowed */
	__u32 mc_max_proto;
	__u64 ban_ns;		/* invalid handshake: source banned this long */
	struct pp_limit conn;	/* SYNs/s per source with PP_SVC_CONN_LIMIT */
	__u32 max_conns;	/* concurrent Java flows / RakNet sessions per
				 * source (pp_conns); 0 = unlimited */
	__u32 pad;
};

/* Key of pp_mc_flows: one TCP connection to a backend. */
struct pp_flow_key {
	__u32 backend;
	__u16 sport;		/* host order */
	__u16 pad;
	struct pp_addr src;
};

struct pp_mc_flow {
	enum pp_mc_state state;
	__u32 seq;		/* TCP sequence number of the flow's first
				 * data: a retransmission of it is checked as
				 * the first data again */
	__u64 last_ns;		/* when the state last changed or, with
				 * max_conns, the flow last touched its slot */
};

/* Value of pp_conns: the connections one source holds to one backend,
 * one slot per client port (a Minecraft Java TCP flow or a RakNet
 * session). A slot is live while last_ns is within the backend's
 * session_ns; 0 = free. */
struct pp_conn_slots {
	__u64 last_ns[PP_CONN_SLOTS];	/* last sign of life of the connection */
	__u16 ports[PP_CONN_SLOTS];	/* client port, host order */
};

/* Each CPU's last reading of the coarse clock (pp_clock[0], per CPU) and
 * the jiffies it was read at; kernel-owned. */
struct pp_clock {
	__u64 jiffies;
	__u64 ns;
};

/* Kernel-owned state (pp_state[0]); user space only reads it. */
struct pp_state {
	__u32 dyn_bans;		/* non-zero once pp_dyn_bans got an entry */
	__u32 pad;
};

/* How the program answers SYNs (pp_syn_cfg[0]); see pp_syncookie.h. */
struct pp_syn_cfg {
	enum pp_syn_flag flags;
	__u16 mss4;		/* MSS offered in IPv4 SYN-ACKs */
	__u16 mss6;		/* MSS offered in IPv6 SYN-ACKs */
	__u8 wscale;		/* window scale offered; SYNPROXY is given the same */
	__u8 ttl;		/* TTL / hop limit of SYN-ACKs */
	__u16 pad;
};

/* Token bucket; tokens in nano-tokens (PP_TOKEN_SCALE per packet/byte). */
struct pp_bucket {
	__u64 pkt_tokens;
	__u64 byte_tokens;
	__u64 last_ns;
};

struct pp_src_key {
	enum pp_scope scope;	/* backend index (pp_src_table), or
				 * PP_SCOPE_RULE | slot, PP_SCOPE_CONN |
				 * backend (pp_src_limits) */
	struct pp_addr addr;
};

/* Per-source state; counters are approximate under concurrency. For a
 * backend scope (pp_src_table), packets/bytes count every packet of the
 * source to the backend and drops the rate-limit drops; for a rule scope,
 * the packets the rule's bucket saw and dropped; for a connection scope,
 * the SYNs (and cookie ACKs) its bucket saw and dropped. The cached
 * verdict fields are used in pp_src_table only. */
struct pp_src_state {
	struct pp_bucket bucket;
	__u64 packets;
	__u64 bytes;
	__u64 drops;
	__u64 src_sets;		/* cached pp_srcset mask */
	__u64 cache_until_ns;	/* when the cached verdict must be recomputed */
	__u32 list_gen;		/* pp_config.list_gen the cache belongs to */
	enum pp_cache_flag cache;
};

/* A way of pp_src_table: a (backend, source) and its state. */
struct pp_src_way {
	__u32 tag;		/* 0 = free; else the key's tag */
	__u32 check;		/* pp_src_check() of the cached verdict */
	struct pp_src_key key;	/* scope is the backend index */
	__u32 pad;
	struct pp_src_state st;
};

/* An element of pp_src_table. */
struct pp_src_set {
	struct pp_src_way way[PP_SRC_WAYS];
};

struct pp_ctr {
	__u64 packets;
	__u64 bytes;
};

struct pp_rule_ctr {
	__u64 packets;
	__u64 bytes;
	__u64 last_match_ns;
};

struct pp_event_ctr {
	__u64 emitted;
	__u64 lost;		/* ring buffer full */
};

/* Packets of one traffic class to a backend, and how many were dropped. */
struct pp_class_ctr {
	__u64 packets;
	__u64 drops;
};

/* Per backend, per CPU. The classes tell floods apart (SYN, ACK, UDP,
 * ICMP, fragment); each packet is in at most one: a fragment is counted
 * as a fragment whatever it carries, other IP protocols in none. ICMP
 * has no port: it is counted for the backend of the address's host entry
 * (the lowest-numbered backend listening there), like its verdict. */
struct pp_backend_ctr {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 pass_packets;
	__u64 pass_bytes;
	__u64 drop_packets;
	__u64 drop_bytes;
	struct pp_class_ctr syn;	/* TCP SYN without ACK */
	struct pp_class_ctr ack;	/* other TCP: ACKs, data, FIN, RST */
	struct pp_class_ctr udp;
	struct pp_class_ctr icmp;	/* ICMP and ICMPv6 */
	struct pp_class_ctr frag;	/* IPv4/IPv6 fragments */
};

struct pp_event {
	__u64 ts_ns;
	struct pp_addr src;
	struct pp_addr dst;
	__u32 backend;
	__u32 rule_slot;	/* stats slot of the rule, or PP_NO_RULE */
	__u32 pkt_len;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 verdict;		/* XDP_DROP / XDP_PASS */
	enum pp_reason reason;
	enum pp_event_kind kind;
	__u16 vlan;
	__u16 pad;
};

_Static_assert(sizeof(struct pp_addr) == 16, "pp_addr");
_Static_assert(sizeof(struct pp_lpm_v4_key) == 12, "pp_lpm_v4_key");
_Static_assert(sizeof(struct pp_lpm_v6_key) == 24, "pp_lpm_v6_key");
_Static_assert(sizeof(struct pp_list_entry) == 16, "pp_list_entry");
_Static_assert(sizeof(struct pp_limit) == 8, "pp_limit");
_Static_assert(sizeof(struct pp_service_key) == 20, "pp_service_key");
_Static_assert(sizeof(struct pp_service) == 48, "pp_service");
_Static_assert(sizeof(struct pp_svc_slot) == 68, "pp_svc_slot");
_Static_assert(sizeof(struct pp_port_range) == 4, "pp_port_range");
_Static_assert(sizeof(struct pp_rule) == 56, "pp_rule");
_Static_assert(sizeof(struct pp_ruleset) == 4144, "pp_ruleset");
_Static_assert(sizeof(struct pp_prefix_lens) == 32, "pp_prefix_lens");
_Static_assert(sizeof(struct pp_config) == 184, "pp_config");
_Static_assert(sizeof(struct pp_bucket) == 24, "pp_bucket");
_Static_assert(sizeof(struct pp_l7_cfg) == 64, "pp_l7_cfg");
_Static_assert(sizeof(struct pp_conn_slots) == 160, "pp_conn_slots");
_Static_assert(sizeof(struct pp_flow_key) == 24, "pp_flow_key");
_Static_assert(sizeof(struct pp_mc_flow) == 16, "pp_mc_flow");
_Static_assert(sizeof(struct pp_state) == 8, "pp_state");
_Static_assert(sizeof(struct pp_clock) == 16, "pp_clock");
_Static_assert(sizeof(struct pp_syn_cfg) == 12, "pp_syn_cfg");
_Static_assert(sizeof(struct pp_src_key) == 20, "pp_src_key");
_Static_assert(sizeof(struct pp_src_state) == 72, "pp_src_state");
_Static_assert(sizeof(struct pp_src_way) == 104, "pp_src_way");
_Static_assert(sizeof(struct pp_src_set) == 416, "pp_src_set");
_Static_assert(sizeof(struct pp_ctr) == 16, "pp_ctr");
_Static_assert(sizeof(struct pp_rule_ctr) == 24, "pp_rule_ctr");
_Static_assert(sizeof(struct pp_class_ctr) == 16, "pp_class_ctr");
_Static_assert(sizeof(struct pp_backend_ctr) == 128, "pp_backend_ctr");
_Static_assert(sizeof(struct pp_event) == 64, "pp_event");
_Static_assert(sizeof(struct pp_event_ctr) == 16, "pp_event_ctr");
_Static_assert(sizeof(enum pp_reason) == 1, "packed enum");
_Static_assert(sizeof(enum pp_level) == 1, "packed enum");
_Static_assert(PP_REASON_COUNT <= PP_REASON_SLOTS, "reason slots");

#endif /* PP_ABI_H */
