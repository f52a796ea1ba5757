// /v1/backends: protected services, their origins, protection level and live status (spec: Backends).
import { Type as T } from "@sinclair/typebox";
import { Elysia } from "elysia";
import {
	BackendCreate,
	BackendUpdate,
	OriginInput,
	OriginUpdate,
	ProtectionLevel,
} from "../../domain/backends/model.ts";
import type { Services } from "../../services.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";

export function backendRoutes(services: Services) {
	return new Elysia({ name: "backend-routes" })
		.get(
			"/v1/backends",
			({ request, query }) =>
				services.backends.list(actorOf(request), {
					...pageQuery(query),
					type: query.type,
					status: query.status,
					search: query.search,
				}),
			doc(
				"backends",
				"List backends (filters: type, status healthy|degraded|unhealthy|unknown, search by name or domain)",
			),
		)
		.post(
			"/v1/backends",
			({ request, body, set }) => {
				const backend = services.backends.create(actorOf(request), body);
				set.status = 201;
				return backend;
			},
			doc("backends", "Create a backend (409 duplicate_name, port_in_use)", { body: BackendCreate, status: 201 }),
		)
		.get(
			"/v1/backends/:backendId",
			({ request, params }) => services.backends.get(actorOf(request), params.backendId),
			doc("backends", "Get a backend"),
		)
		.put(
			"/v1/backends/:backendId",
			({ request, params, body }) => services.backends.update(actorOf(request), params.backendId, body),
			doc("backends", "Update a backend (partial: fields present replace, protection merges)", {
				body: BackendUpdate,
			}),
		)
		.delete(
			"/v1/backends/:backendId",
			({ request, params, set }) => {
				services.backends.delete(actorOf(request), params.backendId);
				set.status = 204;
			},
			doc("backends", "Delete a backend with its services, rules and list entries", { status: 204 }),
		)
		.post(
			"/v1/backends/:backendId/origins",
			({ request, params, body, set }) => {
				const origin = services.backends.addOrigin(actorOf(request), params.backendId, body);
				set.status = 201;
				return origin;
			},
			doc("backends", "Add an origin", { body: OriginInput, status: 201 }),
		)
		.put(
			"/v1/backends/:backendId/origins/:originId",
			({ request, params, body }) =>
				services.backends.updateOrigin(actorOf(request), params.backendId, params.originId, body),
			doc("backends", "Update an origin (partial)", { body: OriginUpdate }),
		)
		.delete(
			"/v1/backends/:backendId/origins/:originId",
			({ request, params, set }) => {
				services.backends.removeOrigin(actorOf(request), params.backendId, params.originId);
				set.status = 204;
			},
			doc("backends", "Remove an origin", { status: 204 }),
		)
		.post(
			"/v1/backends/:backendId/protection/level",
			({ request, params, body }) => {
				const level = body && typeof body === "object" ? (body as { level?: unknown }).level : undefined;
				return services.backends.setProtectionLevel(actorOf(request), params.backendId, level);
			},
			doc("backends", "Set the protection level (applied to the kernel within a second)", {
				body: T.Object({ level: ProtectionLevel }),
			}),
		)
		.get(
			"/v1/backends/:backendId/status",
			({ request, params }) => services.backends.status(actorOf(request), params.backendId),
			doc("backends", "Live status: origin health from the proxy, rates from the data plane (null when unmeasured)"),
		);
}
