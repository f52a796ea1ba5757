// /attacks: attack history (type, duration, peak, top sources, actions) and one attack with its
// chart — through services.metrics, the same records as GET /v1/metrics/attacks.
import { Elysia } from "elysia";
import { AttackDetailPage, AttackListPage } from "../../../views/pages/attacks.tsx";
import type { Services } from "../../services.ts";
import { page, respond } from "../http.ts";

const HIDE = { detail: { hide: true } };

export function attackRoutesUi(services: Services) {
	return new Elysia({ name: "ui-attacks" })
		.get(
			"/attacks",
			page(services, "attacks", (ui) => {
				const q = ui.url.searchParams;
				const backendId = q.get("backendId") || undefined;
				const result = services.metrics.listAttacks(ui.actor, Number(q.get("page") ?? "1") || 1, 20, backendId);
				return respond(ui, {
					title: "Attacks",
					section: "attacks",
					content: AttackListPage({
						attacks: result.data,
						pagination: result.pagination,
						backendId,
						backends: services.backends.list(ui.actor, { pageSize: 100 }).data,
					}),
				});
			}),
			HIDE,
		)
		.get(
			"/attacks/:id",
			page(services, "attacks", (ui, { params }) => {
				const attack = services.metrics.attack(ui.actor, params.id as string);
				return respond(ui, { title: `Attack ${attack.id}`, section: "attacks", content: AttackDetailPage({ attack }) });
			}),
			HIDE,
		);
}
