// What every UI handler shares: the signed-in viewer (session cookie; CSRF is checked by the
// security hook on every mutation), page-or-fragment responses (htmx asks with HX-Request, so
// the response varies on it), redirects after a successful POST, and domain errors as pages.
import { Layout, type Section, type Viewer } from "../../views/layout.tsx";
import { ErrorPage } from "../../views/pages/error.tsx";
import type { Actor } from "../domain/actor.ts";
import { DomainError, type FieldError, ValidationError } from "../domain/errors.ts";
import { optionalActorOf, sessionCookie } from "../http/context.ts";
import type { Services } from "../services.ts";

export const CSP =
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

export interface Ui {
	request: Request;
	url: URL;
	actor: Actor;
	viewer: Viewer;
	fragment: boolean;
}

export function html(body: string, status = 200, headers: Record<string, string> = {}): Response {
	return new Response(body, {
		status,
		headers: {
			"content-type": "text/html; charset=utf-8",
			"cache-control": "no-store",
			vary: "HX-Request",
			"x-frame-options": "DENY",
			"x-content-type-options": "nosniff",
			"referrer-policy": "same-origin",
			"content-security-policy": CSP,
			...headers,
		},
	});
}

export function seeOther(location: string): Response {
	return new Response(null, { status: 303, headers: { location, "cache-control": "no-store", vary: "HX-Request" } });
}

/** The signed-in viewer, or null when the request carries no valid web session. */
export function viewerOf(services: Services, request: Request): Ui | null {
	const actor = optionalActorOf(request);
	const session = sessionCookie(request);
	if (actor?.credential?.type !== "session" || !session) return null;
	const p = actor.permissions;
	return {
		request,
		url: new URL(request.url),
		actor,
		fragment: request.headers.get("hx-request") === "true",
		viewer: {
			email: actor.email ?? "",
			role: actor.role,
			organizationName: services.organizations.get(actor.organizationId).name,
			csrf: services.auth.csrfToken(session),
			can: { write: p.includes("write"), delete: p.includes("delete"), admin: p.includes("admin") },
		},
	};
}

/** The page, or only its content for htmx (the same template either way). */
export function respond(
	ui: Ui,
	page: { title: string; section: Section; content: string; status?: number; headers?: Record<string, string> },
): Response {
	const body = ui.fragment
		? page.content
		: Layout({ title: page.title, section: page.section, viewer: ui.viewer, children: page.content });
	return html(body, page.status ?? 200, page.headers);
}

/** Form fields as posted (the security hook parsed them); anything else counts as empty. */
export function formOf(body: unknown): Record<string, string> {
	const out: Record<string, string> = {};
	if (body && typeof body === "object")
		for (const [k, v] of Object.entries(body)) if (typeof v === "string" && k !== "_csrf") out[k] = v;
	return out;
}

/** The field errors of a validation error, or one error on `body` for other domain errors. */
export function fieldErrors(err: DomainError): FieldError[] {
	if (err instanceof ValidationError) return err.errors;
	const reason = (err as { reason?: string }).reason;
	return [{ field: fieldOfConflict(reason), code: reason ?? err.type, message: err.message }];
}

function fieldOfConflict(reason: string | undefined): string {
	if (reason === "duplicate_name") return "name";
	if (reason === "duplicate_domain") return "domains";
	if (reason === "port_in_use") return "listeners";
	return "body";
}

type Handler = (ui: Ui, ctx: { params: Record<string, string>; body: unknown }) => Response | Promise<Response>;

/**
 * A UI handler: without a session it sends the browser to sign in (htmx gets HX-Redirect);
 * domain errors it did not handle itself become an error page with their status.
 */
export function page(services: Services, section: Section, handler: Handler) {
	return async ({
		request,
		params,
		body,
	}: {
		request: Request;
		params: Record<string, string>;
		body: unknown;
	}): Promise<Response> => {
		const ui = viewerOf(services, request);
		if (!ui) {
			if (!services.users.ownerExists()) return seeOther("/setup");
			const url = new URL(request.url);
			const next = request.method === "GET" ? url.pathname + url.search : "/";
			const location = `/login?next=${encodeURIComponent(next)}`;
			if (request.headers.get("hx-request") === "true")
				return new Response(null, { status: 401, headers: { "hx-redirect": location, vary: "HX-Request" } });
			return seeOther(location);
		}
		try {
			return await handler(ui, { params, body });
		} catch (err) {
			if (!(err instanceof DomainError)) throw err;
			return respond(ui, {
				title: err.status === 404 ? "Not found" : err.status === 403 ? "Not permitted" : "Error",
				section,
				status: err.status,
				content: ErrorPage({ status: err.status, message: err.message }),
			});
		}
	};
}
