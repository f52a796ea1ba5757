// GET / — the dashboard; GET/POST /setup — first run, when no owner exists yet.
import { Elysia } from "elysia";
import { emptyForm } from "../../../views/components.tsx";
import { DashboardPage, type SourceRow } from "../../../views/pages/dashboard.tsx";
import { SetupPage } from "../../../views/pages/setup.tsx";
import { DomainError, ValidationError } from "../../domain/errors.ts";
import { MIN_PASSWORD_LENGTH } from "../../domain/users/service.ts";
import type { Services } from "../../services.ts";
import { fieldErrors, formOf, html, page, respond, seeOther } from "../http.ts";

const HIDE = { detail: { hide: true } };

export function dashboardRoutes(services: Services) {
	return new Elysia({ name: "ui-dashboard" })
		.get(
			"/",
			page(services, "dashboard", (ui) => {
				const telemetry = services.telemetry;
				const backends = services.backends.list(ui.actor, { pageSize: 100 }).data;
				const names = new Map<number, string>();
				const slots = new Map(
					services.db
						.query<{ id: string; dp_index: number }, []>("SELECT id, dp_index FROM backends WHERE sandbox = 0")
						.all()
						.map((r) => [r.id, r.dp_index]),
				);
				for (const b of backends) {
					const slot = slots.get(b.id);
					if (slot !== undefined) names.set(slot, b.name);
				}
				const sources: SourceRow[] = telemetry.topSources(10).map((s) => {
					const geo = services.geoip.lookup(s.address);
					return {
						address: s.address,
						backend: s.backend === null ? "rule limit" : (names.get(s.backend) ?? `#${s.backend}`),
						packets: Number(s.packets),
						bytes: Number(s.bytes),
						drops: Number(s.drops),
						country: geo.country ?? "—",
						asn: geo.asn ? `AS${geo.asn}${geo.organization ? ` ${geo.organization}` : ""}` : "—",
					};
				});
				// The collector's last seconds of the whole host (bytes shown as bits).
				const traffic = telemetry.hostSeries().map((p) => ({
					at: p.at,
					passedPps: p.passedPps,
					droppedPps: p.droppedPps,
					passedBps: p.passedBps * 8,
					droppedBps: p.droppedBps * 8,
				}));
				return respond(ui, {
					title: "Dashboard",
					section: "dashboard",
					content: DashboardPage({
						sampler: telemetry.state(),
						dataplane: services.readiness().dataplane,
						traffic,
						attacks: services.metrics.activeAttacks(ui.actor).map((a) => ({
							id: a.id,
							backendName: a.backendName ?? a.backendId,
							attackType: a.attackType,
							severity: a.severity,
							startedAt: a.startedAt,
							peakPps: a.peakPps,
						})),
						sources,
						backends,
						seconds: Math.max(1, traffic.length),
						canWrite: ui.viewer.can.write,
					}),
				});
			}),
			HIDE,
		)
		.get(
			"/setup",
			() =>
				services.users.ownerExists()
					? seeOther("/login")
					: html(SetupPage({ form: emptyForm(), minPassword: MIN_PASSWORD_LENGTH })),
			HIDE,
		)
		.post(
			"/setup",
			async ({ request, body }) => {
				if (services.users.ownerExists()) return seeOther("/login");
				const form = formOf(body);
				const shown = { organizationName: form.organizationName ?? "", email: form.email ?? "" };
				// Nobody is signed in yet, so no CSRF token exists: a cross-site post is refused by its Origin.
				const origin = request.headers.get("origin");
				if (origin && origin !== new URL(request.url).origin)
					return html(
						SetupPage({
							form: {
								values: shown,
								errors: [{ field: "body", code: "forbidden", message: "This form did not come from this site." }],
							},
							minPassword: MIN_PASSWORD_LENGTH,
						}),
						403,
					);
				try {
					if ((form.password ?? "") !== (form.confirm ?? ""))
						throw ValidationError.field("confirm", "mismatch", "the passwords differ");
					await services.users.createOwner({
						email: (form.email ?? "").trim(),
						password: form.password ?? "",
						organizationName: form.organizationName ?? "",
					});
					return seeOther("/login?next=%2F");
				} catch (err) {
					if (!(err instanceof DomainError)) throw err;
					return html(
						SetupPage({ form: { values: shown, errors: fieldErrors(err) }, minPassword: MIN_PASSWORD_LENGTH }),
						err.status,
					);
				}
			},
			HIDE,
		);
}
