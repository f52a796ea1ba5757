// Every migration (applied in version order; numbers may leave gaps for parallel work). Embedded in the binary as text; applied by db/migrate.ts.
import init from "./001_init.sql" with { type: "text" };
import protection from "./002_protection.sql" with { type: "text" };
import accounts from "./003_accounts.sql" with { type: "text" };
import protectionApi from "./004_protection_api.sql" with { type: "text" };
import webhooks from "./010_webhooks.sql" with { type: "text" };
import alerts from "./011_alerts.sql" with { type: "text" };
import telemetry from "./012_telemetry.sql" with { type: "text" };
import challengeVerified from "./013_challenge_verified.sql" with { type: "text" };
import proxyTelemetry from "./014_proxy_telemetry.sql" with { type: "text" };
import trafficClasses from "./016_traffic_classes.sql" with { type: "text" };
import kernelSeconds from "./017_kernel_seconds.sql" with { type: "text" };

export interface Migration {
	version: number;
	name: string;
	sql: string;
}

export const MIGRATIONS: Migration[] = [
	{ version: 1, name: "init", sql: init },
	{ version: 2, name: "protection", sql: protection },
	{ version: 3, name: "accounts", sql: accounts },
	{ version: 4, name: "protection_api", sql: protectionApi },
	{ version: 10, name: "webhooks", sql: webhooks },
	{ version: 11, name: "alerts", sql: alerts },
	{ version: 12, name: "telemetry", sql: telemetry },
	{ version: 13, name: "challenge_verified", sql: challengeVerified },
	{ version: 14, name: "proxy_telemetry", sql: proxyTelemetry },
	{ version: 16, name: "traffic_classes", sql: trafficClasses },
	{ version: 17, name: "kernel_seconds", sql: kernelSeconds },
];
