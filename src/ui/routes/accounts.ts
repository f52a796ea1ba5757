// Members and invitations, API keys, OAuth clients, the audit log, and accepting an invitation.
import { Elysia } from "elysia";
import { emptyForm, type FormState } from "../../../views/components.tsx";
import { ApiKeysPage, AuditPage, MembersPage, OAuthClientsPage } from "../../../views/pages/accounts.tsx";
import { InvitePage } from "../../../views/pages/invite.tsx";
import { DomainError } from "../../domain/errors.ts";
import { requestContext } from "../../http/context.ts";
import type { Services } from "../../services.ts";
import { lines, setOf, text } from "../forms.ts";
import { fieldErrors, formOf, html, page, respond, seeOther, type Ui } from "../http.ts";
import { NOTICES } from "./backends.ts";

const HIDE = { detail: { hide: true } };

export function accountRoutesUi(services: Services) {
	const membersPage = (ui: Ui, extra: { form?: FormState; inviteLink?: string; status?: number } = {}) => {
		const org = ui.actor.organizationId;
		return respond(ui, {
			title: "Members",
			section: "members",
			status: extra.status,
			content: MembersPage({
				viewer: ui.viewer,
				members: services.users.listMembers(ui.actor, org, 1, 100).data,
				invitations: ui.viewer.can.admin ? services.invitations.list(ui.actor, org, 1, 100).data : [],
				form: extra.form ?? emptyForm({ role: "MEMBER" }),
				inviteLink: extra.inviteLink,
				notice: NOTICES[ui.url.searchParams.get("done") ?? ""],
			}),
		});
	};

	const keysPage = (ui: Ui, extra: { form?: FormState; created?: string; status?: number } = {}) => {
		const result = services.apiKeys.list(ui.actor, Number(ui.url.searchParams.get("page") ?? "1") || 1, 20);
		return respond(ui, {
			title: "API keys",
			section: "api-keys",
			status: extra.status,
			content: ApiKeysPage({
				viewer: ui.viewer,
				keys: result.data,
				pagination: result.pagination,
				form: extra.form ?? emptyForm({ environment: "live", "permissions:read": "true" }),
				created: extra.created,
				notice: NOTICES[ui.url.searchParams.get("done") ?? ""],
			}),
		});
	};

	const clientsPage = (
		ui: Ui,
		extra: { form?: FormState; created?: { id: string; secret: string }; status?: number } = {},
	) => {
		const result = services.oauth.listClients(ui.actor, Number(ui.url.searchParams.get("page") ?? "1") || 1, 20);
		return respond(ui, {
			title: "OAuth clients",
			section: "oauth-clients",
			status: extra.status,
			content: OAuthClientsPage({
				viewer: ui.viewer,
				clients: result.data,
				pagination: result.pagination,
				form: extra.form ?? emptyForm({ "scopes:read": "true" }),
				created: extra.created,
				notice: NOTICES[ui.url.searchParams.get("done") ?? ""],
			}),
		});
	};

	return new Elysia({ name: "ui-accounts" })
		.get(
			"/members",
			page(services, "members", (ui) => membersPage(ui)),
			HIDE,
		)
		.post(
			"/members/:userId/role",
			page(services, "members", (ui, { params, body }) => {
				services.users.updateRole(ui.actor, ui.actor.organizationId, params.userId as string, {
					role: formOf(body).role,
				});
				return seeOther("/members?done=saved");
			}),
			HIDE,
		)
		.post(
			"/members/:userId/remove",
			page(services, "members", (ui, { params }) => {
				services.users.removeMember(ui.actor, ui.actor.organizationId, params.userId as string);
				return seeOther("/members?done=removed");
			}),
			HIDE,
		)
		.post(
			"/invitations",
			page(services, "members", (ui, { body }) => {
				const form = formOf(body);
				try {
					const invitation = services.invitations.create(ui.actor, ui.actor.organizationId, {
						email: (form.email ?? "").trim(),
						role: form.role,
					});
					const link = `${ui.url.origin}/invite?token=${encodeURIComponent(invitation.token)}`;
					return membersPage(ui, { inviteLink: link });
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return membersPage(ui, { form: { values: form, errors: fieldErrors(err) }, status: err.status });
				}
			}),
			HIDE,
		)
		.post(
			"/invitations/:id/revoke",
			page(services, "members", (ui, { params }) => {
				services.invitations.revoke(ui.actor, ui.actor.organizationId, params.id as string);
				return seeOther("/members?done=revoked");
			}),
			HIDE,
		)
		.get(
			"/api-keys",
			page(services, "api-keys", (ui) => keysPage(ui)),
			HIDE,
		)
		.post(
			"/api-keys",
			page(services, "api-keys", (ui, { body }) => {
				const form = formOf(body);
				try {
					const date = text(form.expiresAt);
					const { key } = services.apiKeys.createFrom(ui.actor, {
						name: (form.name ?? "").trim(),
						permissions: setOf(form, "permissions"),
						environment: form.environment === "test" ? "test" : "live",
						...(date ? { expiresAt: /^\d{4}-\d{2}-\d{2}$/.test(date) ? `${date}T23:59:59.000Z` : date } : {}),
					});
					return keysPage(ui, { created: key });
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return keysPage(ui, { form: { values: form, errors: fieldErrors(err) }, status: err.status });
				}
			}),
			HIDE,
		)
		.post(
			"/api-keys/:id/revoke",
			page(services, "api-keys", (ui, { params }) => {
				services.apiKeys.revoke(ui.actor, params.id as string);
				return seeOther("/api-keys?done=revoked");
			}),
			HIDE,
		)
		.get(
			"/oauth-clients",
			page(services, "oauth-clients", (ui) => clientsPage(ui)),
			HIDE,
		)
		.post(
			"/oauth-clients",
			page(services, "oauth-clients", (ui, { body }) => {
				const form = formOf(body);
				try {
					const client = services.oauth.createClient(ui.actor, {
						name: (form.name ?? "").trim(),
						redirectUris: lines(form.redirectUris),
						scopes: setOf(form, "scopes"),
					});
					return clientsPage(ui, { created: { id: client.id, secret: client.clientSecret } });
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					return clientsPage(ui, { form: { values: form, errors: fieldErrors(err) }, status: err.status });
				}
			}),
			HIDE,
		)
		.post(
			"/oauth-clients/:id/revoke",
			page(services, "oauth-clients", (ui, { params }) => {
				services.oauth.revokeClient(ui.actor, params.id as string);
				return seeOther("/oauth-clients?done=revoked");
			}),
			HIDE,
		)
		.get(
			"/audit",
			page(services, "audit", (ui) => {
				const q = ui.url.searchParams;
				const values: Record<string, string> = {};
				for (const k of ["userId", "resourceType", "action", "from", "to"]) values[k] = q.get(k) ?? "";
				const day = (d: string) => (/^\d{4}-\d{2}-\d{2}$/.test(d) ? `${d}T00:00:00.000Z` : d);
				const query: Record<string, unknown> = { page: Number(q.get("page") ?? "1") || 1, pageSize: 50 };
				for (const k of ["userId", "resourceType", "action"]) if (values[k]) query[k] = values[k];
				if (values.from) query.from = day(values.from);
				if (values.to) query.to = day(values.to);
				let entries: ReturnType<typeof services.audit.list> = {
					data: [],
					pagination: { page: 1, pageSize: 50, totalCount: 0, hasNext: false },
				};
				let errors: ReturnType<typeof fieldErrors> = [];
				try {
					entries = services.audit.list(ui.actor, query);
				} catch (err) {
					if (!(err instanceof DomainError) || err.status === 403) throw err;
					errors = fieldErrors(err);
				}
				return respond(ui, {
					title: "Audit log",
					section: "audit",
					status: errors.length ? 400 : 200,
					content: AuditPage({
						entries: entries.data,
						pagination: entries.pagination,
						filters: { values, errors },
						members: services.users.listMembers(ui.actor, ui.actor.organizationId, 1, 100).data,
					}),
				});
			}),
			HIDE,
		)
		.get(
			"/invite",
			({ query }) =>
				html(InvitePage({ form: emptyForm({ token: typeof query.token === "string" ? query.token : "" }) })),
			HIDE,
		)
		.post(
			"/invite",
			async ({ request, body }) => {
				const form = formOf(body);
				try {
					await services.invitations.accept(
						{
							token: form.token ?? "",
							password: form.password ?? "",
							...(text(form.name) ? { name: text(form.name) } : {}),
						},
						requestContext(request),
					);
					return html(InvitePage({ form: emptyForm(), done: true }));
				} catch (err) {
					if (!(err instanceof DomainError)) throw err;
					return html(
						InvitePage({
							form: { values: { token: form.token ?? "", name: form.name ?? "" }, errors: fieldErrors(err) },
						}),
						err.status,
					);
				}
			},
			HIDE,
		);
}
