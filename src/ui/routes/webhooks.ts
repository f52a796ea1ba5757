// /webhooks: list, create (the secret is shown this once), detail with the delivery history,
// send a test event, edit, enable again, delete — through services.webhooks. Creating, editing
// and deleting need the admin permission; sending a test event needs write (the service checks).
import { Elysia } from "elysia";
import { emptyForm, type FormState } from "../../../views/components.tsx";
import { WebhookDetailPage, WebhookFormPage, WebhookListPage } from "../../../views/pages/webhooks.tsx";
import { DomainError, Forbidden } from "../../domain/errors.ts";
import type { Webhook, WebhookUpdate } from "../../domain/webhooks/model.ts";
import type { Services } from "../../services.ts";
import { bool, type Form, setOf, shownAgain, text } from "../forms.ts";
import { fieldErrors, formOf, page, respond, seeOther, type Ui } from "../http.ts";
import { NOTICES } from "./backends.ts";

const HIDE = { detail: { hide: true } };
const DONE: Record<string, string> = {
	...NOTICES,
	tested: "Test event queued: it appears below and is delivered within seconds.",
	enabled: "Enabled again: new events are delivered.",
};

/** The webhook form as the API's input; an empty secret is left to the service (or kept). */
function webhookInput(form: Form): { url: string; events: string[]; secret?: string } {
	const secret = text(form.secret);
	return { url: (form.url ?? "").trim(), events: setOf(form, "events"), ...(secret ? { secret } : {}) };
}

function webhookValues(h: Webhook): Form {
	const f: Form = { url: h.url, enabled: String(h.enabled) };
	for (const e of h.events) f[`events:${e}`] = "true";
	return f;
}

const pageOf = (ui: Ui) => Number(ui.url.searchParams.get("page") ?? "1") || 1;

export function webhookRoutesUi(services: Services) {
	const listPage = (
		ui: Ui,
		extra: { form?: FormState; created?: { id: string; secret: string }; status?: number } = {},
	) => {
		const result = services.webhooks.list(ui.actor, pageOf(ui), 20);
		return respond(ui, {
			title: "Webhooks",
			section: "webhooks",
			status: extra.status,
			content: WebhookListPage({
				viewer: ui.viewer,
				hooks: result.data,
				pagination: result.pagination,
				form: extra.form ?? emptyForm(),
				created: extra.created,
				notice: DONE[ui.url.searchParams.get("done") ?? ""],
			}),
		});
	};

	const formPage = (ui: Ui, hook: Webhook, form: FormState, status = 200) =>
		respond(ui, {
			title: "Edit webhook",
			section: "webhooks",
			status,
			content: WebhookFormPage({ form, csrf: ui.viewer.csrf, hook }),
		});

	const mayAdminister = (ui: Ui) => {
		if (!ui.viewer.can.admin) throw new Forbidden("requires the 'admin' permission");
	};

	return new Elysia({ name: "ui-webhooks" })
		.get(
			"/webhooks",
			page(services, "webhooks", (ui) => listPage(ui)),
			HIDE,
		)
		.post(
			"/webhooks",
			page(services, "webhooks", (ui, { body }) => {
				const form = formOf(body);
				try {
					const hook = services.webhooks.create(ui.actor, webhookInput(form));
					return listPage(ui, { created: { id: hook.id, secret: hook.secret } });
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return listPage(ui, { form: { values: form, errors: fieldErrors(err) }, status: err.status });
				}
			}),
			HIDE,
		)
		.get(
			"/webhooks/:id",
			page(services, "webhooks", (ui, { params }) => {
				const hook = services.webhooks.get(ui.actor, params.id as string);
				const deliveries = services.webhooks.deliveries(ui.actor, hook.id, pageOf(ui), 20);
				return respond(ui, {
					title: "Webhook",
					section: "webhooks",
					content: WebhookDetailPage({
						viewer: ui.viewer,
						hook,
						deliveries: deliveries.data,
						pagination: deliveries.pagination,
						notice: DONE[ui.url.searchParams.get("done") ?? ""],
					}),
				});
			}),
			HIDE,
		)
		.post(
			"/webhooks/:id/test",
			page(services, "webhooks", (ui, { params }) => {
				const id = params.id as string;
				services.webhooks.sendTest(ui.actor, id);
				return seeOther(`/webhooks/${encodeURIComponent(id)}?done=tested`);
			}),
			HIDE,
		)
		.get(
			"/webhooks/:id/edit",
			page(services, "webhooks", (ui, { params }) => {
				mayAdminister(ui);
				const hook = services.webhooks.get(ui.actor, params.id as string);
				return formPage(ui, hook, emptyForm(webhookValues(hook)));
			}),
			HIDE,
		)
		.post(
			"/webhooks/:id/edit",
			page(services, "webhooks", (ui, { params, body }) => {
				const hook = services.webhooks.get(ui.actor, params.id as string);
				const form = formOf(body);
				try {
					const input: WebhookUpdate = { ...webhookInput(form), enabled: bool(form, "enabled") } as WebhookUpdate;
					services.webhooks.update(ui.actor, hook.id, input);
					return seeOther(`/webhooks/${encodeURIComponent(hook.id)}?done=saved`);
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return formPage(ui, hook, { values: shownAgain(form, ["enabled"]), errors: fieldErrors(err) }, err.status);
				}
			}),
			HIDE,
		)
		.post(
			"/webhooks/:id/enabled",
			page(services, "webhooks", (ui, { params, body }) => {
				const enabled = formOf(body).enabled === "true";
				const hook = services.webhooks.update(ui.actor, params.id as string, { enabled });
				return seeOther(`/webhooks/${encodeURIComponent(hook.id)}?done=${enabled ? "enabled" : "saved"}`);
			}),
			HIDE,
		)
		.post(
			"/webhooks/:id/delete",
			page(services, "webhooks", (ui, { params }) => {
				services.webhooks.delete(ui.actor, params.id as string);
				return seeOther("/webhooks?done=deleted");
			}),
			HIDE,
		);
}
