import { expect, test } from "bun:test";
import { echoThrough, freePort, proxyCore, tcpEchoOrigin, until } from "../helpers/proxy.ts";
test("smoke", async () => {
	const core = await proxyCore();
	const origin = await tcpEchoOrigin({ proxyProtocol: true });
	const port = await freePort();
	core.services.backends.create(core.owner, { name: "a", type: "TCP", listeners: [{ address: "127.0.0.1", port, protocol: "TCP" }], origins: [{ name: "o1", address: "127.0.0.1", port: origin.port, settings: { proxyProtocol: 2 } }] });
	await until(() => core.proxy.status().listeners.length === 1);
	const payload = Buffer.from(crypto.getRandomValues(new Uint8Array(65536)));
	const big = Buffer.concat(Array.from({ length: 160 }, () => payload));
	const t0 = performance.now();
	const got = await echoThrough(port, big, { localAddress: "127.0.0.7" });
	console.log("bytes", got.length, big.length, performance.now() - t0, origin.headers);
	expect(got.equals(big)).toBe(true);
	await origin.stop();
	core.close();
});
