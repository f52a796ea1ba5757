// /v1/webhooks: subscriptions, their delivery history and a test event (spec: Webhooks).
import { Type as T } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { Webhook, WebhookCreate, WebhookDelivery, WebhookUpdate } from "../../domain/webhooks/model.ts";
import type { Services } from "../../services.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";

export function webhookRoutes(services: Services) {
	return new Elysia({ name: "webhook-routes" })
		.post(
			"/v1/webhooks",
			({ request, body, set }) => {
				set.status = 201;
				return services.webhooks.create(actorOf(request), body);
			},
			doc("webhooks", "Create a webhook (the signing secret is returned once)", {
				body: WebhookCreate,
				response: T.Composite([Webhook, T.Object({ secret: T.String() })]),
				status: 201,
			}),
		)
		.get(
			"/v1/webhooks",
			({ request, query }) => {
				const { page, pageSize } = pageQuery(query);
				return services.webhooks.list(actorOf(request), page, pageSize);
			},
			doc("webhooks", "List webhooks"),
		)
		.get(
			"/v1/webhooks/:webhookId",
			({ request, params }) => services.webhooks.get(actorOf(request), params.webhookId),
			doc("webhooks", "Get a webhook", { response: Webhook }),
		)
		.put(
			"/v1/webhooks/:webhookId",
			({ request, params, body }) => services.webhooks.update(actorOf(request), params.webhookId, body),
			doc("webhooks", "Update a webhook; enabling it again clears the reason it was disabled", {
				body: WebhookUpdate,
				response: Webhook,
			}),
		)
		.delete(
			"/v1/webhooks/:webhookId",
			({ request, params, set }) => {
				services.webhooks.delete(actorOf(request), params.webhookId);
				set.status = 204;
			},
			doc("webhooks", "Delete a webhook and its delivery history", { status: 204 }),
		)
		.get(
			"/v1/webhooks/:webhookId/deliveries",
			({ request, params, query }) => {
				const { page, pageSize } = pageQuery(query);
				return services.webhooks.deliveries(actorOf(request), params.webhookId, page, pageSize);
			},
			doc("webhooks", "Delivery history, newest first"),
		)
		.post(
			"/v1/webhooks/:webhookId/test",
			({ request, params, set }) => {
				set.status = 202;
				return services.webhooks.sendTest(actorOf(request), params.webhookId);
			},
			doc("webhooks", "Queue a test event for this webhook (sent within a second)", {
				response: WebhookDelivery,
				status: 202,
			}),
		);
}
