// The admin web UI: server-rendered pages (views/) over the same domain services as the APIs,
// with htmx (embedded, see assets.ts) for live charts, filters and in-place changes.
import { Elysia } from "elysia";
import type { Services } from "../services.ts";
import { accountRoutesUi } from "./routes/accounts.ts";
import { alertRoutesUi } from "./routes/alerts.ts";
import { attackRoutesUi } from "./routes/attacks.ts";
import { backendRoutesUi } from "./routes/backends.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { ipRoutesUi } from "./routes/ips.ts";
import { ruleRoutesUi } from "./routes/rules.ts";
import { settingsRoutesUi } from "./routes/settings.ts";
import { webhookRoutesUi } from "./routes/webhooks.ts";

export function uiRoutes(services: Services) {
	return new Elysia({ name: "ui" })
		.use(dashboardRoutes(services))
		.use(backendRoutesUi(services))
		.use(ruleRoutesUi(services))
		.use(ipRoutesUi(services))
		.use(attackRoutesUi(services))
		.use(alertRoutesUi(services))
		.use(webhookRoutesUi(services))
		.use(accountRoutesUi(services))
		.use(settingsRoutesUi(services));
}
