// l7Match through real requests to /v1/filters and into pp_l7_cfgs: the options the data plane
// enforces are accepted and compiled per backend, everything else is refused by name.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { L7Flag, LAYOUT, QUIC_V1, QUIC_V2 } from "../../src/dataplane/abi.ts";
import { compileL7, L7_SESSION_NS, MC_BAN_SECONDS } from "../../src/dataplane/compile.ts";
import { type TestCore, testCore } from "../helpers/app.ts";

let core: TestCore;
let key: string;
const backends: Record<string, { id: string; index: number }> = {};

async function backend(type: string, port: number, protocol: "TCP" | "UDP") {
	const res = await core.json(
		"/v1/backends",
		"POST",
		{ name: type.toLowerCase(), type, listeners: [{ address: "198.51.100.10", port, protocol }] },
		key,
	);
	expect(res.status).toBe(201);
	const id = (await res.json()).id as string;
	const row = core.services.db
		.query<{ dp_index: number }, [string]>("SELECT dp_index FROM backends WHERE id = ?")
		.get(id);
	backends[type] = { id, index: row?.dp_index as number };
}

beforeEach(async () => {
	core = await testCore();
	key = core.key();
	await backend("MINECRAFT_BEDROCK", 19132, "UDP");
	await backend("QUIC", 443, "UDP");
	await backend("MINECRAFT_JAVA", 25565, "TCP");
});
afterEach(() => core.close());

const post = (body: unknown) => core.json("/v1/filters", "POST", body, key);
const rule = (type: string, l7Match: unknown, extra: object = {}) =>
	post({ backendId: backends[type]?.id, name: "l7", match: { l7Match }, action: "ALLOW", ...extra });

/** pp_l7_cfg of a backend, decoded. */
function cfgOf(type: string) {
	const bytes = compileL7(core.services.db).get(backends[type]?.index as number) as Uint8Array;
	const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	const m = LAYOUT.pp_l7_cfg.members;
	const n = v.getUint32(m.nr_quic_versions[0], true);
	return {
		flags: v.getUint32(m.flags[0], true),
		versions: Array.from({ length: n }, (_, i) => v.getUint32(m.quic_versions[0] + i * 4, true)),
		sessionNs: v.getBigUint64(m.session_ns[0], true),
		protocols: [v.getUint32(m.mc_min_proto[0], true), v.getUint32(m.mc_max_proto[0], true)],
		banNs: v.getBigUint64(m.ban_ns[0], true),
		maxConns: v.getUint32(m.max_conns[0], true),
	};
}

describe("l7Match and the backends' protocol checks", () => {
	test("by type: Java validates handshakes, Bedrock RakNet, QUIC Initials of v1 and v2", () => {
		expect(cfgOf("MINECRAFT_BEDROCK")).toMatchObject({ flags: L7Flag.RAKNET, versions: [], sessionNs: L7_SESSION_NS });
		expect(cfgOf("QUIC")).toMatchObject({ flags: L7Flag.QUIC, versions: [QUIC_V1, QUIC_V2], banNs: 0n });
		expect(cfgOf("MINECRAFT_JAVA")).toMatchObject({
			flags: L7Flag.MC_JAVA | L7Flag.MC_LEGACY,
			protocols: [0, 0x7fffffff],
			banNs: BigInt(MC_BAN_SECONDS) * 1_000_000_000n,
		});
	});

	test("minecraftJava options set the protocol range, the legacy ping and the ban", async () => {
		const res = await rule("MINECRAFT_JAVA", {
			minecraftJava: { minProtocolVersion: 47, maxProtocolVersion: 769, allowLegacyPing: false, banSeconds: 0 },
		});
		expect(res.status).toBe(201);
		expect(cfgOf("MINECRAFT_JAVA")).toMatchObject({ flags: L7Flag.MC_JAVA, protocols: [47, 769], banNs: 0n });
		await rule("MINECRAFT_JAVA", { minecraftJava: { validateHandshake: false } }, { priority: 1 });
		expect(cfgOf("MINECRAFT_JAVA").flags).toBe(0);
	});

	test("the spec's bedrock and quic options are accepted and compiled", async () => {
		expect((await rule("QUIC", { quic: { allowedVersions: [2], validateInitial: true } })).status).toBe(201);
		expect(cfgOf("QUIC")).toMatchObject({ flags: L7Flag.QUIC, versions: [QUIC_V2] });
		expect((await rule("MINECRAFT_BEDROCK", { minecraftBedrock: { validateRaknetMagic: false } })).status).toBe(201);
		expect(cfgOf("MINECRAFT_BEDROCK").flags).toBe(0);
	});

	test("maxConnectionsPerIp limits the Java or Bedrock backend it is set for, and no other", async () => {
		expect([cfgOf("MINECRAFT_JAVA").maxConns, cfgOf("MINECRAFT_BEDROCK").maxConns]).toEqual([0, 0]);
		expect((await rule("MINECRAFT_JAVA", { minecraftJava: { maxConnectionsPerIp: 3 } })).status).toBe(201);
		expect((await rule("MINECRAFT_BEDROCK", { minecraftBedrock: { maxConnectionsPerIp: 16 } })).status).toBe(201);
		// Options of another protocol's section do not apply to the backend.
		expect((await rule("QUIC", { minecraftJava: { maxConnectionsPerIp: 2 } })).status).toBe(201);
		expect(cfgOf("MINECRAFT_JAVA")).toMatchObject({ flags: L7Flag.MC_JAVA | L7Flag.MC_LEGACY, maxConns: 3 });
		expect(cfgOf("MINECRAFT_BEDROCK")).toMatchObject({ flags: L7Flag.RAKNET, maxConns: 16 });
		expect(cfgOf("QUIC").maxConns).toBe(0);
		await rule(
			"MINECRAFT_JAVA",
			{ minecraftJava: { maxConnectionsPerIp: 1, validateHandshake: false } },
			{ priority: 1 },
		);
		expect(cfgOf("MINECRAFT_JAVA")).toMatchObject({ flags: 0, maxConns: 1 });
	});

	test("the highest-priority rule that sets an option decides; a disabled rule does not count", async () => {
		await rule("QUIC", { quic: { allowedVersions: [1] } }, { priority: 10 });
		await rule("QUIC", { quic: { allowedVersions: [2], validateInitial: false } }, { priority: 20 });
		await rule("QUIC", { quic: { validateInitial: true } }, { priority: 5, enabled: false });
		expect(cfgOf("QUIC")).toMatchObject({ flags: 0, versions: [] });
	});

	test("options the data plane does not enforce, and bad values, are refused by name", async () => {
		const cases: Array<[unknown, string, string]> = [
			[
				{ minecraftJava: { maxConnectionsPerIp: 0 } },
				"match.l7Match.minecraftJava.maxConnectionsPerIp",
				"invalid_value",
			],
			[
				{ minecraftJava: { maxConnectionsPerIp: 17 } },
				"match.l7Match.minecraftJava.maxConnectionsPerIp",
				"invalid_value",
			],
			[
				{ minecraftJava: { maxConnectionsPerIp: 2.5 } },
				"match.l7Match.minecraftJava.maxConnectionsPerIp",
				"invalid_value",
			],
			[
				{ minecraftJava: { maxConnectionsPerIp: "5" } },
				"match.l7Match.minecraftJava.maxConnectionsPerIp",
				"invalid_value",
			],
			[
				{ minecraftJava: { minProtocolVersion: 800, maxProtocolVersion: 47 } },
				"match.l7Match.minecraftJava.minProtocolVersion",
				"invalid_value",
			],
			[{ minecraftJava: { banSeconds: -1 } }, "match.l7Match.minecraftJava.banSeconds", "invalid_value"],
			[{ http: { methods: ["GET"] } }, "match.l7Match.http", "unsupported"],
			[
				{ minecraftBedrock: { maxConnectionsPerIp: -1 } },
				"match.l7Match.minecraftBedrock.maxConnectionsPerIp",
				"invalid_value",
			],
			[{ minecraftBedrock: { maxPlayers: 5 } }, "match.l7Match.minecraftBedrock.maxPlayers", "unsupported"],
			[{ quic: { allowedVersions: [3] } }, "match.l7Match.quic.allowedVersions", "invalid_enum"],
			[{ quic: { allowedVersions: [] } }, "match.l7Match.quic.allowedVersions", "invalid_value"],
			[{ quic: { allowedVersions: [1, 2, 1, 2, 1] } }, "match.l7Match.quic.allowedVersions", "invalid_value"],
			[{ quic: { validateInitial: "yes" } }, "match.l7Match.quic.validateInitial", "invalid_value"],
			[{ quic: 1 }, "match.l7Match.quic", "invalid_value"],
		];
		for (const [l7Match, field, code] of cases) {
			const res = await rule("QUIC", l7Match);
			expect([field, res.status]).toEqual([field, 400]);
			expect((await res.json()).errors).toEqual([expect.objectContaining({ field, code })]);
		}
		// Refused means nothing changed.
		expect(core.services.db.query("SELECT COUNT(*) AS n FROM filter_rules").get()).toEqual({ n: 0 });
		expect(cfgOf("QUIC")).toMatchObject({ flags: L7Flag.QUIC, maxConns: 0 });
	});
});
