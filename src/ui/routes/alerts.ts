// /alerts: list, create, edit, enable/disable, delete — through services.alerts. The form's
// fields are named by the API's paths (condition.threshold, notifications[1].destination) so the
// domain's field errors land next to their inputs; channel rows are added and removed by posting
// the form back, which keeps everything typed.
import { Elysia } from "elysia";
import { AlertFormPage, AlertListPage, AlertTable } from "../../../views/pages/alerts.tsx";
import type { Alert, AlertCreate } from "../../domain/alerts/model.ts";
import { DomainError, Forbidden } from "../../domain/errors.ts";
import type { Services } from "../../services.ts";
import { bool, type Form, num, renumber, rows, shownAgain, text } from "../forms.ts";
import { fieldErrors, formOf, html, page, respond, seeOther, type Ui } from "../http.ts";
import { NOTICES } from "./backends.ts";

const HIDE = { detail: { hide: true } };
const BOOLEANS = ["enabled"];

/** "1500", "0.5", "-2" → numbers; anything else stays text so the domain's schema names the field. */
function decimal(value: string | undefined): number | string | undefined {
	const v = value?.trim();
	if (!v) return undefined;
	return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
}

/** The alert form as the API's create input; channel rows without a destination are left out. */
export function alertInput(form: Form): AlertCreate {
	const notifications = rows(form, "notifications").flatMap((i) => {
		const destination = text(form[`notifications[${i}].destination`]);
		return destination ? [{ type: form[`notifications[${i}].type`] ?? "", destination }] : [];
	});
	const durationSeconds = num(form["condition.durationSeconds"]);
	return {
		backendId: text(form.backendId) ?? null,
		name: form.name?.trim() ?? "",
		condition: {
			metric: form["condition.metric"] ?? "",
			operator: form["condition.operator"] ?? "",
			threshold: decimal(form["condition.threshold"]),
			...(durationSeconds === undefined ? {} : { durationSeconds }),
		},
		notifications,
		enabled: bool(form, "enabled"),
	} as AlertCreate;
}

/** A stored alert as the form's values. */
export function alertValues(a: Alert): Form {
	const f: Form = {
		name: a.name,
		backendId: a.backendId ?? "",
		enabled: String(a.enabled),
		"condition.metric": a.condition.metric,
		"condition.operator": a.condition.operator,
		"condition.threshold": String(a.condition.threshold),
		"condition.durationSeconds": String(a.condition.durationSeconds ?? 0),
	};
	a.notifications.forEach((n, i) => {
		f[`notifications[${i}].type`] = n.type;
		f[`notifications[${i}].destination`] = n.destination;
	});
	return f;
}

/** Applies an add/remove channel operation of the form; null when the form is being saved. */
function rowOperation(form: Form): Form | null {
	const op = form._op ?? "save";
	const next = { ...form };
	delete next._op;
	if (op === "add-notification") {
		const i = Math.max(-1, ...rows(next, "notifications")) + 1;
		next[`notifications[${i}].type`] = "WEBHOOK";
		next[`notifications[${i}].destination`] = "";
		return next;
	}
	const remove = /^remove-notification:(\d+)$/.exec(op);
	if (remove) return renumber(next, "notifications", Number(remove[1]));
	return null;
}

const sameCondition = (a: Alert["condition"], b: AlertCreate["condition"]) =>
	JSON.stringify({ durationSeconds: 0, ...a }) === JSON.stringify({ durationSeconds: 0, ...b });

export function alertRoutesUi(services: Services) {
	const backendsOf = (ui: Ui) => services.backends.list(ui.actor, { pageSize: 100 }).data;

	const alertsOf = (ui: Ui) => services.alerts.list(ui.actor, Number(ui.url.searchParams.get("page") ?? "1") || 1, 50);

	const listPage = (ui: Ui) => {
		const result = alertsOf(ui);
		return respond(ui, {
			title: "Alerts",
			section: "alerts",
			content: AlertListPage({
				viewer: ui.viewer,
				alerts: result.data,
				pagination: result.pagination,
				backends: backendsOf(ui),
				notice: NOTICES[ui.url.searchParams.get("done") ?? ""],
			}),
		});
	};

	const formPage = (ui: Ui, form: Form, errors: ReturnType<typeof fieldErrors>, alert: Alert | null, status = 200) =>
		respond(ui, {
			title: alert ? `Edit alert ${alert.name}` : "New alert",
			section: "alerts",
			status,
			content: AlertFormPage({ form: { values: form, errors }, csrf: ui.viewer.csrf, backends: backendsOf(ui), alert }),
		});

	/** The form is only offered to those who may save it; the service checks again on save. */
	const mayWrite = (ui: Ui) => {
		if (!ui.viewer.can.write) throw new Forbidden("requires the 'write' permission");
	};

	return new Elysia({ name: "ui-alerts" })
		.get(
			"/alerts",
			page(services, "alerts", (ui) => listPage(ui)),
			HIDE,
		)
		.get(
			"/alerts/new",
			page(services, "alerts", (ui) => {
				mayWrite(ui);
				return formPage(
					ui,
					{
						enabled: "true",
						backendId: ui.url.searchParams.get("backendId") ?? "",
						"condition.metric": "requests_per_second",
						"condition.operator": "GREATER_THAN",
						"condition.durationSeconds": "60",
					},
					[],
					null,
				);
			}),
			HIDE,
		)
		.post(
			"/alerts/new",
			page(services, "alerts", (ui, { body }) => {
				const form = formOf(body);
				const changed = rowOperation(form);
				if (changed) {
					mayWrite(ui);
					return formPage(ui, shownAgain(changed, BOOLEANS), [], null);
				}
				try {
					services.alerts.create(ui.actor, alertInput(form));
					return seeOther("/alerts?done=created");
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return formPage(ui, shownAgain(form, BOOLEANS), fieldErrors(err), null, err.status);
				}
			}),
			HIDE,
		)
		.get(
			"/alerts/:id/edit",
			page(services, "alerts", (ui, { params }) => {
				mayWrite(ui);
				const alert = services.alerts.get(ui.actor, params.id as string);
				return formPage(ui, alertValues(alert), [], alert);
			}),
			HIDE,
		)
		.post(
			"/alerts/:id/edit",
			page(services, "alerts", (ui, { params, body }) => {
				const alert = services.alerts.get(ui.actor, params.id as string);
				const form = formOf(body);
				const changed = rowOperation(form);
				if (changed) {
					mayWrite(ui);
					return formPage(ui, shownAgain(changed, BOOLEANS), [], alert);
				}
				try {
					const input: Partial<AlertCreate> = alertInput(form);
					// A changed condition or scope restarts evaluation; leave them out when they are as stored.
					if (input.condition && sameCondition(alert.condition, input.condition)) delete input.condition;
					if (input.backendId === alert.backendId) delete input.backendId;
					services.alerts.update(ui.actor, alert.id, input);
					return seeOther("/alerts?done=saved");
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return formPage(ui, shownAgain(form, BOOLEANS), fieldErrors(err), alert, err.status);
				}
			}),
			HIDE,
		)
		.post(
			"/alerts/:id/enabled",
			page(services, "alerts", (ui, { params, body }) => {
				services.alerts.update(ui.actor, params.id as string, { enabled: formOf(body).enabled === "true" });
				if (!ui.fragment) return seeOther("/alerts?done=saved");
				const result = alertsOf(ui);
				return html(
					AlertTable({
						viewer: ui.viewer,
						alerts: result.data,
						pagination: result.pagination,
						backends: backendsOf(ui),
					}),
				);
			}),
			HIDE,
		)
		.post(
			"/alerts/:id/delete",
			page(services, "alerts", (ui, { params }) => {
				services.alerts.delete(ui.actor, params.id as string);
				return seeOther("/alerts?done=deleted");
			}),
			HIDE,
		);
}
