// A fresh in-process appliance core per test: temporary database, services, the REST app,
// and an owner with an API key. Requests go through app.handle(new Request(...)).
import { join } from "node:path";
import { DEFAULTS } from "../../src/config.ts";
import { migrate, openDatabase } from "../../src/db/database.ts";
import { type Actor, type Permission, ROLE_PERMISSIONS, type Role } from "../../src/domain/actor.ts";
import { buildHttpApp } from "../../src/http/app.ts";
import { Logger } from "../../src/log.ts";
import { createServices } from "../../src/services.ts";
import { tempDir } from "./daemon.ts";

export async function testCore() {
	const dir = tempDir();
	const config = structuredClone(DEFAULTS);
	config.storage.data_dir = dir.path;
	config.dataplane.enabled = false;
	// Anonymous requests are not rate limited unless a test asks for it.
	config.api.anonymous_tier = "ENTERPRISE";
	const db = openDatabase(join(dir.path, "pp.db"));
	migrate(db);
	const log = Logger.create("error", () => {});
	const services = createServices(db, config, log);
	const app = buildHttpApp(services);
	const { user, organization } = await services.users.createOwner({
		email: "owner@example.com",
		password: "correct horse battery",
		organizationName: "Acme",
	});
	const owner: Actor = {
		kind: "user",
		organizationId: organization.id,
		userId: user.id,
		email: user.email,
		role: "OWNER",
		permissions: ROLE_PERMISSIONS.OWNER,
		sandbox: false,
		ipAddress: null,
		userAgent: null,
	};
	const password = "correct horse battery";
	/** A user with a role in an organization (default: Acme), and an actor for it. */
	const member = async (role: Role, email: string, organizationId = organization.id) => {
		const hash = await Bun.password.hash(password, { algorithm: "argon2id", memoryCost: 4096, timeCost: 1 });
		const existing = services.users.findByEmail(email);
		const id = existing?.id ?? services.users.insertUser(email, "", hash).id;
		services.users.insertMembership(organizationId, id, role);
		const actor: Actor = { ...owner, organizationId, userId: id, email, role, permissions: ROLE_PERMISSIONS[role] };
		return actor;
	};
	return {
		services,
		app,
		owner,
		organization,
		config,
		password,
		member,
		/** Another organization with its own OWNER. */
		async otherOrganization() {
			const org = services.organizations.insert("Other");
			return { organization: org, owner: await member("OWNER", "other-owner@example.com", org.id) };
		},
		keyFor(actor: Actor, permissions: Permission[] = ["read"], environment: "live" | "test" = "live") {
			return services.apiKeys.create(actor, { name: "test", permissions, environment }).key;
		},
		async login(email = "owner@example.com") {
			const res = await app.handle(
				new Request("http://localhost/v1/auth/login", {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ email, password }),
				}),
			);
			return (await res.json()) as { accessToken: string; refreshToken: string; expiresIn: number };
		},
		json(path: string, method: string, body: unknown, key?: string) {
			const headers = new Headers({ "content-type": "application/json" });
			if (key) headers.set("authorization", `Bearer ${key}`);
			return app.handle(new Request(`http://localhost${path}`, { method, headers, body: JSON.stringify(body) }));
		},
		key(permissions: Permission[] = ["read", "write", "delete", "admin"], environment: "live" | "test" = "live") {
			return services.apiKeys.create(owner, { name: "test", permissions, environment }).key;
		},
		request(path: string, init: RequestInit & { key?: string } = {}) {
			const headers = new Headers(init.headers);
			if (init.key) headers.set("authorization", `Bearer ${init.key}`);
			return app.handle(new Request(`http://localhost${path}`, { ...init, headers }));
		},
		close() {
			db.close();
			dir.cleanup();
		},
	};
}

export type TestCore = Awaited<ReturnType<typeof testCore>>;
