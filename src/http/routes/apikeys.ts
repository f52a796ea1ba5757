// /v1/api-keys: create (the key is shown once), list, revoke (spec: Authentication / API Keys).
import { Type as T } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { ApiKey, ApiKeyCreate } from "../../domain/apikeys/model.ts";
import type { Services } from "../../services.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";

export function apiKeyRoutes(services: Services) {
	return new Elysia({ name: "apikey-routes" })
		.post(
			"/v1/api-keys",
			({ request, body, set }) => {
				const { key, apiKey } = services.apiKeys.createFrom(actorOf(request), body);
				set.status = 201;
				return { ...apiKey, key };
			},
			doc("api-keys", "Create an API key", {
				body: ApiKeyCreate,
				response: T.Composite([ApiKey, T.Object({ key: T.String() })]),
				status: 201,
			}),
		)
		.get(
			"/v1/api-keys",
			({ request, query }) => {
				const { page, pageSize } = pageQuery(query);
				return services.apiKeys.list(actorOf(request), page, pageSize);
			},
			doc("api-keys", "List API keys (admins: all of the organization; others: their own)"),
		)
		.delete(
			"/v1/api-keys/:keyId",
			({ request, params }) => services.apiKeys.revoke(actorOf(request), params.keyId),
			doc("api-keys", "Revoke an API key", { response: ApiKey }),
		);
}
