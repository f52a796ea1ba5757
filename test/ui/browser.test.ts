// The admin UI in headless Chromium against the real appliance: a daemon with its data plane
// attached to a veth pair of a pp- namespace. Screenshots of every main page (desktop and phone,
// light and dark) go to test-artifacts/ui/; any console error or failed request fails the run.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { ROOT } from "../helpers/daemon.ts";
import { createRig, type Rig } from "../helpers/dataplane.ts";
import { canUseNetns } from "../helpers/netns.ts";

const skip = canUseNetns();
const ARTIFACTS = join(ROOT, "test-artifacts", "ui");
const PASSWORD = "a browser test password";
const PORT = 27015;

let rig: Rig;
let url: string;
let profile: string;
let context: BrowserContext;
const problems: string[] = [];

async function addUser(email: string, role: "OWNER" | "VIEWER") {
	const { services, close } = rig.services();
	try {
		const org = services.users.firstOwner()?.organizationId as string;
		const hash = await Bun.password.hash(PASSWORD, { algorithm: "argon2id" });
		const user = services.users.insertUser(email, "", hash);
		services.users.insertMembership(org, user.id, role);
	} finally {
		close();
	}
}

function watch(page: Page) {
	page.on("console", (m) => {
		if (m.type() === "error") problems.push(`console: ${m.text()} (${page.url()})`);
	});
	page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
	page.on("requestfailed", (r) => {
		// Polls in flight when the page navigates away are aborted by the browser, not failed.
		if (r.failure()?.errorText === "net::ERR_ABORTED" && ["xhr", "fetch"].includes(r.resourceType())) return;
		problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
	});
	page.on("response", (r) => {
		if (r.status() >= 500) problems.push(`server error: ${r.status()} ${r.url()}`);
	});
	return page;
}

async function signIn(page: Page, email: string) {
	await page.goto(`${url}/login`);
	await page.fill("#email", email);
	await page.fill("#password", PASSWORD);
	await Promise.all([page.waitForURL(`${url}/`), page.click("button[type=submit]")]);
}

async function withServices<T>(fn: (s: ReturnType<Rig["services"]>) => T): Promise<T> {
	const s = rig.services();
	try {
		return fn(s);
	} finally {
		s.close();
	}
}

describe.skipIf(!!skip)("admin UI in Chromium", () => {
	beforeAll(async () => {
		rig = await createRig(80);
		await rig.start();
		url = rig.daemon?.url as string;
		await addUser("admin@example.com", "OWNER");
		await addUser("viewer@example.com", "VIEWER");
		mkdirSync(ARTIFACTS, { recursive: true });
		profile = mkdtempSync(join(tmpdir(), "pp-chromium-"));
		context = await chromium.launchPersistentContext(profile, {
			executablePath: "/usr/bin/chromium",
			headless: true,
			args: [
				"--headless",
				"--no-sandbox",
				"--disable-gpu",
				"--disable-quic",
				"--no-first-run",
				"--disable-background-networking",
				"--disable-component-update",
				"--disable-sync",
			],
			viewport: { width: 1280, height: 900 },
		});
	}, 120_000);

	afterAll(async () => {
		await context?.close();
		if (profile) rmSync(profile, { recursive: true, force: true });
		await rig?.destroy();
	}, 60_000);

	test("an admin runs the appliance from the browser", async () => {
		const page = watch(await context.newPage());
		page.on("dialog", (d) => d.accept());
		await signIn(page, "admin@example.com");
		expect(await page.locator("h1").textContent()).toBe("Dashboard");

		// A backend with two origins and a UDP listener.
		await page.goto(`${url}/backends/new`);
		await page.fill("#f-name", "game");
		await page.selectOption("#f-type", "UDP");
		await page.click("button[value=add-listener]");
		await page.fill("#f-listeners-0-port", String(PORT));
		await page.selectOption("#f-listeners-0-protocol", "UDP");
		await page.fill("#f-origins-0-name", "primary");
		await page.fill("#f-origins-0-address", "127.0.0.1");
		await page.fill("#f-origins-0-port", "30001");
		await page.click("button[value=add-origin]");
		await page.fill("#f-origins-1-name", "secondary");
		await page.fill("#f-origins-1-address", "127.0.0.1");
		await page.fill("#f-origins-1-port", "30002");
		await Promise.all([page.waitForURL(/\/backends\/bk_/), page.click("button[value=save]")]);
		const backendId = new URL(page.url()).pathname.split("/")[2] as string;
		expect(await page.locator("#backend-live tbody tr").count()).toBe(2);

		// Two rules, then the second dragged above the first.
		for (const [name, action, source] of [
			["drop-doc", "DROP", "203.0.113.0/24"],
			["allow-office", "ALLOW", "192.0.2.0/24"],
		] as const) {
			await page.goto(`${url}/rules/new?backendId=${backendId}`);
			await page.fill("#f-name", name);
			await page.selectOption("#f-action", action);
			await page.fill("#f-match-sourceIps", source);
			await page.check("#f-match-protocols > label:has-text('UDP') input");
			await Promise.all([
				page.waitForURL(/\/rules\?backendId=/),
				page.click("form[action='/rules/new'] button[type=submit]"),
			]);
		}
		const order = () =>
			withServices(({ services, actor }) => services.rules.list(actor, { backendId }).data.map((r) => r.name));
		expect(await order()).toEqual(["drop-doc", "allow-office"]);
		await page.locator("tr[data-id]").nth(1).dragTo(page.locator("tr[data-id]").nth(0));
		await page.waitForFunction(() => document.querySelector("tr[data-id] strong")?.textContent === "allow-office");
		expect(await order()).toEqual(["allow-office", "drop-doc"]);

		// Block one of the namespace's sources for an hour.
		await page.goto(`${url}/ips`);
		await page.fill("form[action='/ips/block'] #f-ip", rig.topo.peerV4[1] as string);
		await page.fill("form[action='/ips/block'] #f-reason", "browser test");
		await page.fill("form[action='/ips/block'] #f-duration", "1");
		await Promise.all([page.waitForURL(/done=created/), page.click("form[action='/ips/block'] button[type=submit]")]);
		expect(await page.locator("#ip-list").textContent()).toContain(rig.topo.peerV4[1] as string);

		// One click to UNDER_ATTACK.
		await page.goto(`${url}/backends/${backendId}`);
		await page.click(`#level-${backendId} button[value=UNDER_ATTACK]`);
		await page.waitForSelector(`#level-${backendId} button[value=UNDER_ATTACK][aria-pressed=true]`);
		expect(await withServices(({ services, actor }) => services.backends.get(actor, backendId).protection.level)).toBe(
			"UNDER_ATTACK",
		);

		// An API key, shown once with a copy button.
		await page.goto(`${url}/api-keys`);
		await page.fill("#f-name", "deploy");
		await page.check("input[name='permissions:write']");
		await page.click("form[action='/api-keys'] button[type=submit]");
		const key = (await page.locator("#new-key").textContent()) ?? "";
		expect(key).toMatch(/^pp_live_/);
		await page.click("[data-copy=new-key]");

		// An alert: a typo in the threshold is shown next to the field and nothing typed is lost.
		await page.goto(`${url}/alerts/new`);
		await page.fill("#f-name", "flood");
		await page.selectOption("#f-backendId", backendId);
		await page.selectOption("#f-condition-metric", "dropped_packets_per_second");
		await page.fill("#f-condition-threshold", "many");
		await page.click("button[value=add-notification]");
		await page.selectOption("#f-notifications-0-type", "DISCORD");
		await page.fill("#f-notifications-0-destination", "https://discord.example/api/webhooks/1/x");
		await page.click("button[value=save]");
		expect(await page.locator("#f-condition-threshold-error").textContent()).toBe("expected number");
		expect(await page.inputValue("#f-notifications-0-destination")).toBe("https://discord.example/api/webhooks/1/x");
		expect(await page.inputValue("#f-name")).toBe("flood");
		// The form came back with 400 on purpose; Chromium logs every 4xx document as a console error.
		const rejected = problems.findIndex((p) => p.includes("status of 400") && p.endsWith("/alerts/new)"));
		expect(rejected).toBeGreaterThanOrEqual(0);
		problems.splice(rejected, 1);
		await page.fill("#f-condition-threshold", "1000");
		await Promise.all([page.waitForURL(/\/alerts\?done=created/), page.click("button[value=save]")]);
		expect(await page.locator("#alerts tbody").textContent()).toContain("dropped packets per second above 1000");

		// A webhook: the secret is shown once with a copy button; a test event lands in the history.
		await page.goto(`${url}/webhooks`);
		await page.fill("#f-url", "http://127.0.0.1:9/hook");
		await page.check("input[name='events:alert.fired']");
		await page.click("form[action='/webhooks'] button[type=submit]");
		expect((await page.locator("#webhook-secret").textContent()) ?? "").toMatch(/^whsec_/);
		await page.click("[data-copy=webhook-secret]");
		await Promise.all([page.waitForURL(/\/webhooks\/wh_/), page.click("text=Open the new webhook")]);
		const hookPath = new URL(page.url()).pathname;
		await Promise.all([page.waitForURL(/done=tested/), page.click("button:has-text('Send test event')")]);
		expect(await page.locator("#deliveries").textContent()).toContain("webhook.test");

		// Traffic from the namespace shows up on the dashboard's chart.
		await page.goto(`${url}/`);
		await rig.settle();
		const last = async (series: string) =>
			Number((await page.locator(`#chart-pps polyline[data-series=${series}]`).getAttribute("data-last")) ?? 0);
		let seen = { passed: 0, dropped: 0 };
		for (let i = 0; i < 20 && (seen.passed === 0 || seen.dropped === 0); i++) {
			await Promise.all([
				rig.udp(rig.topo.peerV4[0] as string, rig.topo.hostV4, PORT, 400, 200),
				rig.udp(rig.topo.peerV4[1] as string, rig.topo.hostV4, PORT, 400, 200),
			]);
			await page.waitForTimeout(2200);
			if (await page.locator("#chart-pps polyline").count())
				seen = {
					passed: Math.max(seen.passed, await last("passed")),
					dropped: Math.max(seen.dropped, await last("dropped")),
				};
		}
		expect(seen.passed).toBeGreaterThan(0);
		expect(seen.dropped).toBeGreaterThan(0);
		await page.screenshot({ path: join(ARTIFACTS, "dashboard-traffic-desktop-light.png"), fullPage: true });

		// Screenshots of every main page: desktop and phone, light and dark.
		const pages = {
			dashboard: "/",
			backends: "/backends",
			backend: `/backends/${backendId}`,
			"backend-edit": `/backends/${backendId}/edit`,
			rules: `/rules?backendId=${backendId}`,
			ips: "/ips",
			alerts: "/alerts",
			"alert-new": "/alerts/new",
			webhooks: "/webhooks",
			webhook: hookPath,
			"webhook-edit": `${hookPath}/edit`,
			members: "/members",
			"api-keys": "/api-keys",
			"oauth-clients": "/oauth-clients",
			audit: "/audit",
			settings: "/settings",
		};
		for (const scheme of ["light", "dark"] as const) {
			await page.emulateMedia({ colorScheme: scheme });
			for (const [width, height, label] of [
				[1280, 900, "desktop"],
				[390, 844, "phone"],
			] as const) {
				await page.setViewportSize({ width, height });
				for (const [name, path] of Object.entries(pages)) {
					await page.goto(`${url}${path}`);
					const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
					expect(overflow, `${name} at ${label} scrolls sideways`).toBeLessThanOrEqual(1);
					await page.screenshot({ path: join(ARTIFACTS, `${name}-${label}-${scheme}.png`), fullPage: true });
				}
			}
		}
		await page.close();
		expect(problems).toEqual([]);
	}, 240_000);

	test("a VIEWER sees no controls, and a forged change is refused", async () => {
		const viewer = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "pp-chromium-")), {
			executablePath: "/usr/bin/chromium",
			headless: true,
			args: [
				"--no-sandbox",
				"--disable-gpu",
				"--disable-quic",
				"--no-first-run",
				"--disable-background-networking",
				"--disable-component-update",
				"--disable-sync",
			],
		});
		try {
			const page = watch(await viewer.newPage());
			await signIn(page, "viewer@example.com");
			const backendId = await withServices(
				({ services, actor }) => services.backends.list(actor).data[0]?.id as string,
			);
			await page.goto(`${url}/backends/${backendId}`);
			expect(await page.locator(`#level-${backendId} button`).count()).toBe(0);
			expect(await page.locator("form[method=post]:not([action='/logout'])").count()).toBe(0);
			await page.goto(`${url}/rules?backendId=${backendId}`);
			expect(await page.locator("tr[draggable]").count()).toBe(0);
			await page.screenshot({ path: join(ARTIFACTS, "rules-viewer-desktop-light.png"), fullPage: true });
			for (const path of ["/alerts", "/webhooks"]) {
				await page.goto(`${url}${path}`);
				expect(await page.locator("form[method=post]:not([action='/logout'])").count(), path).toBe(0);
				expect(await page.locator("main a[href$='/edit'], main a[href='/alerts/new']").count(), path).toBe(0);
			}
			await page.screenshot({ path: join(ARTIFACTS, "webhooks-viewer-desktop-light.png"), fullPage: true });
			const csrf = (await page.locator("meta[name=csrf-token]").getAttribute("content")) ?? "";
			const forged = await page.request.post(`${url}/backends/${backendId}/level`, {
				form: { _csrf: csrf, level: "OFF" },
				maxRedirects: 0,
			});
			expect(forged.status()).toBe(403);
			expect(
				await withServices(({ services, actor }) => services.backends.get(actor, backendId).protection.level),
			).toBe("UNDER_ATTACK");
			await page.close();
			expect(problems.filter((p) => !p.includes("403"))).toEqual([]);
		} finally {
			await viewer.close();
		}
	}, 60_000);
});
