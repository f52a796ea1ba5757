// A fresh in-process appliance core per test: temporary database, services, the REST app,
// and an owner with an API key. Requests go through app.handle(new Request(...)).
import { join } from "node:path";
import { DEFAULTS } from "../../src/config.ts";
import { migrate, openDatabase } from "../../src/db/database.ts";
import { type Actor, type Permission, ROLE_PERMISSIONS } from "../../src/domain/actor.ts";
import { buildHttpApp } from "../../src/http/app.ts";
import { Logger } from "../../src/log.ts";
import { createServices } from "../../src/services.ts";
import { tempDir } from "./daemon.ts";

export async function testCore() {
	const dir = tempDir();
	const config = structuredClone(DEFAULTS);
	config.storage.data_dir = dir.path;
	config.dataplane.enabled = false;
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
	return {
		services,
		app,
		owner,
		organization,
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
