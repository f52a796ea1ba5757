// Minecraft Java through the appliance with real PrismarineJS peers: hostname routing between
// two backends on one listener, the player's address via PROXY v2, the unknown-host message,
// the status cache, and the reconnect challenge (also by the player's country, from GeoIP).
import { afterEach, describe, expect, test } from "bun:test";
import { canWriteMmdb, writeMmdb } from "../helpers/geoip.ts";
import { join, type MinecraftOrigin, minecraftOrigin, ping } from "../helpers/minecraft.ts";
import { freePort, proxyCore, until } from "../helpers/proxy.ts";

type Core = Awaited<ReturnType<typeof proxyCore>>;
let core: Core | null = null;
const origins: MinecraftOrigin[] = [];

afterEach(async () => {
	for (const o of origins.splice(0)) await o.stop();
	core?.close();
	core = null;
});

async function twoBackends(c: Core, healthCheck: Record<string, unknown> = {}) {
	const a = await minecraftOrigin({ motd: "Server A", proxyProtocol: true });
	const b = await minecraftOrigin({ motd: "Server B", proxyProtocol: true });
	origins.push(a, b);
	const port = await freePort();
	const listeners = [{ address: "127.0.0.1", port, protocol: "TCP" as const }];
	const hc = {
		enabled: true,
		intervalSeconds: 1,
		timeoutSeconds: 2,
		healthyThreshold: 1,
		unhealthyThreshold: 1,
		minecraft: { queryStatus: true },
		...healthCheck,
	};
	const backendA = c.services.backends.create(c.owner, {
		name: "a",
		type: "MINECRAFT_JAVA",
		listeners,
		domains: ["a.mc.test"],
		healthCheck: hc,
		origins: [{ name: "a1", address: "127.0.0.1", port: a.port, settings: { proxyProtocol: 2 } }],
	});
	const backendB = c.services.backends.create(c.owner, {
		name: "b",
		type: "MINECRAFT_JAVA",
		listeners,
		domains: ["b.mc.test", "*.b.mc.test"],
		healthCheck: hc,
		origins: [{ name: "b1", address: "127.0.0.1", port: b.port, settings: { proxyProtocol: 2 } }],
	});
	await until(
		() => c.proxy.status().listeners.some((l) => l.port === port && l.backends.length === 2),
		5000,
		"listener",
	);
	return { a, b, port, backendA, backendB };
}

describe("the Minecraft Java proxy", () => {
	test("routes ping and login by the handshake's hostname, and the origin sees the player's address", async () => {
		core = await proxyCore();
		const { a, b, port } = await twoBackends(core);
		const pa = await ping(port, "a.mc.test", "127.0.0.11");
		const pb = await ping(port, "B.MC.TEST.", "127.0.0.12");
		expect(JSON.stringify(pa.description)).toContain("Server A");
		expect(JSON.stringify(pb.description)).toContain("Server B");

		expect(await join(port, "a.mc.test", "Alice", "127.0.0.21")).toContain("welcome Alice");
		expect(await join(port, "play.b.mc.test\0FML3\0", "Bob", "127.0.0.22")).toContain("welcome Bob");
		expect(a.joins).toEqual([{ username: "Alice", address: "127.0.0.21" }]);
		expect(b.joins).toEqual([{ username: "Bob", address: "127.0.0.22" }]);
	}, 30_000);

	test("an unknown hostname gets the configured message on login and in the server list", async () => {
		core = await proxyCore((c) => {
			c.proxy.unknown_host_message = "No such server here";
		});
		const { port } = await twoBackends(core);
		expect(await join(port, "nowhere.test", "Eve")).toContain("No such server here");
		const res = await ping(port, "nowhere.test");
		expect(JSON.stringify(res.description)).toContain("No such server here");
	}, 30_000);

	test("the last good status is answered by the appliance when the origin is down", async () => {
		core = await proxyCore();
		const { a, port, backendA } = await twoBackends(core);
		await until(() => core?.services.originHealth(backendA.origins[0]?.id as string) === "HEALTHY", 5000, "healthy");
		await Bun.sleep(100);
		await a.stop();
		origins.splice(origins.indexOf(a), 1);
		await until(
			() => core?.services.originHealth(backendA.origins[0]?.id as string) === "UNHEALTHY",
			5000,
			"unhealthy",
		);
		const res = await ping(port, "a.mc.test");
		expect(JSON.stringify(res.description)).toContain("Server A");
	}, 30_000);

	test("a status the origin leaves unanswered is answered from the cache after status_timeout_ms", async () => {
		core = await proxyCore((c) => {
			c.proxy.status_timeout_ms = 300;
		});
		const { a, port, backendA } = await twoBackends(core, { intervalSeconds: 30, unhealthyThreshold: 5 });
		await until(() => core?.services.originHealth(backendA.origins[0]?.id as string) === "HEALTHY", 5000, "healthy");
		a.setStalled(true);
		const t0 = Date.now();
		const res = await ping(port, "a.mc.test");
		expect(JSON.stringify(res.description)).toContain("Server A");
		expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
		expect(Date.now() - t0).toBeLessThan(3000);
		expect(core.services.originHealth(backendA.origins[0]?.id as string)).toBe("HEALTHY");
	}, 30_000);

	test("a first-time player is asked to reconnect, and the reconnect joins", async () => {
		core = await proxyCore((c) => {
			c.proxy.challenge_message = "Reconnect to verify";
			c.proxy.challenge_allowlist = true;
		});
		const { a, port, backendA } = await twoBackends(core);
		core.services.rules.create(core.owner, { backendId: backendA.id, name: "verify", action: "CHALLENGE" });
		await until(() => core?.proxy.status() && true);
		await Bun.sleep(50);
		expect(await join(port, "a.mc.test", "Carol", "127.0.0.31")).toContain("Reconnect to verify");
		expect(a.joins).toEqual([]);
		expect(await join(port, "a.mc.test", "Carol", "127.0.0.31")).toContain("welcome Carol");
		// Another address is challenged on its own.
		expect(await join(port, "a.mc.test", "Dave", "127.0.0.32")).toContain("Reconnect to verify");
		expect(a.joins.map((j) => j.username)).toEqual(["Carol"]);
		// The verified address is on the backend's allow-list for the data plane, for the remember time.
		const allowed = core.services.ipLists.list(core.owner, "allow", { backendId: backendA.id }).data;
		expect(allowed.map((e) => e.ip)).toEqual(["127.0.0.31/32"]);
		expect(allowed[0]?.source).toBe("proxy");
		expect(Date.parse(allowed[0]?.expiresAt as string) - Date.now()).toBeGreaterThan(86_000_000);
	}, 30_000);

	const noMmdb = canWriteMmdb();
	test.skipIf(noMmdb !== null)(
		`a CHALLENGE rule for a country challenges players from it and no one else${noMmdb ? ` — skipped: ${noMmdb}` : ""}`,
		async () => {
			core = await proxyCore((c) => {
				c.proxy.challenge_message = "Reconnect to verify";
				c.geoip.country_database = writeMmdb(c.storage.data_dir, "country.mmdb", "country", {
					"127.0.0.33/32": "FR",
					"127.0.0.34/32": "DE",
				});
			});
			const { a, port, backendA } = await twoBackends(core);
			core.services.rules.create(core.owner, {
				backendId: backendA.id,
				name: "verify France",
				action: "CHALLENGE",
				match: { sourceCountries: ["FR"] },
			});
			await Bun.sleep(50);
			expect(await join(port, "a.mc.test", "Dieter", "127.0.0.34")).toContain("welcome Dieter");
			expect(await join(port, "a.mc.test", "Amelie", "127.0.0.33")).toContain("Reconnect to verify");
			expect(await join(port, "a.mc.test", "Amelie", "127.0.0.33")).toContain("welcome Amelie");
			expect(a.joins).toEqual([
				{ username: "Dieter", address: "127.0.0.34" },
				{ username: "Amelie", address: "127.0.0.33" },
			]);
			expect(core.services.proxyCounters(backendA.id)?.refusedChallenge).toBe(1);
		},
		30_000,
	);
});
