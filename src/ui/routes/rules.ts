// /rules: a backend's filter rules — list, create, edit, enable/disable, move, reorder (drag),
// delete — through services.rules. Changes from the list answer htmx with the list again.
import { Elysia } from "elysia";
import { RuleFormPage, RuleListPage } from "../../../views/pages/rules.tsx";
import type { Backend } from "../../domain/backends/model.ts";
import { DomainError } from "../../domain/errors.ts";
import type { Services } from "../../services.ts";
import { type Form, lines, ruleInput, ruleValues, shownAgain } from "../forms.ts";
import { fieldErrors, formOf, page, respond, seeOther, type Ui } from "../http.ts";
import { NOTICES } from "./backends.ts";

const HIDE = { detail: { hide: true } };

export function ruleRoutesUi(services: Services) {
	const backendsOf = (ui: Ui) => services.backends.list(ui.actor, { pageSize: 100 }).data;

	const listPage = (ui: Ui, backendId: string | null, notice?: string) => {
		const backends = backendsOf(ui);
		const backend: Backend | null = backendId ? services.backends.get(ui.actor, backendId) : (backends[0] ?? null);
		const rules = backend ? services.rules.list(ui.actor, { backendId: backend.id, pageSize: 100 }).data : [];
		return respond(ui, {
			title: "Filter rules",
			section: "rules",
			content: RuleListPage({ viewer: ui.viewer, backends, backend, rules, notice }),
		});
	};

	/** After a change from the list: htmx gets the list, a plain form post goes back to it. */
	const afterChange = (ui: Ui, backendId: string, done: string) =>
		ui.fragment ? listPage(ui, backendId) : seeOther(`/rules?backendId=${encodeURIComponent(backendId)}&done=${done}`);

	const formPage = (
		ui: Ui,
		values: Form,
		errors: ReturnType<typeof fieldErrors>,
		rule: { id: string; name: string } | null,
		status = 200,
	) =>
		respond(ui, {
			title: rule ? `Edit rule ${rule.name}` : "New filter rule",
			section: "rules",
			status,
			content: RuleFormPage({ form: { values, errors }, csrf: ui.viewer.csrf, backends: backendsOf(ui), rule }),
		});

	const BOOLEANS = ["enabled"];

	return new Elysia({ name: "ui-rules" })
		.get(
			"/rules",
			page(services, "rules", (ui) =>
				listPage(ui, ui.url.searchParams.get("backendId") || null, NOTICES[ui.url.searchParams.get("done") ?? ""]),
			),
			HIDE,
		)
		.get(
			"/rules/new",
			page(services, "rules", (ui) =>
				formPage(
					ui,
					{ backendId: ui.url.searchParams.get("backendId") ?? "", enabled: "true", action: "DROP" },
					[],
					null,
				),
			),
			HIDE,
		)
		.post(
			"/rules/new",
			page(services, "rules", (ui, { body }) => {
				const form = formOf(body);
				try {
					const rule = services.rules.create(ui.actor, { ...ruleInput(form), backendId: form.backendId ?? "" });
					return seeOther(`/rules?backendId=${rule.backendId}&done=created`);
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return formPage(ui, shownAgain(form, BOOLEANS), fieldErrors(err), null, err.status);
				}
			}),
			HIDE,
		)
		.get(
			"/rules/:id/edit",
			page(services, "rules", (ui, { params }) => {
				const rule = services.rules.get(ui.actor, params.id as string);
				return formPage(ui, ruleValues(rule), [], rule);
			}),
			HIDE,
		)
		.post(
			"/rules/:id/edit",
			page(services, "rules", (ui, { params, body }) => {
				const rule = services.rules.get(ui.actor, params.id as string);
				const form = { ...formOf(body), backendId: rule.backendId };
				try {
					services.rules.update(ui.actor, rule.id, ruleInput(form));
					return seeOther(`/rules?backendId=${rule.backendId}&done=saved`);
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return formPage(ui, shownAgain(form, BOOLEANS), fieldErrors(err), rule, err.status);
				}
			}),
			HIDE,
		)
		.post(
			"/rules/:id/enabled",
			page(services, "rules", (ui, { params, body }) => {
				const rule = services.rules.update(ui.actor, params.id as string, { enabled: formOf(body).enabled === "true" });
				return afterChange(ui, rule.backendId, "saved");
			}),
			HIDE,
		)
		.post(
			"/rules/:id/move",
			page(services, "rules", (ui, { params, body }) => {
				const rule = services.rules.get(ui.actor, params.id as string);
				const ids = services.rules.list(ui.actor, { backendId: rule.backendId, pageSize: 100 }).data.map((r) => r.id);
				const i = ids.indexOf(rule.id);
				const j = formOf(body).direction === "up" ? i - 1 : i + 1;
				if (j >= 0 && j < ids.length) {
					ids[i] = ids[j] as string;
					ids[j] = rule.id;
					services.rules.reorder(ui.actor, rule.backendId, ids);
				}
				return afterChange(ui, rule.backendId, "saved");
			}),
			HIDE,
		)
		.post(
			"/backends/:id/rules/reorder",
			page(services, "rules", (ui, { params, body }) => {
				services.rules.reorder(ui.actor, params.id, lines(formOf(body).ruleIds));
				return afterChange(ui, params.id as string, "saved");
			}),
			HIDE,
		)
		.post(
			"/rules/:id/delete",
			page(services, "rules", (ui, { params }) => {
				const rule = services.rules.get(ui.actor, params.id as string);
				services.rules.delete(ui.actor, rule.id);
				return afterChange(ui, rule.backendId, "deleted");
			}),
			HIDE,
		);
}
