// /v1/filters: filter rules, their order, bulk changes and statistics (spec: Filter Rules).
import { Type as T } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { ValidationError } from "../../domain/errors.ts";
import { RuleBulkCreate, RuleBulkDelete, RuleCreate, RuleReorder, RuleUpdate } from "../../domain/rules/model.ts";
import type { Services } from "../../services.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";

function booleanQuery(value: string | undefined, field: string): boolean | undefined {
	if (value === undefined) return undefined;
	if (value === "true") return true;
	if (value === "false") return false;
	throw ValidationError.field(field, "invalid_value", "must be true or false");
}

const body = (b: unknown, key: string) =>
	b && typeof b === "object" ? (b as Record<string, unknown>)[key] : undefined;

export function filterRoutes(services: Services) {
	return new Elysia({ name: "filter-routes" })
		.get(
			"/v1/filters",
			({ request, query }) =>
				services.rules.list(actorOf(request), {
					...pageQuery(query),
					backendId: query.backendId,
					enabled: booleanQuery(query.enabled, "enabled"),
					action: query.action,
				}),
			doc("filters", "List filter rules (filters: backendId, enabled, action)"),
		)
		.post(
			"/v1/filters",
			({ request, body, set }) => {
				const rule = services.rules.create(actorOf(request), body);
				set.status = 201;
				return rule;
			},
			doc("filters", "Create a filter rule", { body: RuleCreate, status: 201 }),
		)
		.post(
			"/v1/filters/bulk",
			({ request, body, set }) => {
				const data = services.rules.bulkCreate(actorOf(request), body);
				set.status = 201;
				return { data };
			},
			doc("filters", "Create many filter rules in one transaction: all or none", {
				body: RuleBulkCreate,
				status: 201,
			}),
		)
		.post(
			"/v1/filters/bulk-delete",
			({ request, body }) => services.rules.bulkDelete(actorOf(request), body),
			doc("filters", "Delete many filter rules in one transaction: all or none (an unknown id is a 404)", {
				body: RuleBulkDelete,
				response: T.Object({ deleted: T.Integer() }),
			}),
		)
		.post(
			"/v1/filters/reorder",
			({ request, body: b }) => ({
				data: services.rules.reorder(actorOf(request), body(b, "backendId"), body(b, "ruleIds")),
			}),
			doc("filters", "Give a backend's rules this order (every rule once)", { body: RuleReorder }),
		)
		.get(
			"/v1/filters/:ruleId",
			({ request, params }) => services.rules.get(actorOf(request), params.ruleId),
			doc("filters", "Get a filter rule"),
		)
		.put(
			"/v1/filters/:ruleId",
			({ request, params, body }) => services.rules.update(actorOf(request), params.ruleId, body),
			doc("filters", "Update a filter rule (partial)", { body: RuleUpdate }),
		)
		.delete(
			"/v1/filters/:ruleId",
			({ request, params, set }) => {
				services.rules.delete(actorOf(request), params.ruleId);
				set.status = 204;
			},
			doc("filters", "Delete a filter rule", { status: 204 }),
		)
		.get(
			"/v1/filters/:ruleId/stats",
			({ request, params, query }) =>
				services.rules.stats(actorOf(request), params.ruleId, {
					from: query.from,
					to: query.to,
					granularity: query.granularity,
				}),
			doc("filters", "Rule statistics between from and to (default: last 24 h) by MINUTE, HOUR (default) or DAY"),
		);
}
