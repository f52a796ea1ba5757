/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pp_maps.h - the maps of the XDP program, pinned by name under the
 * loader's pin root (/sys/fs/bpf/pistonprotection).
 *
 * Contract: names and key/value types here are the ABI in pp_abi.h;
 * max_entries are defaults the loader overrides from configuration before
 * load. The management tries and the prefix lists take struct
 * pp_lpm_v{4,6}_key whose prefixlen includes the 32 scope bits (scope 0 =
 * global, else a backend index); the lists are hash maps probed per prefix
 * length (pp_abi.h, "Prefix lists").
 */
#ifndef PP_MAPS_H
#define PP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "pp_abi.h"

/* key: 0, value: struct pp_config */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_config SEC(".maps");

/* key: admin network (scope 0), value: __u32 (unused, 1) */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_MGMT_ENTRIES);
	__type(key, struct pp_lpm_v4_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_mgmt_v4 SEC(".maps");

/* key: admin network (scope 0), value: __u32 (unused, 1) */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_MGMT_ENTRIES);
	__type(key, struct pp_lpm_v6_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_mgmt_v6 SEC(".maps");

/* key: (scope, source prefix), value: struct pp_list_entry */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_LIST_ENTRIES);
	__type(key, struct pp_lpm_v4_key);
	__type(value, struct pp_list_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_allow_v4 SEC(".maps");

/* key: (scope, source prefix), value: struct pp_list_entry */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_LIST_ENTRIES);
	__type(key, struct pp_lpm_v6_key);
	__type(value, struct pp_list_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_allow_v6 SEC(".maps");

/* key: (scope, source prefix), value: struct pp_list_entry */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_LIST_ENTRIES);
	__type(key, struct pp_lpm_v4_key);
	__type(value, struct pp_list_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_block_v4 SEC(".maps");

/* key: (scope, source prefix), value: struct pp_list_entry */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_LIST_ENTRIES);
	__type(key, struct pp_lpm_v6_key);
	__type(value, struct pp_list_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_block_v6 SEC(".maps");

/* An IPv4 summary of a list: key word index, value __u64 of
 * PP_SUM_PER_WORD two-bit /24 states of the list's global entries (pp_abi.h,
 * "IPv4 summaries"); user space writes it through mmap. */
#define PP_V4_SUMMARY(name)						\
	struct {							\
		__uint(type, BPF_MAP_TYPE_ARRAY);			\
		__uint(map_flags, BPF_F_MMAPABLE);			\
		__uint(max_entries, PP_SUM_WORDS);			\
		__type(key, __u32);					\
		__type(value, __u64);					\
		__uint(pinning, LIBBPF_PIN_BY_NAME);			\
	} name SEC(".maps")

PP_V4_SUMMARY(pp_allow_v4_sum);	/* of pp_allow_v4 */
PP_V4_SUMMARY(pp_block_v4_sum);	/* of pp_block_v4 */

/* key: source address (struct pp_addr), value: __u64 expiry ns, 0 = never */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_BANS);
	__type(key, struct pp_addr);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_bans SEC(".maps");

/* key: source prefix (scope 0), value: __u64 mask of source sets */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_SRCSET_ENTRIES);
	__type(key, struct pp_lpm_v4_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_srcset_v4 SEC(".maps");

/* key: source prefix (scope 0), value: __u64 mask of source sets */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PP_DEF_SRCSET_ENTRIES);
	__type(key, struct pp_lpm_v6_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_srcset_v6 SEC(".maps");

/* key: struct pp_service_key, value: struct pp_service */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PP_DEF_SERVICES);
	__type(key, struct pp_service_key);
	__type(value, struct pp_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_services SEC(".maps");

/* key: (TCP or UDP, destination port), value: __u32 pp_svc_slots index + 1,
 * PP_PORT_NONE or 0 (pp_abi.h, "Service index"); user space writes it
 * through mmap */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PP_PORT_KEYS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_svc_ports SEC(".maps");

/* key: slot, value: struct pp_svc_slot (twice the services: a changed
 * service moves to a free slot) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * PP_DEF_SERVICES + 2);
	__type(key, __u32);
	__type(value, struct pp_svc_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_svc_slots SEC(".maps");

/* key: ruleset index, value: struct pp_ruleset */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PP_DEF_RULESETS);
	__type(key, __u32);
	__type(value, struct pp_ruleset);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_rulesets SEC(".maps");

/* key: set index, value: struct pp_src_set; the per-(backend, source)
 * state (pp_abi.h, "Source table"). Mmapable so user space reads it in
 * one pass. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PP_DEF_SRC_SETS);
	__type(key, __u32);
	__type(value, struct pp_src_set);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_src_table SEC(".maps");

/* key: struct pp_src_key with a rule or connection scope, value: struct
 * pp_src_state (its bucket and counters). Per-CPU LRU lists: a flood of
 * new spoofed sources must not serialise CPUs on one lock. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, PP_DEF_SRC_LIMITS);
	__type(key, struct pp_src_key);
	__type(value, struct pp_src_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_src_limits SEC(".maps");

/* key: backend index, value: struct pp_bucket (per CPU) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_DEF_BACKENDS);
	__type(key, __u32);
	__type(value, struct pp_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_global_bkt SEC(".maps");

/* key: enum pp_reason, value: struct pp_ctr (per CPU) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_REASON_SLOTS);
	__type(key, __u32);
	__type(value, struct pp_ctr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_reason_ctrs SEC(".maps");

/* key: rule stats slot, value: struct pp_rule_ctr (per CPU) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_DEF_RULE_SLOTS);
	__type(key, __u32);
	__type(value, struct pp_rule_ctr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_rule_ctrs SEC(".maps");

/* key: backend index, value: struct pp_backend_ctr (per CPU) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_DEF_BACKENDS);
	__type(key, __u32);
	__type(value, struct pp_backend_ctr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_backend_ctrs SEC(".maps");

/* key: UDP source port, value: __u8, non-zero = reflection/amplification port */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_reflect_ports SEC(".maps");

/* ring buffer of struct pp_event */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PP_DEF_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_events SEC(".maps");

/* key: 0, value: struct pp_event_ctr (per CPU) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_event_ctr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_event_ctrs SEC(".maps");

/* key: backend index, value: struct pp_l7_cfg */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PP_DEF_BACKENDS);
	__type(key, __u32);
	__type(value, struct pp_l7_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_l7_cfgs SEC(".maps");

/* key: struct pp_src_key (backend, source), value: __u64 session expiry ns.
 * RakNet connections and QUIC clients that completed their handshake's
 * first step; per-CPU LRU lists like pp_src_limits. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, PP_DEF_L7_SESSIONS);
	__type(key, struct pp_src_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_l7_sessions SEC(".maps");

/* key: struct pp_flow_key, value: __u64 SYN time ns. Minecraft Java
 * connections between SYN and their first data; apart from pp_mc_flows so
 * a flood of spoofed SYNs evicts only other pending handshakes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, PP_DEF_MC_FLOWS);
	__type(key, struct pp_flow_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_mc_syns SEC(".maps");

/* key: struct pp_flow_key, value: struct pp_mc_flow (Minecraft Java
 * connections whose first data was a valid handshake) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, PP_DEF_MC_FLOWS);
	__type(key, struct pp_flow_key);
	__type(value, struct pp_mc_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_mc_flows SEC(".maps");

/* key: source address, value: __u64 ban expiry ns. Bans the program
 * itself placed (invalid handshakes); user space never writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PP_DEF_DYN_BANS);
	__type(key, struct pp_addr);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_dyn_bans SEC(".maps");

/* The key of the one-entry maps, read from .rodata: a lookup needs no
 * stack slot for it (the stack of pp_xdp and its calls is at the limit). */
static const __u32 pp_key0 = 0;

/* key: 0, value: struct pp_clock (per CPU) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_clock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_clock SEC(".maps");

/* key: 0, value: struct pp_src_way (per CPU): where the program builds a
 * pp_src_limits key and a new entry, to spare the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_src_way);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_scratch SEC(".maps");

/* key: 0, value: struct pp_state */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_state SEC(".maps");

/* key: 0, value: struct pp_syn_cfg */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_syn_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_syn_cfg SEC(".maps");

/* key: struct pp_src_key (backend, source), value: struct pp_conn_slots.
 * Concurrent connections per source for maxConnectionsPerIp; an evicted
 * entry forgets the source's connections (it may then open more), never
 * the reverse. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, PP_DEF_CONN_SOURCES);
	__type(key, struct pp_src_key);
	__type(value, struct pp_conn_slots);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pp_conns SEC(".maps");

#endif /* PP_MAPS_H */
