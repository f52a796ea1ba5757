// Invitations: an admin invites an email with a role; the single-use, expiring token (shown once,
// stored hashed) is accepted by a new user (who sets a password) or an existing one (who proves it
// with theirs), and becomes a membership.
import type { Database } from "bun:sqlite";
import { requireMayGrant, requirePermission } from "../../auth/rbac.ts";
import { newSecret, sha256Hex } from "../../auth/secrets.ts";
import type { Config } from "../../config.ts";
import type { Actor, Role } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { Conflict, NotFound, Unauthorized, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import type { OrganizationService } from "../organizations/service.ts";
import { type Page, paginate } from "../pagination.ts";
import { emailError, passwordError, type UserService } from "../users/service.ts";
import { check } from "../validate.ts";
import { type Invitation, InvitationAccept, InvitationCreate } from "./model.ts";

const TOKEN_PREFIX = "ppi_";

interface InvitationRow {
	id: string;
	organization_id: string;
	email: string;
	role: Role;
	token_hash: string;
	created_at: string;
	expires_at: string;
	accepted_at: string | null;
	revoked_at: string | null;
}

const toInvitation = (r: InvitationRow): Invitation => ({
	id: r.id,
	email: r.email,
	role: r.role,
	createdAt: r.created_at,
	expiresAt: r.expires_at,
	acceptedAt: r.accepted_at,
	revokedAt: r.revoked_at,
});

export class InvitationService {
	constructor(
		private readonly db: Database,
		private readonly config: () => Config,
		private readonly organizations: OrganizationService,
		private readonly users: UserService,
		private readonly audit: AuditService,
	) {}

	/** POST /v1/organizations/{orgId}/invitations: returns the invitation and its token, once. */
	create(actor: Actor, organizationId: string, input: unknown): Invitation & { token: string } {
		this.organizations.scoped(actor, organizationId);
		requirePermission(actor, "admin");
		check(InvitationCreate, input);
		const bad = emailError(input.email);
		if (bad) throw new ValidationError([bad]);
		requireMayGrant(actor, input.role);
		const token = newSecret(TOKEN_PREFIX);
		const id = newId("inv");
		const now = nowIso();
		const expiresAt = new Date(Date.now() + this.config().auth.invitation_ttl_seconds * 1000).toISOString();
		this.db.transaction(() => {
			const existing = this.users.findByEmail(input.email);
			if (existing && this.users.isMember(organizationId, existing.id))
				throw new Conflict("already_member", `${input.email} is already a member`);
			this.db
				.prepare(
					`INSERT INTO invitations (id, organization_id, email, role, token_hash, invited_by, created_at, expires_at)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(id, organizationId, input.email, input.role, sha256Hex(token), actor.userId, now, expiresAt);
			this.audit.record(actor, {
				action: "invitation.created",
				resourceType: "invitation",
				resourceId: id,
				description: `Invited ${input.email} as ${input.role}`,
				metadata: { email: input.email, role: input.role },
			});
		})();
		return { ...this.get(organizationId, id), token };
	}

	list(actor: Actor, organizationId: string, page?: number, pageSize?: number): Page<Invitation> {
		this.organizations.scoped(actor, organizationId);
		requirePermission(actor, "admin");
		const rows = this.db
			.query<InvitationRow, [string]>("SELECT * FROM invitations WHERE organization_id = ? ORDER BY created_at DESC")
			.all(organizationId);
		return paginate(rows.map(toInvitation), page, pageSize);
	}

	revoke(actor: Actor, organizationId: string, id: string): void {
		this.organizations.scoped(actor, organizationId);
		requirePermission(actor, "admin");
		this.db.transaction(() => {
			const invitation = this.get(organizationId, id);
			if (invitation.acceptedAt || invitation.revokedAt)
				throw new Conflict("invitation_closed", "the invitation was already accepted or revoked");
			this.db.prepare("UPDATE invitations SET revoked_at = ? WHERE id = ?").run(nowIso(), id);
			this.audit.record(actor, {
				action: "invitation.revoked",
				resourceType: "invitation",
				resourceId: id,
				description: `Revoked the invitation of ${invitation.email}`,
			});
		})();
	}

	/**
	 * POST /v1/invitations/accept (no credentials: the token is the credential). Creates the user
	 * with the given password, or links the existing user whose password it is.
	 */
	async accept(
		input: unknown,
		ctx: { ipAddress: string | null; userAgent: string | null },
	): Promise<{ organizationId: string; userId: string; role: Role }> {
		check(InvitationAccept, input);
		const row = this.db
			.query<InvitationRow, [string]>("SELECT * FROM invitations WHERE token_hash = ?")
			.get(sha256Hex(input.token));
		if (!row || row.accepted_at || row.revoked_at || Date.parse(row.expires_at) <= Date.now())
			throw new Unauthorized("the invitation is invalid, expired or already used");
		const existing = this.users.findByEmail(row.email);
		let newHash: string | null = null;
		if (existing) {
			if (!(await Bun.password.verify(input.password, existing.passwordHash)))
				throw new Unauthorized("the password does not match the existing account of the invited email");
		} else {
			const bad = passwordError(input.password);
			if (bad) throw new ValidationError([bad]);
			newHash = await Bun.password.hash(input.password, { algorithm: "argon2id" });
		}
		return this.db.transaction(() => {
			// Single use even under concurrent accepts: the row is claimed inside the transaction.
			const claimed = this.db
				.prepare("UPDATE invitations SET accepted_at = ? WHERE id = ? AND accepted_at IS NULL AND revoked_at IS NULL")
				.run(nowIso(), row.id);
			if (claimed.changes !== 1) throw new Unauthorized("the invitation is invalid, expired or already used");
			const userId = existing?.id ?? this.users.insertUser(row.email, input.name?.trim() ?? "", newHash as string).id;
			if (this.users.isMember(row.organization_id, userId))
				throw new Conflict("already_member", `${row.email} is already a member`);
			this.users.insertMembership(row.organization_id, userId, row.role);
			this.db.prepare("UPDATE invitations SET accepted_by = ? WHERE id = ?").run(userId, row.id);
			this.audit.recordEvent(
				{
					kind: "user",
					organizationId: row.organization_id,
					userId,
					email: row.email,
					role: row.role,
					permissions: [],
					sandbox: false,
					ipAddress: ctx.ipAddress,
					userAgent: ctx.userAgent,
				},
				{
					action: "invitation.accepted",
					resourceType: "invitation",
					resourceId: row.id,
					description: `${row.email} accepted the invitation as ${row.role}${existing ? "" : " (new account)"}`,
					metadata: { role: row.role, newUser: !existing },
				},
			);
			return { organizationId: row.organization_id, userId, role: row.role };
		})();
	}

	private get(organizationId: string, id: string): Invitation {
		const row = this.db
			.query<InvitationRow, [string, string]>("SELECT * FROM invitations WHERE id = ? AND organization_id = ?")
			.get(id, organizationId);
		if (!row) throw new NotFound("invitation", id);
		return toInvitation(row);
	}
}
