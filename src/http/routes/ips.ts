// /v1/ips: the block list and the allow list, single and bulk (spec: IP Management).
import { Type as T } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { ValidationError } from "../../domain/errors.ts";
import type { AddInput, IpEntry, ListKind } from "../../domain/iplists/service.ts";
import type { Services } from "../../services.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";

const Entry = T.Object(
	{
		ip: T.String({ description: "address or CIDR, v4 or v6" }),
		reason: T.Optional(T.String({ maxLength: 500 })),
		durationSeconds: T.Optional(T.Integer({ minimum: 1, description: "remove automatically after this long" })),
		backendId: T.Optional(T.String({ description: "only for this backend (default: every backend)" })),
	},
	{ additionalProperties: false },
);
const Bulk = T.Object({ entries: T.Array(Entry, { minItems: 1, maxItems: 100_000 }) });

/** A host prefix reads as the bare address, as the spec shows it ("1.2.3.4"). */
function display(cidr: string): string {
	const host = cidr.includes(":") ? "/128" : "/32";
	return cidr.endsWith(host) ? cidr.slice(0, -host.length) : cidr;
}

function render(e: IpEntry) {
	const at = e.list === "allow" ? "allowedAt" : "blockedAt";
	return {
		id: e.id,
		ip: display(e.ip),
		reason: e.reason,
		backendId: e.backendId,
		source: e.source,
		[at]: e.createdAt,
		expiresAt: e.expiresAt,
	};
}

function entryInput(body: unknown, allowDuration: boolean): AddInput {
	if (!body || typeof body !== "object" || Array.isArray(body))
		throw ValidationError.field("body", "invalid_value", "must be a JSON object");
	const b = body as Record<string, unknown>;
	const unknown = Object.keys(b).filter((k) => !["ip", "reason", "durationSeconds", "backendId"].includes(k));
	if (unknown.length) throw ValidationError.field(unknown[0] as string, "invalid_value", "unknown property");
	if (typeof b.ip !== "string") throw ValidationError.field("ip", "invalid_ip", "ip must be an address or CIDR string");
	if (b.reason !== undefined && typeof b.reason !== "string")
		throw ValidationError.field("reason", "invalid_value", "must be a string");
	if (b.backendId !== undefined && b.backendId !== null && typeof b.backendId !== "string")
		throw ValidationError.field("backendId", "invalid_value", "must be a string");
	if (b.durationSeconds !== undefined && !allowDuration)
		throw ValidationError.field("durationSeconds", "invalid_value", "allow-list entries do not expire");
	if (b.durationSeconds !== undefined && b.durationSeconds !== null && typeof b.durationSeconds !== "number")
		throw ValidationError.field("durationSeconds", "invalid_value", "must be a whole number of seconds");
	return {
		ip: b.ip,
		reason: b.reason as string | undefined,
		durationSeconds: (b.durationSeconds as number | null | undefined) ?? null,
		backendId: (b.backendId as string | null | undefined) ?? null,
	};
}

function bulkInput(body: unknown, allowDuration: boolean): AddInput[] {
	const entries = body && typeof body === "object" ? (body as { entries?: unknown }).entries : undefined;
	if (!Array.isArray(entries)) throw ValidationError.field("entries", "invalid_value", "must be an array of entries");
	return entries.map((e, i) => {
		try {
			return entryInput(e, allowDuration);
		} catch (err) {
			if (err instanceof ValidationError)
				throw new ValidationError(err.errors.map((x) => ({ ...x, field: `entries[${i}].${x.field}` })));
			throw err;
		}
	});
}

function listRoutes(services: Services, list: ListKind, path: "block" | "allow", listPath: "blocked" | "allowed") {
	const words = list === "block" ? { verb: "Block", noun: "blocked" } : { verb: "Allow", noun: "allowed" };
	return new Elysia({ name: `ip-${list}-routes` })
		.post(
			`/v1/ips/${path}`,
			({ request, body, set }) => {
				const entry = services.ipLists.add(actorOf(request), list, entryInput(body, list === "block"));
				set.status = 201;
				return render(entry);
			},
			doc("ips", `${words.verb} an address or CIDR`, { body: Entry, status: 201 }),
		)
		.post(
			`/v1/ips/${path}/bulk`,
			({ request, body, set }) => {
				const result = services.ipLists.addMany(actorOf(request), list, bulkInput(body, list === "block"));
				set.status = 201;
				return result;
			},
			doc("ips", `${words.verb} many addresses or CIDRs in one transaction: all or none`, {
				body: Bulk,
				response: T.Object({ added: T.Integer(), updated: T.Integer() }),
				status: 201,
			}),
		)
		.delete(
			`/v1/ips/${path}/*`,
			({ request, params, query, set }) => {
				const ip = decodeURIComponent(params["*"]);
				services.ipLists.remove(actorOf(request), list, ip, query.backendId);
				set.status = 204;
			},
			doc("ips", `Remove an address or CIDR (URL-encode the slash: 10.0.0.0%2F8) from the ${words.noun} list`, {
				status: 204,
			}),
		)
		.get(
			`/v1/ips/${listPath}`,
			({ request, query }) => {
				const page = services.ipLists.list(actorOf(request), list, {
					...pageQuery(query),
					backendId: query.backendId,
					search: query.search,
				});
				return { ...page, data: page.data.map(render) };
			},
			doc("ips", `List ${words.noun} addresses (expired entries are gone)`),
		);
}

export function ipRoutes(services: Services) {
	return new Elysia({ name: "ip-routes" })
		.use(listRoutes(services, "block", "block", "blocked"))
		.use(listRoutes(services, "allow", "allow", "allowed"));
}
