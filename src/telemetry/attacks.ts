// Attack detection, per backend, once a second from the collector's readings. A backend's
// baseline is the 95th percentile of its received packets per second over the recent seconds
// outside attacks (telemetry.live_seconds). An attack starts when, for attack_start_seconds in a
// row, the backend drops at least attack_dropped_pps or receives more than both attack_min_pps and
// attack_baseline_factor × baseline; it ends after attack_quiet_seconds under both.
//
// The type comes from what the counters show while the attack runs: verdict reasons (host-wide:
// the kernel counts reasons for all backends together) whose drops dominate name the protocol
// floods (handshakes, RakNet, QUIC), reflection and fragments; else the backend's own traffic
// classes (pp_backend_ctr: TCP SYN, other TCP, UDP, ICMP, fragments), the class holding at least
// half of the packets received during the attack naming SYN_FLOOD, ACK_FLOOD, UDP_FLOOD,
// ICMP_FLOOD or FRAGMENT_FLOOD; else the backend's listener protocol (UDP only → UDP_FLOOD), and
// GENERIC. ICMP has no port: it counts for the lowest-numbered backend listening on the address.
//
// While an attack is active a backend with protection.autoMitigate enabled is raised to its
// level (default telemetry.escalation_level) through the backend service, audited as the system,
// and restored afterwards unless someone changed the level meanwhile.
import type { Database } from "bun:sqlite";
import type { Config } from "../config.ts";
import { type ReasonName, TRAFFIC_CLASSES, type TrafficClass } from "../dataplane/abi.ts";
import { type Actor, systemActor } from "../domain/actor.ts";
import type { ProtectionLevel } from "../domain/backends/model.ts";
import type { BackendService } from "../domain/backends/service.ts";
import { DomainError } from "../domain/errors.ts";
import { newId } from "../domain/ids.ts";
import type { EventBus } from "../events.ts";
import type { GeoIpService } from "../geoip/service.ts";
import type { Logger } from "../log.ts";
import type { AttackSource } from "./metrics.ts";

export const ATTACK_TYPES = [
	"SYN_FLOOD",
	"ACK_FLOOD",
	"UDP_FLOOD",
	"ICMP_FLOOD",
	"AMPLIFICATION",
	"FRAGMENT_FLOOD",
	"MINECRAFT_HANDSHAKE_FLOOD",
	"RAKNET_FLOOD",
	"QUIC_FLOOD",
	"GENERIC",
] as const;
export type AttackType = (typeof ATTACK_TYPES)[number];
export const SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Drop reasons that name an attack type when they carry most of the drops. */
const REASON_TYPES: Array<[ReasonName, AttackType]> = [
	["FRAGMENT", "FRAGMENT_FLOOD"],
	["REFLECTION", "AMPLIFICATION"],
	["MC_HANDSHAKE", "MINECRAFT_HANDSHAKE_FLOOD"],
	["RAKNET", "RAKNET_FLOOD"],
	["QUIC", "QUIC_FLOOD"],
	["SYN_COOKIE", "SYN_FLOOD"],
	["COOKIE_BAD", "ACK_FLOOD"],
];

/** What a traffic class names when it carries most of a backend's packets. */
const CLASS_TYPES: Record<TrafficClass, AttackType> = {
	syn: "SYN_FLOOD",
	ack: "ACK_FLOOD",
	udp: "UDP_FLOOD",
	icmp: "ICMP_FLOOD",
	frag: "FRAGMENT_FLOOD",
};

export const DROP_REASONS: ReasonName[] = [
	"BAN",
	"BLOCK",
	"RULE_DROP",
	"RULE_RATELIMIT",
	"RATELIMIT",
	"GLOBAL_RATELIMIT",
	"INVALID",
	"FRAGMENT",
	"REFLECTION",
	"MC_HANDSHAKE",
	"RAKNET",
	"QUIC",
	"SYN_COOKIE",
	"CONN_RATELIMIT",
	"COOKIE_BAD",
	"MAX_CONNS",
];
const RATE_LIMIT_REASONS: ReasonName[] = ["RULE_RATELIMIT", "RATELIMIT", "GLOBAL_RATELIMIT", "CONN_RATELIMIT"];

/** Severity by size: the larger of the packet-rate and bit-rate steps. */
const SEVERITY_STEPS: Array<{ severity: Severity; pps: number; bitsPerSecond: number }> = [
	{ severity: "CRITICAL", pps: 1_000_000, bitsPerSecond: 10e9 },
	{ severity: "HIGH", pps: 100_000, bitsPerSecond: 1e9 },
	{ severity: "MEDIUM", pps: 10_000, bitsPerSecond: 100e6 },
];

export function severityOf(peakPps: number, peakBitsPerSecond: number): Severity {
	for (const s of SEVERITY_STEPS) if (peakPps >= s.pps || peakBitsPerSecond >= s.bitsPerSecond) return s.severity;
	return "LOW";
}

/** The key with the largest non-zero count, when that is at least half of total; else null. */
function dominant<K extends string>(keys: readonly K[], counts: Partial<Record<K, number>>, total: number): K | null {
	let top: K | null = null;
	for (const k of keys) if ((counts[k] ?? 0) > (top ? (counts[top] ?? 0) : 0)) top = k;
	return top && (counts[top] ?? 0) * 2 >= total ? top : null;
}

/**
 * The attack type the counters support (see the file's comment): dominant drop reasons first,
 * then the backend's packets by traffic class, then its listeners' protocol.
 */
export function classify(
	reasons: Partial<Record<ReasonName, number>>,
	protocols: Set<string>,
	classes: Partial<Record<TrafficClass, number>> = {},
): AttackType {
	const reason = dominant(
		REASON_TYPES.map(([r]) => r),
		reasons,
		DROP_REASONS.reduce((n, r) => n + (reasons[r] ?? 0), 0),
	);
	if (reason) return REASON_TYPES.find(([r]) => r === reason)?.[1] as AttackType;
	const top = dominant(
		TRAFFIC_CLASSES,
		classes,
		TRAFFIC_CLASSES.reduce((n, c) => n + (classes[c] ?? 0), 0),
	);
	if (top) return CLASS_TYPES[top];
	if (protocols.size === 1 && protocols.has("UDP")) return "UDP_FLOOD";
	return "GENERIC";
}

export interface BackendInfo {
	id: string;
	organizationId: string;
	name: string;
	index: number;
	protocols: Set<string>;
	level: ProtectionLevel;
	autoMitigate: { enabled: boolean; level?: ProtectionLevel } | null;
}

export interface Second {
	at: number;
	rxPps: number;
	rxBps: number;
	dropPps: number;
	/** Packets received per second by traffic class. */
	classPps?: Partial<Record<TrafficClass, number>>;
}

export interface SourceDelta {
	address: string;
	packets: number;
	bytes: number;
	drops: number;
}

export interface AttackAction {
	at: string;
	action: string;
	detail: string;
}

interface Active {
	id: string;
	backend: BackendInfo;
	startedAt: number;
	lastAt: number;
	lastOver: number;
	type: AttackType;
	severity: Severity;
	peakPps: number;
	peakBps: number;
	packets: number;
	bytes: number;
	dropped: number;
	reasons: Partial<Record<ReasonName, number>>;
	/** Packets received by traffic class during the attack. */
	classes: Partial<Record<TrafficClass, number>>;
	sources: Map<string, { packets: number; bytes: number; drops: number }>;
	actions: AttackAction[];
	/** [epoch ms, received pps, dropped pps], one per `step` seconds (merged pairwise when long). */
	series: Array<[number, number, number]>;
	step: number;
	pending: [number, number, number] | null;
	pendingCount: number;
	previousLevel: ProtectionLevel | null;
	escalatedLevel: ProtectionLevel | null;
}

interface Watch {
	history: number[];
	over: number;
	quiet: number;
	active: Active | null;
}

const MAX_SERIES = 900;
const MAX_SOURCES = 100_000;
const TOP_SOURCES = 10;
const LEVEL_RANK: Record<ProtectionLevel, number> = { OFF: 0, LOW: 1, MEDIUM: 2, HIGH: 3, UNDER_ATTACK: 4 };

export interface AttackDeps {
	db: Database;
	bus: EventBus;
	backends: BackendService;
	geoip: GeoIpService;
	settings: () => Config;
	log: Logger;
}

function percentile(values: number[], p: number): number {
	if (!values.length) return 0;
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

export class AttackDetector {
	private watches = new Map<string, Watch>();

	constructor(private readonly deps: AttackDeps) {}

	/** Attacks left open (a previous process, or before a reload): closed at their last reading, levels restored. */
	recover(now: number): void {
		this.watches.clear();
		const open = this.deps.db
			.query<
				{
					id: string;
					backend_id: string;
					organization_id: string;
					last_seen_at: string;
					escalated_level: string | null;
				},
				[]
			>("SELECT id, backend_id, organization_id, last_seen_at, escalated_level FROM attacks WHERE ended_at IS NULL")
			.all();
		for (const row of open) {
			const previous = this.deps.db
				.query<{ previous_level: string | null; actions: string }, [string]>(
					"SELECT previous_level, actions FROM attacks WHERE id = ?",
				)
				.get(row.id);
			const actions = JSON.parse(previous?.actions ?? "[]") as AttackAction[];
			if (row.escalated_level && previous?.previous_level)
				actions.push(
					this.restore(
						row.organization_id,
						row.backend_id,
						row.escalated_level as ProtectionLevel,
						previous.previous_level as ProtectionLevel,
						now,
					),
				);
			actions.push({
				at: new Date(now).toISOString(),
				action: "ENDED",
				detail: "closed at its last reading: the daemon restarted during the attack",
			});
			this.deps.db
				.prepare("UPDATE attacks SET ended_at = last_seen_at, actions = ? WHERE id = ?")
				.run(JSON.stringify(actions), row.id);
			this.deps.bus.publish({
				type: "attack.mitigated",
				organizationId: row.organization_id,
				resourceId: row.id,
				data: { attackId: row.id, backendId: row.backend_id, mitigationStatus: "MITIGATED" },
			});
		}
	}

	/** True while the backend has an attack open. */
	active(backendId: string): boolean {
		return !!this.watches.get(backendId)?.active;
	}

	/** One second of one backend, with the host-wide reason deltas of the same second. */
	observe(backend: BackendInfo, s: Second, reasons: Partial<Record<ReasonName, number>>): void {
		const t = this.deps.settings().telemetry;
		let w = this.watches.get(backend.id);
		if (!w) {
			w = { history: [], over: 0, quiet: 0, active: null };
			this.watches.set(backend.id, w);
		}
		const baseline = percentile(w.history, 0.95);
		const threshold = Math.max(t.attack_min_pps, baseline * t.attack_baseline_factor);
		const over = s.dropPps >= t.attack_dropped_pps || s.rxPps > threshold;
		if (!w.active) {
			w.over = over ? w.over + 1 : 0;
			if (!over) {
				w.history.push(s.rxPps);
				if (w.history.length > t.live_seconds) w.history.splice(0, w.history.length - t.live_seconds);
			}
			if (w.over >= t.attack_start_seconds) {
				w.active = this.start(backend, s);
				w.quiet = 0;
			} else return;
		}
		const a = w.active;
		a.backend = backend;
		this.accumulate(a, s, reasons);
		if (over) {
			w.quiet = 0;
			a.lastOver = s.at;
		} else w.quiet++;
		if (w.quiet >= t.attack_quiet_seconds) {
			this.end(a, s.at);
			w.active = null;
			w.over = 0;
		} else this.save(a);
	}

	/** Sources seen in the source table for the backend since the previous scan. */
	observeSources(backendId: string, deltas: SourceDelta[]): void {
		const a = this.watches.get(backendId)?.active;
		if (!a) return;
		for (const d of deltas) {
			let s = a.sources.get(d.address);
			if (!s) {
				if (a.sources.size >= MAX_SOURCES) continue;
				s = { packets: 0, bytes: 0, drops: 0 };
				a.sources.set(d.address, s);
			}
			s.packets += d.packets;
			s.bytes += d.bytes;
			s.drops += d.drops;
		}
	}

	/** Backends that no longer exist (or moved to the sandbox) stop being watched. */
	forget(live: Set<string>, now: number): void {
		for (const [id, w] of this.watches) {
			if (live.has(id)) continue;
			if (w.active) this.end(w.active, now, false);
			this.watches.delete(id);
		}
	}

	private start(backend: BackendInfo, s: Second): Active {
		const a: Active = {
			id: newId("atk"),
			backend,
			startedAt: s.at,
			lastAt: s.at,
			lastOver: s.at,
			type: "GENERIC",
			severity: "LOW",
			peakPps: 0,
			peakBps: 0,
			packets: 0,
			bytes: 0,
			dropped: 0,
			reasons: {},
			classes: {},
			sources: new Map(),
			actions: [],
			series: [],
			step: 1,
			pending: null,
			pendingCount: 0,
			previousLevel: null,
			escalatedLevel: null,
		};
		a.actions.push({
			at: new Date(s.at).toISOString(),
			action: "DETECTED",
			detail: `received ${s.rxPps} pps, dropped ${s.dropPps} pps`,
		});
		const now = new Date(s.at).toISOString();
		this.deps.db
			.prepare(
				`INSERT INTO attacks (id, organization_id, backend_id, started_at, last_seen_at, type, severity, peak_pps, peak_bps,
					packets, bytes, dropped_packets, rate_limited_packets, challenged_packets, unique_sources, top_sources, reasons,
					actions, series) VALUES (?, ?, ?, ?, ?, 'GENERIC', 'LOW', 0, 0, 0, 0, 0, 0, 0, 0, '[]', '{}', '[]', '[]')`,
			)
			.run(a.id, backend.organizationId, backend.id, now, now);
		return a;
	}

	/** After the first second is accounted: events, then auto-mitigation. */
	private announce(a: Active): void {
		const data = this.eventData(a);
		this.deps.bus.publish({
			type: "attack.detected",
			organizationId: a.backend.organizationId,
			resourceId: a.id,
			data,
		});
		this.deps.bus.publish({
			type: "backend.under_attack",
			organizationId: a.backend.organizationId,
			resourceId: a.backend.id,
			data: { ...data, underAttack: true },
		});
		this.deps.log.warn("attack detected", { attackId: a.id, backendId: a.backend.id, type: a.type, pps: a.peakPps });
		const auto = a.backend.autoMitigate;
		if (!auto?.enabled) return;
		const target = auto.level ?? this.deps.settings().telemetry.escalation_level;
		if (LEVEL_RANK[a.backend.level] >= LEVEL_RANK[target]) {
			a.actions.push({
				at: new Date().toISOString(),
				action: "ESCALATION_SKIPPED",
				detail: `level ${a.backend.level} is already at or above ${target}`,
			});
			return;
		}
		try {
			this.deps.backends.setProtectionLevel(this.actor(a.backend.organizationId), a.backend.id, target);
			a.previousLevel = a.backend.level;
			a.escalatedLevel = target;
			a.actions.push({
				at: new Date().toISOString(),
				action: "ESCALATED",
				detail: `protection level raised from ${a.backend.level} to ${target}`,
			});
			this.save(a);
			this.deps.bus.publish({
				type: "attack.escalated",
				organizationId: a.backend.organizationId,
				resourceId: a.id,
				data: {
					...this.eventData(a),
					reason: "auto_mitigation",
					protectionLevel: target,
					previousLevel: a.previousLevel,
				},
			});
		} catch (err) {
			a.actions.push({ at: new Date().toISOString(), action: "ESCALATION_FAILED", detail: (err as Error).message });
			this.deps.log.error("auto-mitigation failed", { attackId: a.id, error: err });
		}
	}

	private accumulate(a: Active, s: Second, reasons: Partial<Record<ReasonName, number>>): void {
		const first = a.packets === 0 && a.series.length === 0 && a.pending === null;
		a.lastAt = s.at;
		a.packets += s.rxPps;
		a.bytes += s.rxBps;
		a.dropped += s.dropPps;
		a.peakPps = Math.max(a.peakPps, s.rxPps);
		a.peakBps = Math.max(a.peakBps, s.rxBps * 8);
		for (const [r, n] of Object.entries(reasons) as Array<[ReasonName, number]>) a.reasons[r] = (a.reasons[r] ?? 0) + n;
		for (const [c, n] of Object.entries(s.classPps ?? {}) as Array<[TrafficClass, number]>)
			a.classes[c] = (a.classes[c] ?? 0) + n;
		a.type = classify(a.reasons, a.backend.protocols, a.classes);
		const severity = severityOf(a.peakPps, a.peakBps);
		const raised = SEVERITIES.indexOf(severity) > SEVERITIES.indexOf(a.severity);
		a.severity = severity;
		this.addPoint(a, [s.at, s.rxPps, s.dropPps]);
		if (first) this.announce(a);
		else if (raised) {
			a.actions.push({ at: new Date(s.at).toISOString(), action: "SEVERITY_RAISED", detail: `severity ${severity}` });
			this.deps.bus.publish({
				type: "attack.escalated",
				organizationId: a.backend.organizationId,
				resourceId: a.id,
				data: { ...this.eventData(a), reason: "severity" },
			});
		}
	}

	private addPoint(a: Active, p: [number, number, number]): void {
		const pending = a.pending;
		a.pending = pending ? [pending[0], Math.max(pending[1], p[1]), Math.max(pending[2], p[2])] : p;
		a.pendingCount++;
		if (a.pendingCount < a.step) return;
		a.series.push(a.pending);
		a.pending = null;
		a.pendingCount = 0;
		if (a.series.length <= MAX_SERIES) return;
		// Twice as coarse: neighbours merged, keeping the peaks.
		const merged: Array<[number, number, number]> = [];
		for (let i = 0; i < a.series.length; i += 2) {
			const x = a.series[i] as [number, number, number];
			const y = a.series[i + 1];
			merged.push(y ? [x[0], Math.max(x[1], y[1]), Math.max(x[2], y[2])] : x);
		}
		a.series = merged;
		a.step *= 2;
	}

	private end(a: Active, now: number, restore = true): void {
		if (restore && a.escalatedLevel && a.previousLevel)
			a.actions.push(this.restore(a.backend.organizationId, a.backend.id, a.escalatedLevel, a.previousLevel, now));
		a.actions.push({
			at: new Date(now).toISOString(),
			action: "ENDED",
			detail: `quiet since ${new Date(a.lastOver).toISOString()}`,
		});
		this.save(a, now);
		const duration = Math.round((now - a.startedAt) / 1000);
		this.deps.bus.publish({
			type: "attack.mitigated",
			organizationId: a.backend.organizationId,
			resourceId: a.id,
			data: { ...this.eventData(a), mitigationStatus: "MITIGATED", durationSeconds: duration },
		});
		this.deps.bus.publish({
			type: "backend.under_attack",
			organizationId: a.backend.organizationId,
			resourceId: a.backend.id,
			data: { backendId: a.backend.id, backendName: a.backend.name, attackId: a.id, underAttack: false },
		});
		this.deps.log.info("attack ended", { attackId: a.id, backendId: a.backend.id, durationSeconds: duration });
	}

	private restore(
		organizationId: string,
		backendId: string,
		escalated: ProtectionLevel,
		previous: ProtectionLevel,
		now: number,
	): AttackAction {
		const at = new Date(now).toISOString();
		const actor = this.actor(organizationId);
		try {
			const current = this.deps.backends.get(actor, backendId).protection.level;
			if (current !== escalated)
				return {
					at,
					action: "RESTORE_SKIPPED",
					detail: `level left at ${current}: it was changed during the attack`,
				};
			this.deps.backends.setProtectionLevel(actor, backendId, previous);
			return { at, action: "RESTORED", detail: `protection level restored from ${escalated} to ${previous}` };
		} catch (err) {
			if (!(err instanceof DomainError)) this.deps.log.error("restoring the level failed", { backendId, error: err });
			return { at, action: "RESTORE_FAILED", detail: (err as Error).message };
		}
	}

	private actor(organizationId: string): Actor {
		return { ...systemActor(organizationId), userAgent: "pistonprotection-telemetry" };
	}

	topSources(a: Active): AttackSource[] {
		return [...a.sources.entries()]
			.sort((x, y) => y[1].packets - x[1].packets)
			.slice(0, TOP_SOURCES)
			.map(([ip, s]) => {
				const geo = this.deps.geoip.lookup(ip);
				return {
					ip,
					country: geo.country ?? null,
					asn: geo.asn ? `AS${geo.asn}` : null,
					requests: s.packets,
					bytes: s.bytes,
					drops: s.drops,
					actionTaken: s.drops > 0 ? "RATE_LIMIT" : "ALLOW",
				};
			});
	}

	private eventData(a: Active): Record<string, unknown> {
		const top = this.topSources(a);
		return {
			attackId: a.id,
			backendId: a.backend.id,
			backendName: a.backend.name,
			attackType: a.type,
			severity: a.severity,
			attackPps: a.peakPps,
			attackBps: a.peakBps,
			uniqueSources: a.sources.size,
			topCountries: [...new Set(top.map((s) => s.country).filter((c): c is string => !!c))].slice(0, 3),
			mitigationStatus: "ACTIVE",
		};
	}

	private save(a: Active, endedAt: number | null = null): void {
		const series = a.pending ? [...a.series, a.pending] : a.series;
		const reasonsOf = (names: ReasonName[]) => names.reduce((n, r) => n + (a.reasons[r] ?? 0), 0);
		this.deps.db
			.prepare(
				`UPDATE attacks SET ended_at = ?, last_seen_at = ?, type = ?, severity = ?, peak_pps = ?, peak_bps = ?, packets = ?,
					bytes = ?, dropped_packets = ?, rate_limited_packets = ?, challenged_packets = ?, unique_sources = ?,
					top_sources = ?, reasons = ?, actions = ?, series = ?, previous_level = ?, escalated_level = ? WHERE id = ?`,
			)
			.run(
				endedAt === null ? null : new Date(endedAt).toISOString(),
				new Date(a.lastAt).toISOString(),
				a.type,
				a.severity,
				a.peakPps,
				a.peakBps,
				a.packets,
				a.bytes,
				a.dropped,
				reasonsOf(RATE_LIMIT_REASONS),
				a.reasons.CHALLENGE ?? 0,
				a.sources.size,
				JSON.stringify(this.topSources(a)),
				JSON.stringify(a.reasons),
				JSON.stringify(a.actions),
				JSON.stringify({ step: a.step, points: series }),
				a.previousLevel,
				a.escalatedLevel,
				a.id,
			);
	}
}
