// OrganizationService: the REST organization, member, invitation and audit-log endpoints over
// gRPC. An empty organization_id means the caller's own organization.
import type { Actor } from "../../domain/actor.ts";
import { type GrpcDeps, type Handlers, type Json, pageOf } from "../handlers.ts";

const orgOf = (actor: Actor, request: Json) => (request.organizationId as string | undefined) || actor.organizationId;

export function organizationHandlers({ services }: GrpcDeps): Handlers {
	const { organizations, users, invitations, audit } = services;
	return {
		GetCurrentOrganization: (actor) => ({ organization: organizations.current(actor) }),
		UpdateOrganization: (actor, { organizationId, ...body }) => ({
			organization: organizations.update(actor, orgOf(actor, { organizationId }), body),
		}),
		GetOrganizationUsage: (actor, request) => ({ usage: organizations.usage(actor, orgOf(actor, request)) }),
		ListMembers: (actor, request) => {
			const { page, pageSize } = pageOf(request);
			const result = users.listMembers(actor, orgOf(actor, request), page, pageSize);
			return { members: result.data, pagination: result.pagination };
		},
		UpdateMemberRole: (actor, request) => ({
			member: users.updateRole(actor, orgOf(actor, request), String(request.userId ?? ""), { role: request.role }),
		}),
		RemoveMember: (actor, request) => {
			users.removeMember(actor, orgOf(actor, request), String(request.userId ?? ""));
			return {};
		},
		InviteMember: (actor, request) => {
			const { token, ...invitation } = invitations.create(actor, orgOf(actor, request), {
				email: request.email,
				role: request.role,
			});
			return { invitation, token };
		},
		ListInvitations: (actor, request) => {
			const { page, pageSize } = pageOf(request);
			const result = invitations.list(actor, orgOf(actor, request), page, pageSize);
			return { invitations: result.data, pagination: result.pagination };
		},
		RevokeInvitation: (actor, request) => {
			invitations.revoke(actor, orgOf(actor, request), String(request.invitationId ?? ""));
			return {};
		},
		ListAuditLogs: (actor, { page, pageSize, ...query }) => {
			const result = audit.list(actor, { ...query, ...pageOf({ page, pageSize }) });
			return { entries: result.data, pagination: result.pagination };
		},
	};
}
