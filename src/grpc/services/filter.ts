// FilterService: the REST filter rule endpoints (/v1/filters/...) over gRPC.
import { NotFound } from "../../domain/errors.ts";
import type { FilterRule } from "../../domain/rules/model.ts";
import { type GrpcDeps, type Handlers, ids, type Json, pageOf } from "../handlers.ts";

export function filterHandlers({ services }: GrpcDeps): Handlers {
	const { rules } = services;
	return {
		CreateRule: (actor, request) => ({ rule: rules.create(actor, request) }),
		GetRule: (actor, request) => ({ rule: rules.get(actor, ids(request, "ruleId").ruleId) }),
		UpdateRule: (actor, { ruleId, ...body }) => ({ rule: rules.update(actor, ids({ ruleId }, "ruleId").ruleId, body) }),
		DeleteRule: (actor, request) => {
			rules.delete(actor, ids(request, "ruleId").ruleId);
			return {};
		},
		ListRules: (actor, { page, pageSize, ...query }) => {
			const result = rules.list(actor, { ...query, ...pageOf({ page, pageSize }) });
			return { rules: result.data, pagination: result.pagination };
		},
		BulkCreateRules: (actor, request) => ({ rules: rules.bulkCreate(actor, { rules: request.rules ?? [] }) }),
		BulkDeleteRules: (actor, request) => rules.bulkDelete(actor, { ruleIds: request.ruleIds ?? [] }),
		ReorderRules: (actor, request) => ({ rules: rules.reorder(actor, request.backendId, request.ruleIds ?? []) }),
		GetRuleStats: (actor, { ruleId, ...query }) => rules.stats(actor, ids({ ruleId }, "ruleId").ruleId, query),
		WatchRules: {
			// One message per rule.* event of the caller's organization (and backend, if given).
			stream: ({ actor, request, send, fail, onClose }) => {
				const only = (request.backendId as string | undefined) ?? null;
				/** Rules this caller can see, by id, with their backend: deletions name only the rule. */
				const known = new Map<string, string>();
				const track = (rule: FilterRule) => known.set(rule.id, rule.backendId);
				const now = () => new Date().toISOString();
				const update = (type: string, rule: FilterRule | null, ruleId: string, backendId: string): Json => ({
					type,
					ruleId,
					backendId,
					rule,
					timestamp: now(),
				});
				const visible = <T>(fn: () => T): T | null => {
					try {
						return fn();
					} catch (err) {
						if (err instanceof NotFound) return null;
						throw err;
					}
				};
				const onEvent = (type: string, id: string) => {
					if (type === "rule.created" || type === "rule.updated") {
						const rule = visible(() => rules.get(actor, id));
						if (!rule) return;
						track(rule);
						if (!only || rule.backendId === only)
							send(update(type === "rule.created" ? "CREATED" : "UPDATED", rule, rule.id, rule.backendId));
					} else if (type === "rule.deleted") {
						const backendId = known.get(id);
						if (backendId === undefined) return;
						known.delete(id);
						if (!only || backendId === only) send(update("DELETED", null, id, backendId));
					} else if (type === "rule.reordered") {
						if (only && id !== only) return;
						const ordered = visible(() => rules.list(actor, { backendId: id, pageSize: 100 }).data);
						if (ordered) send({ type: "REORDERED", backendId: id, rules: ordered, timestamp: now() });
					} else if (type === "backend.deleted") {
						// Its rules go with it (no rule events): report each one the caller knew.
						for (const [ruleId, backendId] of known)
							if (backendId === id) {
								known.delete(ruleId);
								if (!only || backendId === only) send(update("DELETED", null, ruleId, backendId));
							}
					}
				};
				const listener = (event: { type: string; organizationId: string | null; resourceId?: string }) => {
					if (event.organizationId !== actor.organizationId || !event.resourceId) return;
					try {
						onEvent(event.type, event.resourceId);
					} catch (err) {
						fail(err);
					}
				};
				onClose(services.bus.on("rule.*", listener));
				onClose(services.bus.on("backend.deleted", listener));
				try {
					for (let page = 1, more = true; more; page++) {
						const result = rules.list(actor, { page, pageSize: 100 });
						for (const r of result.data) track(r);
						more = result.pagination.hasNext;
					}
				} catch (err) {
					fail(err);
				}
			},
		},
	};
}
