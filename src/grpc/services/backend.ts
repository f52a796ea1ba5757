// BackendService: the REST backend endpoints (/v1/backends/...) over gRPC.
import { NotFound } from "../../domain/errors.ts";
import { type GrpcDeps, type Handlers, ids, type Json, pageOf, within } from "../handlers.ts";

export function backendHandlers({ services }: GrpcDeps): Handlers {
	const { backends, organizations } = services;
	return {
		CreateBackend: (actor, request) => ({ backend: backends.create(actor, request) }),
		GetBackend: (actor, request) => ({ backend: backends.get(actor, ids(request, "backendId").backendId) }),
		UpdateBackend: (actor, { backendId, ...body }) => ({
			backend: backends.update(actor, ids({ backendId }, "backendId").backendId, body),
		}),
		DeleteBackend: (actor, request) => {
			backends.delete(actor, ids(request, "backendId").backendId);
			return {};
		},
		ListBackends: (actor, { organizationId, page, pageSize, ...query }) => {
			if (organizationId) organizations.scoped(actor, organizationId as string);
			const result = backends.list(actor, { ...query, ...pageOf({ page, pageSize }) });
			return { backends: result.data, pagination: result.pagination };
		},
		AddOrigin: (actor, request) => {
			const { backendId } = ids(request, "backendId");
			return { origin: within("origin", () => backends.addOrigin(actor, backendId, request.origin ?? {})) };
		},
		UpdateOrigin: (actor, request) => {
			const { backendId, originId } = ids(request, "backendId", "originId");
			return {
				origin: within("origin", () => backends.updateOrigin(actor, backendId, originId, request.origin ?? {})),
			};
		},
		RemoveOrigin: (actor, request) => {
			const { backendId, originId } = ids(request, "backendId", "originId");
			backends.removeOrigin(actor, backendId, originId);
			return {};
		},
		UpdateProtection: (actor, request) => ({
			backend: backends.update(actor, ids(request, "backendId").backendId, { protection: request.protection ?? {} }),
		}),
		SetProtectionLevel: (actor, request) => ({
			backend: backends.setProtectionLevel(actor, ids(request, "backendId").backendId, request.level),
		}),
		GetBackendStatus: (actor, request) => {
			const { backendId } = ids(request, "backendId");
			return { status: { ...backends.status(actor, backendId), backendId } };
		},
		WatchBackendStatus: {
			// The current status first, then one per change of the backend (backend.* events).
			stream: ({ actor, request, send, fail, onClose }) => {
				const only = (request.backendId as string | undefined) ?? null;
				const statusOf = (backendId: string): Json => ({ ...backends.status(actor, backendId), backendId });
				onClose(
					services.bus.on("backend.*", (event) => {
						if (event.organizationId !== actor.organizationId || !event.resourceId) return;
						if (only && event.resourceId !== only) return;
						if (event.type === "backend.deleted") {
							if (only) fail(new NotFound("backend", only));
							return;
						}
						try {
							send(statusOf(event.resourceId));
						} catch (err) {
							// A backend of the other environment (sandbox/live) is not this caller's.
							if (!(err instanceof NotFound)) fail(err);
						}
					}),
				);
				try {
					if (only) send(statusOf(only));
					else
						for (let page = 1, more = true; more; page++) {
							const result = backends.list(actor, { page, pageSize: 100 });
							for (const b of result.data) send({ ...b.status, backendId: b.id });
							more = result.pagination.hasNext;
						}
				} catch (err) {
					fail(err);
				}
			},
		},
	};
}
