// /v1/organizations: the current organization, its update and usage (spec: Organizations).
import { Elysia } from "elysia";
import { Organization, OrganizationUpdate, OrganizationUsage } from "../../domain/organizations/model.ts";
import type { Services } from "../../services.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";

export function organizationRoutes(services: Services) {
	return new Elysia({ name: "organization-routes" })
		.get(
			"/v1/organizations/current",
			({ request }) => services.organizations.current(actorOf(request)),
			doc("organizations", "Get the current organization", { response: Organization }),
		)
		.put(
			"/v1/organizations/:orgId",
			({ request, params, body }) => services.organizations.update(actorOf(request), params.orgId, body),
			doc("organizations", "Update the organization (tier: OWNER only)", {
				body: OrganizationUpdate,
				response: Organization,
			}),
		)
		.get(
			"/v1/organizations/:orgId/usage",
			({ request, params }) => services.organizations.usage(actorOf(request), params.orgId),
			doc("organizations", "Get the organization's usage and limits", { response: OrganizationUsage }),
		);
}
