// /v1/organizations/{orgId}/members and invitations, and accepting an invitation (spec: Users).
import { Type as T } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { Invitation, InvitationAccept, InvitationCreate } from "../../domain/invitations/model.ts";
import { Member, MemberUpdate } from "../../domain/users/model.ts";
import type { Services } from "../../services.ts";
import { actorOf, requestContext } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";

const page = <S extends ReturnType<typeof T.Object>>(item: S) =>
	T.Object({
		data: T.Array(item),
		pagination: T.Object({ page: T.Integer(), pageSize: T.Integer(), totalCount: T.Integer(), hasNext: T.Boolean() }),
	});

export function memberRoutes(services: Services) {
	return new Elysia({ name: "member-routes" })
		.get(
			"/v1/organizations/:orgId/members",
			({ request, params, query }) => {
				const { page: p, pageSize } = pageQuery(query);
				return services.users.listMembers(actorOf(request), params.orgId, p, pageSize);
			},
			doc("members", "List organization members", { response: page(Member) }),
		)
		.put(
			"/v1/organizations/:orgId/members/:userId",
			({ request, params, body }) => services.users.updateRole(actorOf(request), params.orgId, params.userId, body),
			doc("members", "Update a member's role", { body: MemberUpdate, response: Member }),
		)
		.delete(
			"/v1/organizations/:orgId/members/:userId",
			({ request, params, set }) => {
				services.users.removeMember(actorOf(request), params.orgId, params.userId);
				set.status = 204;
			},
			doc("members", "Remove a member", { status: 204 }),
		)
		.post(
			"/v1/organizations/:orgId/invitations",
			({ request, params, body, set }) => {
				const invitation = services.invitations.create(actorOf(request), params.orgId, body);
				set.status = 201;
				return invitation;
			},
			doc("members", "Invite a member (the token is shown once)", {
				body: InvitationCreate,
				response: T.Composite([Invitation, T.Object({ token: T.String() })]),
				status: 201,
			}),
		)
		.get(
			"/v1/organizations/:orgId/invitations",
			({ request, params, query }) => {
				const { page: p, pageSize } = pageQuery(query);
				return services.invitations.list(actorOf(request), params.orgId, p, pageSize);
			},
			doc("members", "List invitations", { response: page(Invitation) }),
		)
		.delete(
			"/v1/organizations/:orgId/invitations/:invitationId",
			({ request, params, set }) => {
				services.invitations.revoke(actorOf(request), params.orgId, params.invitationId);
				set.status = 204;
			},
			doc("members", "Revoke an invitation", { status: 204 }),
		)
		.post(
			"/v1/invitations/accept",
			({ request, body }) => services.invitations.accept(body, requestContext(request)),
			doc("members", "Accept an invitation: creates the account, or links the existing one (its password)", {
				body: InvitationAccept,
				public: true,
			}),
		);
}
