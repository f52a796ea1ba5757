// The telemetry collector over a scripted counter source: per-second rates, rollups and the
// metrics API answered from them, Prometheus figures, top sources by country, attack detection
// with classification (drop reasons, traffic classes), events, auto-mitigation and its audit, and
// query validation.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BackendCtr, Ctr, ReasonName, TrafficClass } from "../../src/dataplane/abi.ts";
import { REASON_NAMES, zeroBackendCtr } from "../../src/dataplane/abi.ts";
import type { SourceStats } from "../../src/dataplane/stats.ts";
import type { DomainEvent } from "../../src/events.ts";
import { classify, severityOf } from "../../src/telemetry/attacks.ts";
import { exposition } from "../../src/telemetry/prometheus.ts";
import type { CounterSource } from "../../src/telemetry/source.ts";
import { type TestCore, testCore } from "../helpers/app.ts";

/** Counters a test moves by hand, read the way the collector reads the kernel's. */
class ScriptedSource implements CounterSource {
	reasonCtrs = Object.fromEntries(REASON_NAMES.map((r) => [r, { packets: 0n, bytes: 0n }])) as Record<ReasonName, Ctr>;
	backendCtrs = new Map<number, BackendCtr>();
	entries: SourceStats[] = [];

	reasons() {
		return structuredClone(this.reasonCtrs);
	}
	backend(index: number): BackendCtr {
		return { ...(this.backendCtrs.get(index) ?? zeroBackendCtr()) };
	}
	rule() {
		return { packets: 0n, bytes: 0n, lastMatchNs: 0n };
	}
	sources() {
		return this.entries.map((e) => ({ ...e }));
	}
	/**
	 * One second of traffic to a backend: received packets of `size` bytes and traffic class `cls`,
	 * of which `dropped` dropped for `reason`.
	 */
	traffic(
		index: number,
		received: number,
		dropped: number,
		size = 100,
		reason: ReasonName = "RATELIMIT",
		cls: TrafficClass = "udp",
	) {
		const c = this.backendCtrs.get(index) ?? zeroBackendCtr();
		c[`${cls}Packets`] += BigInt(received);
		c[`${cls}Drops`] += BigInt(dropped);
		const passed = received - dropped;
		c.rxPackets += BigInt(received);
		c.rxBytes += BigInt(received * size);
		c.passPackets += BigInt(passed);
		c.passBytes += BigInt(passed * size);
		c.dropPackets += BigInt(dropped);
		c.dropBytes += BigInt(dropped * size);
		this.backendCtrs.set(index, c);
		this.reasonCtrs.PASS.packets += BigInt(passed);
		this.reasonCtrs.PASS.bytes += BigInt(passed * size);
		this.reasonCtrs[reason].packets += BigInt(dropped);
		this.reasonCtrs[reason].bytes += BigInt(dropped * size);
	}
}

let core: TestCore;
let source: ScriptedSource;
let events: DomainEvent[];
/** A minute boundary, so every second of a test lands in known buckets. */
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

function dpIndex(backendId: string): number {
	return core.services.db
		.query<{ dp_index: number }, [string]>("SELECT dp_index FROM backends WHERE id = ?")
		.get(backendId)?.dp_index as number;
}

function udpBackend(name = "bedrock", protection: Record<string, unknown> = {}) {
	return core.services.backends.create(core.owner, {
		name,
		type: "UDP",
		listeners: [{ port: 19132 + Math.floor(Math.random() * 1000), protocol: "UDP" }],
		protection: { level: "LOW", ...protection },
	});
}

/** Runs `seconds` collector ticks from `start`, calling `each` before every tick. */
function run(start: number, seconds: number, each: (i: number) => void = () => {}) {
	for (let i = 0; i < seconds; i++) {
		each(i);
		core.services.telemetry.tick(start + i * 1000);
	}
	return start + seconds * 1000;
}

beforeEach(async () => {
	core = await testCore();
	Object.assign(core.config.telemetry, {
		attack_min_pps: 1000,
		attack_dropped_pps: 500,
		attack_baseline_factor: 3,
		attack_start_seconds: 2,
		attack_quiet_seconds: 3,
		source_scan_seconds: 1,
		flush_seconds: 5,
	});
	source = new ScriptedSource();
	events = [];
	core.services.bus.on("*", (e) => events.push(e));
	core.services.telemetry.attach(source);
	core.services.setCounterView(core.services.telemetry);
});

afterEach(() => {
	core.services.telemetry.detach();
	core.close();
});

describe("collection and rollups", () => {
	test("per-second rates reach backend status; rollups answer traffic and time series with the counters' values", () => {
		const b = udpBackend();
		const index = dpIndex(b.id);
		// 90 seconds: 100 pps received, 10 dropped, 200-byte packets.
		const end = run(T0, 91, (i) => {
			if (i > 0) source.traffic(index, 100, 10, 200);
		});
		core.services.telemetry.flush(end);
		const status = core.services.backends.status(core.owner, b.id);
		expect(status).toMatchObject({ requestsPerSecond: 90, packetsPerSecond: 100, bytesPerSecond: 20_000 });

		const range = { backendId: b.id, from: new Date(T0).toISOString(), to: new Date(end).toISOString() };
		const traffic = core.services.metrics.traffic(core.owner, { ...range, granularity: "MINUTE" }).metrics;
		expect(traffic).toMatchObject({
			requestsTotal: 90 * 90,
			packetsIn: 9000,
			bytesIn: 9000 * 200,
			packetsDropped: 900,
			requestsPerSecond: 90,
			packetsPerSecond: 100,
			bytesOut: null,
			newConnections: null,
		});
		// Every granularity holds the same totals.
		for (const granularity of ["FIVE_MINUTES", "HOUR", "DAY"])
			expect(core.services.metrics.traffic(core.owner, { ...range, granularity }).metrics.packetsIn).toBe(9000);

		const ts = core.services.metrics.timeseries(core.owner, {
			...range,
			granularity: "MINUTE",
			metrics: ["requests_per_second", "dropped_packets_per_second", "drops_ratelimit_per_second"],
		});
		const [rps, drops, reason] = ts.series;
		expect(rps?.points.map((p) => p.value)).toEqual([90, 90]);
		expect(rps?.points[0]?.timestamp).toBe(new Date(T0).toISOString());
		expect(drops?.points.map((p) => p.value)).toEqual([10, 10]);
		expect(reason?.points.map((p) => p.value)).toEqual([10, 10]);
	});

	test("traffic classes reach the time series and Prometheus", () => {
		const b = udpBackend();
		const index = dpIndex(b.id);
		const end = run(T0, 61, (i) => {
			if (i === 0) return;
			source.traffic(index, 60, 6, 100, "RATELIMIT", "udp");
			source.traffic(index, 30, 30, 100, "RATELIMIT", "icmp");
			source.traffic(index, 10, 0, 100, "RATELIMIT", "frag");
		});
		core.services.telemetry.flush(end);
		const ts = core.services.metrics.timeseries(core.owner, {
			backendId: b.id,
			from: new Date(T0).toISOString(),
			to: new Date(end).toISOString(),
			granularity: "HOUR",
			metrics: [
				"udp_packets_per_second",
				"dropped_udp_packets_per_second",
				"icmp_packets_per_second",
				"dropped_icmp_packets_per_second",
				"fragment_packets_per_second",
				"tcp_syn_packets_per_second",
				"tcp_ack_packets_per_second",
			],
		});
		expect(ts.series.map((s) => s.points.map((p) => p.value))).toEqual([[60], [6], [30], [30], [10], [0], [0]]);
		const text = exposition(core.services.db, core.services.telemetry, source);
		const label = `backend_id="${b.id}",backend="bedrock",organization_id="${core.organization.id}"`;
		expect(text).toContain(`pistonprotection_backend_class_received_packets_total{${label},class="icmp"} 1800`);
		expect(text).toContain(`pistonprotection_backend_class_dropped_packets_total{${label},class="icmp"} 1800`);
		expect(text).toContain(`pistonprotection_backend_class_received_packets_total{${label},class="tcp_ack"} 0`);
		expect(text).toContain(`pistonprotection_backend_class_received_packets_total{${label},class="fragment"} 600`);
	});

	test("Prometheus exposition carries the kernel totals and the last second's rates", () => {
		const b = udpBackend();
		const index = dpIndex(b.id);
		run(T0, 3, (i) => {
			if (i > 0) source.traffic(index, 50, 5, 100);
		});
		const text = exposition(core.services.db, core.services.telemetry, source);
		const label = `backend_id="${b.id}",backend="bedrock",organization_id="${core.organization.id}"`;
		expect(text).toContain(`pistonprotection_backend_received_packets_total{${label}} 100`);
		expect(text).toContain(`pistonprotection_backend_requests_total{${label}} 90`);
		expect(text).toContain(`pistonprotection_backend_dropped_packets_total{${label}} 10`);
		expect(text).toContain(`pistonprotection_backend_requests_per_second{${label}} 45`);
		expect(text).toContain(`pistonprotection_verdict_packets_total{reason="RATELIMIT",verdict="drop"} 10`);
		expect(text).toContain("# TYPE pistonprotection_backend_received_packets_total counter");
		expect(text).toContain(`pistonprotection_backend_under_attack{${label}} 0`);
	});

	test("sources in the rate-limit table become per-country traffic; blocked follows the backend's geoIp", () => {
		const csv = join(core.config.storage.data_dir, "country.csv");
		writeFileSync(csv, "198.51.100.0,198.51.100.255,DE\n203.0.113.0,203.0.113.255,FR\n");
		core.config.geoip.country_database = csv;
		const b = udpBackend("geo", { geoIp: { mode: "BLOCK_LIST", countries: ["FR"] } });
		const index = dpIndex(b.id);
		const entry = (address: string, packets: number, drops: number): SourceStats => ({
			address,
			backend: index,
			packets: BigInt(packets),
			bytes: BigInt(packets * 100),
			drops: BigInt(drops),
		});
		source.entries = [entry("198.51.100.7", 5, 0)];
		let t = run(T0, 2);
		source.entries = [entry("198.51.100.7", 25, 0), entry("198.51.100.8", 10, 2), entry("203.0.113.9", 40, 40)];
		t = run(t, 2);
		core.services.telemetry.flush(t);
		const geo = core.services.metrics.geo(core.owner, {
			backendId: b.id,
			from: new Date(T0).toISOString(),
			to: new Date(t).toISOString(),
		});
		expect(geo.countries).toEqual([
			{
				countryCode: "FR",
				countryName: "France",
				requests: 0,
				packets: 40,
				packetsRateLimited: 40,
				bytes: 4000,
				uniqueIps: 1,
				blocked: true,
			},
			{
				countryCode: "DE",
				countryName: "Germany",
				requests: 28,
				packets: 30,
				packetsRateLimited: 2,
				bytes: 3000,
				uniqueIps: 2,
				blocked: false,
			},
		]);
		expect(core.services.telemetry.topSources(1)[0]?.address).toBe("203.0.113.9");
	});

	test("queries are validated and scoped to the caller's organization", async () => {
		const key = core.key(["read"]);
		const bad = await core.request("/v1/metrics/traffic?granularity=WEEK&from=yesterday", { key });
		expect(bad.status).toBe(400);
		const problem = await bad.json();
		expect(problem.errors.map((e: { field: string }) => e.field).sort()).toEqual(["from", "granularity"]);
		const unknown = await core.request("/v1/metrics/timeseries?metrics=requests_per_second,nope", { key });
		expect(unknown.status).toBe(400);
		const tooFine = await core.request(
			"/v1/metrics/timeseries?granularity=MINUTE&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
			{ key },
		);
		expect(tooFine.status).toBe(400);
		const other = await core.otherOrganization();
		const theirs = core.services.backends.create(other.owner, {
			name: "theirs",
			type: "UDP",
			listeners: [{ port: 30000, protocol: "UDP" }],
		});
		expect((await core.request(`/v1/metrics/geo?backendId=${theirs.id}`, { key })).status).toBe(404);
		const ok = await core.request(
			"/v1/metrics/timeseries?metrics=requests_per_second&metrics=drops_fragment_per_second",
			{
				key,
			},
		);
		expect(ok.status).toBe(200);
		expect((await ok.json()).series.map((s: { metricName: string }) => s.metricName)).toEqual([
			"requests_per_second",
			"drops_fragment_per_second",
		]);
		expect((await core.request("/v1/metrics/attacks")).status).toBe(401);
	});
});

describe("attack detection", () => {
	test("a UDP flood starts an attack, underAttack and events follow, and quiet ends it", () => {
		const b = udpBackend();
		const index = dpIndex(b.id);
		let t = run(T0, 20, () => source.traffic(index, 100, 0));
		expect(core.services.backends.status(core.owner, b.id).underAttack).toBe(false);
		t = run(t, 5, () => source.traffic(index, 20_000, 0, 500));
		expect(core.services.backends.status(core.owner, b.id).underAttack).toBe(true);
		const detected = events.find((e) => e.type === "attack.detected");
		expect(detected?.data).toMatchObject({ backendId: b.id, attackType: "UDP_FLOOD", mitigationStatus: "ACTIVE" });
		expect(events.find((e) => e.type === "backend.under_attack")?.data).toMatchObject({ underAttack: true });
		const during = core.services.metrics.attacks(core.owner, { backendId: b.id, to: new Date(t).toISOString() });
		expect(during.metrics).toMatchObject({ underAttack: true, attackType: "UDP_FLOOD", severity: "MEDIUM" });

		t = run(t, 4, () => source.traffic(index, 100, 0));
		expect(core.services.backends.status(core.owner, b.id).underAttack).toBe(false);
		const mitigated = events.find((e) => e.type === "attack.mitigated");
		expect(mitigated?.data).toMatchObject({ backendId: b.id, mitigationStatus: "MITIGATED" });
		const after = core.services.metrics.attacks(core.owner, {
			backendId: b.id,
			from: new Date(T0).toISOString(),
			to: new Date(t).toISOString(),
		});
		expect(after.attacks).toHaveLength(1);
		const record = after.attacks[0];
		expect(record).toMatchObject({
			active: false,
			attackType: "UDP_FLOOD",
			peakPps: 20_000,
			peakBps: 20_000 * 500 * 8,
		});
		// The flood's seconds (from the second the threshold was first crossed for start_seconds).
		expect(record?.packets).toBe(4 * 20_000 + 3 * 100);
		expect(record?.actions.map((a: { action: string }) => a.action)).toEqual(["DETECTED", "ENDED"]);
		const detail = core.services.metrics.attack(core.owner, record?.id as string);
		expect(detail.series?.points.map((p) => p.receivedPps)).toEqual([20_000, 20_000, 20_000, 20_000, 100, 100, 100]);
	});

	test("a TCP backend's ACK flood is ACK_FLOOD and an ICMP flood at its address ICMP_FLOOD, from its traffic classes", () => {
		const b = core.services.backends.create(core.owner, {
			name: "java",
			type: "MINECRAFT_JAVA",
			listeners: [{ port: 25565, protocol: "TCP" }],
			protection: { level: "LOW" },
		});
		const index = dpIndex(b.id);
		const attack = () =>
			core.services.metrics.attacks(core.owner, { backendId: b.id, to: new Date(t).toISOString() }).metrics;
		let t = run(T0, 10, () => source.traffic(index, 50, 0, 100, "PASS", "ack"));
		t = run(t, 4, () => source.traffic(index, 8000, 7000, 60, "INVALID", "ack"));
		expect(attack()).toMatchObject({ underAttack: true, attackType: "ACK_FLOOD" });
		t = run(t, 4, () => source.traffic(index, 50, 0, 100, "PASS", "ack"));
		expect(attack().underAttack).toBe(false);
		t = run(t, 4, () => source.traffic(index, 6000, 0, 84, "PASS", "icmp"));
		expect(attack()).toMatchObject({ underAttack: true, attackType: "ICMP_FLOOD" });
		t = run(t, 4, () => source.traffic(index, 50, 0, 100, "PASS", "syn"));
		t = run(t, 4, () => source.traffic(index, 9000, 0, 60, "PASS", "syn"));
		expect(attack()).toMatchObject({ underAttack: true, attackType: "SYN_FLOOD" });
	});

	test("fragment drops classify as FRAGMENT_FLOOD, and auto-mitigation raises and restores the level, audited", () => {
		const b = udpBackend("auto", { level: "MEDIUM", autoMitigate: { enabled: true, level: "UNDER_ATTACK" } });
		expect(core.services.backends.get(core.owner, b.id).protection.autoMitigate).toEqual({
			enabled: true,
			level: "UNDER_ATTACK",
		});
		const index = dpIndex(b.id);
		let t = run(T0, 5, () => source.traffic(index, 10, 0));
		t = run(t, 4, () => source.traffic(index, 3000, 2900, 1500, "FRAGMENT"));
		expect(core.services.backends.get(core.owner, b.id).protection.level).toBe("UNDER_ATTACK");
		const escalated = events.find((e) => e.type === "attack.escalated");
		expect(escalated?.data).toMatchObject({
			attackType: "FRAGMENT_FLOOD",
			reason: "auto_mitigation",
			protectionLevel: "UNDER_ATTACK",
			previousLevel: "MEDIUM",
		});
		t = run(t, 4, () => source.traffic(index, 10, 0));
		expect(core.services.backends.get(core.owner, b.id).protection.level).toBe("MEDIUM");
		const audit = core.services.db
			.query<{ actor_type: string; metadata: string }, [string]>(
				"SELECT * FROM audit_logs WHERE resource_id = ? AND action = 'backend.protection_changed' ORDER BY rowid",
			)
			.all(b.id);
		expect(audit.map((a) => JSON.parse(a.metadata))).toEqual([
			{ from: "MEDIUM", to: "UNDER_ATTACK", actorKind: "system" },
			{ from: "UNDER_ATTACK", to: "MEDIUM", actorKind: "system" },
		]);
		const [record] = core.services.metrics.attacks(core.owner, {
			from: new Date(T0).toISOString(),
			to: new Date(t).toISOString(),
		}).attacks;
		expect(record?.actions.map((a: { action: string }) => a.action)).toEqual([
			"DETECTED",
			"ESCALATED",
			"RESTORED",
			"ENDED",
		]);
	});

	test("a level changed by someone during the attack is left alone", () => {
		const b = udpBackend("manual", { autoMitigate: { enabled: true } });
		const index = dpIndex(b.id);
		let t = run(T0, 3, () => source.traffic(index, 10, 0));
		t = run(t, 3, () => source.traffic(index, 5000, 0));
		expect(core.services.backends.get(core.owner, b.id).protection.level).toBe("UNDER_ATTACK");
		core.services.backends.setProtectionLevel(core.owner, b.id, "HIGH");
		run(t, 4, () => source.traffic(index, 10, 0));
		expect(core.services.backends.get(core.owner, b.id).protection.level).toBe("HIGH");
	});

	test("autoMitigate is validated", () => {
		expect(() => udpBackend("bad", { autoMitigate: { enabled: true, level: "OFF" } })).toThrow();
		expect(() => udpBackend("bad2", { autoMitigate: { level: "HIGH" } })).toThrow();
	});

	test("an attack left open by a stopped daemon is closed and its level restored on the next attach", () => {
		const b = udpBackend("restart", { autoMitigate: { enabled: true, level: "HIGH" } });
		const index = dpIndex(b.id);
		let t = run(T0, 3, () => source.traffic(index, 10, 0));
		t = run(t, 3, () => source.traffic(index, 5000, 0));
		expect(core.services.backends.get(core.owner, b.id).protection.level).toBe("HIGH");
		core.services.telemetry.detach();
		expect(core.services.backends.status(core.owner, b.id).underAttack).toBe(true);
		core.services.telemetry.attach(source);
		expect(core.services.backends.status(core.owner, b.id).underAttack).toBe(false);
		expect(core.services.backends.get(core.owner, b.id).protection.level).toBe("LOW");
	});

	test("classification and severity follow the counters", () => {
		expect(classify({ REFLECTION: 900, RATELIMIT: 100 }, new Set(["UDP"]))).toBe("AMPLIFICATION");
		expect(classify({ MC_HANDSHAKE: 600, RATELIMIT: 400 }, new Set(["TCP"]))).toBe("MINECRAFT_HANDSHAKE_FLOOD");
		expect(classify({ SYN_COOKIE: 700, RATELIMIT: 300 }, new Set(["TCP"]))).toBe("SYN_FLOOD");
		expect(classify({ RAKNET: 50, RATELIMIT: 10 }, new Set(["UDP"]))).toBe("RAKNET_FLOOD");
		expect(classify({ QUIC: 50 }, new Set(["UDP"]))).toBe("QUIC_FLOOD");
		expect(classify({ RATELIMIT: 1000, FRAGMENT: 10 }, new Set(["UDP"]))).toBe("UDP_FLOOD");
		expect(classify({ RATELIMIT: 1000 }, new Set(["TCP"]))).toBe("GENERIC");
		// The backend's traffic classes, when no reason dominates the drops.
		const tcp = new Set(["TCP"]);
		expect(classify({ RATELIMIT: 10 }, tcp, { syn: 9000, ack: 100 })).toBe("SYN_FLOOD");
		expect(classify({ INVALID: 5000 }, tcp, { ack: 9000, syn: 50, udp: 10 })).toBe("ACK_FLOOD");
		expect(classify({}, tcp, { icmp: 6000, ack: 4000 })).toBe("ICMP_FLOOD");
		expect(classify({}, tcp, { udp: 5000, ack: 100 })).toBe("UDP_FLOOD");
		expect(classify({}, new Set(["UDP"]), { frag: 3000, udp: 1000 })).toBe("FRAGMENT_FLOOD");
		// No class with half of the packets: the protocol decides.
		expect(classify({}, tcp, { syn: 400, ack: 300, icmp: 300 })).toBe("GENERIC");
		expect(classify({}, new Set(["UDP"]), { udp: 400, icmp: 350, frag: 250 })).toBe("UDP_FLOOD");
		// A dominant drop reason still names the protocol floods and amplification.
		expect(classify({ RAKNET: 900 }, new Set(["UDP"]), { udp: 9000 })).toBe("RAKNET_FLOOD");
		expect(classify({ REFLECTION: 900 }, new Set(["UDP"]), { udp: 9000 })).toBe("AMPLIFICATION");
		expect(classify({ MC_HANDSHAKE: 900 }, tcp, { ack: 9000 })).toBe("MINECRAFT_HANDSHAKE_FLOOD");
		expect(severityOf(5000, 1e6)).toBe("LOW");
		expect(severityOf(5000, 2e8)).toBe("MEDIUM");
		expect(severityOf(150_000, 0)).toBe("HIGH");
		expect(severityOf(10, 2e10)).toBe("CRITICAL");
	});
});
