// WebhookService: the REST webhook endpoints (/v1/webhooks) over gRPC.
import { type GrpcDeps, type Handlers, ids, pageOf } from "../handlers.ts";

export function webhookHandlers({ services }: GrpcDeps): Handlers {
	const { webhooks } = services;
	return {
		CreateWebhook: (actor, request) => {
			const { secret, ...webhook } = webhooks.create(actor, request);
			return { webhook, secret };
		},
		GetWebhook: (actor, request) => ({ webhook: webhooks.get(actor, ids(request, "webhookId").webhookId) }),
		UpdateWebhook: (actor, { webhookId, ...body }) => ({
			webhook: webhooks.update(actor, ids({ webhookId }, "webhookId").webhookId, body),
		}),
		DeleteWebhook: (actor, request) => {
			webhooks.delete(actor, ids(request, "webhookId").webhookId);
			return {};
		},
		ListWebhooks: (actor, request) => {
			const { page, pageSize } = pageOf(request);
			const result = webhooks.list(actor, page, pageSize);
			return { webhooks: result.data, pagination: result.pagination };
		},
		ListWebhookDeliveries: (actor, request) => {
			const { page, pageSize } = pageOf(request);
			const result = webhooks.deliveries(actor, ids(request, "webhookId").webhookId, page, pageSize);
			return { deliveries: result.data, pagination: result.pagination };
		},
		SendTestEvent: (actor, request) => ({ delivery: webhooks.sendTest(actor, ids(request, "webhookId").webhookId) }),
	};
}
