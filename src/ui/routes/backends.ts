// /backends: list, create, detail, edit, protection level, delete — through services.backends.
import { Elysia } from "elysia";
import type { FormState } from "../../../views/components.tsx";
import { BackendFormPage } from "../../../views/pages/backend-form.tsx";
import { BackendDetailPage, BackendListPage, LevelSwitch } from "../../../views/pages/backends.tsx";
import { DomainError } from "../../domain/errors.ts";
import type { Services } from "../../services.ts";
import {
	backendBooleans,
	backendCreateInput,
	backendUpdateInput,
	backendValues,
	type Form,
	renumber,
	rows,
	shownAgain,
} from "../forms.ts";
import { fieldErrors, formOf, html, page, respond, seeOther, type Ui } from "../http.ts";

const HIDE = { detail: { hide: true } };

export const NOTICES: Record<string, string> = {
	created: "Created.",
	saved: "Saved.",
	deleted: "Deleted.",
	revoked: "Revoked.",
	removed: "Removed.",
	invited: "Invitation created.",
};

const NEW_ORIGIN = { weight: "100", priority: "1", enabled: "true" };

/** Applies an add/remove row operation of the form; null when the form is being saved. */
function rowOperation(form: Form): Form | null {
	const op = form._op ?? "save";
	const next = { ...form };
	delete next._op;
	if (op === "add-origin") {
		const i = Math.max(-1, ...rows(next, "origins")) + 1;
		for (const [k, v] of Object.entries(NEW_ORIGIN)) next[`origins[${i}].${k}`] = v;
		next[`origins[${i}].name`] = "";
		return next;
	}
	if (op === "add-listener") {
		const i = Math.max(-1, ...rows(next, "listeners")) + 1;
		next[`listeners[${i}].port`] = "";
		next[`listeners[${i}].protocol`] = "TCP";
		return next;
	}
	const remove = /^remove-(origin|listener):(\d+)$/.exec(op);
	if (remove) return renumber(next, remove[1] === "origin" ? "origins" : "listeners", Number(remove[2]));
	return null;
}

/** A safe same-site path to return to after a plain form post. */
function backPath(value: string | undefined, fallback: string): string {
	return value && /^\/(?![/\\])/.test(value) ? value : fallback;
}

export function backendRoutesUi(services: Services) {
	const formPage = (ui: Ui, form: FormState, backend: { id: string; name: string } | null, status = 200) =>
		respond(ui, {
			title: backend ? `Edit ${backend.name}` : "New backend",
			section: "backends",
			status,
			content: BackendFormPage({ form, csrf: ui.viewer.csrf, backend }),
		});

	return new Elysia({ name: "ui-backends" })
		.get(
			"/backends",
			page(services, "backends", (ui) => {
				const q = ui.url.searchParams;
				const search = q.get("search") ?? "";
				const status = q.get("status") ?? "";
				const result = services.backends.list(ui.actor, {
					page: Number(q.get("page") ?? "1") || 1,
					search: search || undefined,
					status: status || undefined,
				});
				return respond(ui, {
					title: "Backends",
					section: "backends",
					content: BackendListPage({
						viewer: ui.viewer,
						backends: result.data,
						pagination: result.pagination,
						search,
						status,
						notice: NOTICES[q.get("done") ?? ""],
					}),
				});
			}),
			HIDE,
		)
		.get(
			"/backends/new",
			page(services, "backends", (ui) => {
				const values: Form = { type: "MINECRAFT_JAVA" };
				for (const [k, v] of Object.entries(NEW_ORIGIN)) values[`origins[0].${k}`] = v;
				values["origins[0].name"] = "";
				return formPage(ui, { values, errors: [] }, null);
			}),
			HIDE,
		)
		.post(
			"/backends/new",
			page(services, "backends", (ui, { body }) => {
				const form = formOf(body);
				const changed = rowOperation(form);
				if (changed) return formPage(ui, { values: shownAgain(changed, backendBooleans(changed)), errors: [] }, null);
				try {
					const backend = services.backends.create(ui.actor, backendCreateInput(form));
					return seeOther(`/backends/${backend.id}?done=created`);
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return formPage(
						ui,
						{ values: shownAgain(form, backendBooleans(form)), errors: fieldErrors(err) },
						null,
						err.status,
					);
				}
			}),
			HIDE,
		)
		.get(
			"/backends/:id",
			page(services, "backends", (ui, { params }) => {
				const backend = services.backends.get(ui.actor, params.id as string);
				// The collector's last seconds of this backend (bytes shown as bits).
				const points = services.telemetry
					.backendSeries(backend.id)
					.map((p) => ({ at: p.at, rxPps: p.rxPps, passPps: p.passPps, dropPps: p.dropPps, rxBps: p.rxBps * 8 }));
				return respond(ui, {
					title: backend.name,
					section: "backends",
					content: BackendDetailPage({
						viewer: ui.viewer,
						backend,
						sampler: services.telemetry.state(),
						points,
						seconds: Math.max(1, points.length),
						ruleCount: services.rules.list(ui.actor, { backendId: backend.id, pageSize: 1 }).pagination.totalCount,
						notice: NOTICES[ui.url.searchParams.get("done") ?? ""],
					}),
				});
			}),
			HIDE,
		)
		.get(
			"/backends/:id/edit",
			page(services, "backends", (ui, { params }) => {
				const backend = services.backends.get(ui.actor, params.id as string);
				return formPage(ui, { values: backendValues(backend), errors: [] }, backend);
			}),
			HIDE,
		)
		.post(
			"/backends/:id/edit",
			page(services, "backends", (ui, { params, body }) => {
				const current = services.backends.get(ui.actor, params.id as string);
				const form = formOf(body);
				const changed = rowOperation(form);
				if (changed)
					return formPage(ui, { values: shownAgain(changed, backendBooleans(changed)), errors: [] }, current);
				try {
					services.backends.update(ui.actor, current.id, backendUpdateInput(form, current));
					return seeOther(`/backends/${current.id}?done=saved`);
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return formPage(
						ui,
						{ values: shownAgain(form, backendBooleans(form)), errors: fieldErrors(err) },
						current,
						err.status,
					);
				}
			}),
			HIDE,
		)
		.post(
			"/backends/:id/level",
			page(services, "backends", (ui, { params, body }) => {
				const form = formOf(body);
				const backend = services.backends.setProtectionLevel(ui.actor, params.id as string, form.level);
				if (ui.fragment) return html(LevelSwitch({ backend, viewer: ui.viewer, back: form.back ?? "/backends" }));
				return seeOther(backPath(form.back, `/backends/${backend.id}`));
			}),
			HIDE,
		)
		.post(
			"/backends/:id/delete",
			page(services, "backends", (ui, { params }) => {
				services.backends.delete(ui.actor, params.id as string);
				return seeOther("/backends?done=deleted");
			}),
			HIDE,
		);
}
