// Users and their memberships. Passwords are hashed with argon2id (Bun.password).
// The last OWNER of an organization can be neither removed nor demoted.
import type { Database } from "bun:sqlite";
import { requireMayGrant, requirePermission } from "../../auth/rbac.ts";
import { type Actor, type Role, systemActor } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { Conflict, Forbidden, NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import type { Organization, OrganizationService } from "../organizations/service.ts";
import { type Page, paginate } from "../pagination.ts";
import { check } from "../validate.ts";
import { type Member, MemberUpdate } from "./model.ts";

export const MIN_PASSWORD_LENGTH = 12;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

export interface User {
	id: string;
	email: string;
	name: string;
	createdAt: string;
}

interface MemberRow {
	user_id: string;
	email: string;
	name: string;
	role: Role;
	created_at: string;
	last_login_at: string | null;
}

const toMember = (r: MemberRow): Member => ({
	userId: r.user_id,
	email: r.email,
	name: r.name,
	role: r.role,
	joinedAt: r.created_at,
	lastLoginAt: r.last_login_at,
});

export function emailError(email: string) {
	return EMAIL.test(email) && email.length <= 320
		? null
		: { field: "email", code: "invalid_format", message: "not an email address" };
}

export function passwordError(password: string) {
	return password.length >= MIN_PASSWORD_LENGTH
		? null
		: { field: "password", code: "too_short", message: `must be at least ${MIN_PASSWORD_LENGTH} characters` };
}

export class UserService {
	constructor(
		private readonly db: Database,
		private readonly organizations: OrganizationService,
		private readonly audit: AuditService,
	) {}

	ownerExists(): boolean {
		return !!this.db.query("SELECT 1 FROM memberships WHERE role = 'OWNER' LIMIT 1").get();
	}

	/** First-run setup: the first organization and its OWNER, in one transaction. */
	async createOwner(input: {
		email: string;
		password: string;
		organizationName: string;
	}): Promise<{ user: User; organization: Organization }> {
		const errors = [emailError(input.email), passwordError(input.password)].filter((e) => e !== null);
		if (input.organizationName.trim() === "")
			errors.push({
				field: "organizationName",
				code: "required",
				message: "must not be empty",
			});
		if (errors.length) throw new ValidationError(errors);
		if (this.ownerExists()) throw new Conflict("owner_exists", "an owner account already exists");

		const hash = await Bun.password.hash(input.password, {
			algorithm: "argon2id",
		});
		return this.db.transaction(() => {
			const organization = this.organizations.insert(input.organizationName.trim());
			const user = this.insertUser(input.email, "", hash);
			this.insertMembership(organization.id, user.id, "OWNER");
			const actor: Actor = {
				...systemActor(organization.id),
				userId: user.id,
				email: input.email,
			};
			this.audit.record(actor, {
				action: "organization.created",
				resourceType: "organization",
				resourceId: organization.id,
				description: `Created organization '${organization.name}' with owner ${input.email}`,
			});
			return { user, organization };
		})();
	}

	/** Inserts a user row; callers run it inside their own transaction. */
	insertUser(email: string, name: string, passwordHash: string): User {
		const now = nowIso();
		const id = newId("usr");
		this.db
			.prepare("INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
			.run(id, email, name, passwordHash, now, now);
		return { id, email, name, createdAt: now };
	}

	insertMembership(organizationId: string, userId: string, role: Role): void {
		this.db
			.prepare("INSERT INTO memberships (organization_id, user_id, role, created_at) VALUES (?, ?, ?, ?)")
			.run(organizationId, userId, role, nowIso());
	}

	findByEmail(email: string): { id: string; email: string; passwordHash: string } | null {
		const row = this.db
			.query<{ id: string; email: string; password_hash: string }, [string]>(
				"SELECT id, email, password_hash FROM users WHERE email = ?",
			)
			.get(email);
		return row ? { id: row.id, email: row.email, passwordHash: row.password_hash } : null;
	}

	isMember(organizationId: string, userId: string): boolean {
		return !!this.db
			.query("SELECT 1 FROM memberships WHERE organization_id = ? AND user_id = ?")
			.get(organizationId, userId);
	}

	/** GET /v1/organizations/{orgId}/members */
	listMembers(actor: Actor, organizationId: string, page?: number, pageSize?: number): Page<Member> {
		this.organizations.scoped(actor, organizationId);
		requirePermission(actor, "read");
		const rows = this.db
			.query<MemberRow, [string]>(
				`SELECT m.user_id, u.email, u.name, m.role, m.created_at, u.last_login_at
				 FROM memberships m JOIN users u ON u.id = m.user_id
				 WHERE m.organization_id = ? ORDER BY m.created_at, u.email`,
			)
			.all(organizationId);
		return paginate(rows.map(toMember), page, pageSize);
	}

	/** PUT /v1/organizations/{orgId}/members/{userId} */
	updateRole(actor: Actor, organizationId: string, userId: string, input: unknown): Member {
		this.organizations.scoped(actor, organizationId);
		requirePermission(actor, "admin");
		check(MemberUpdate, input);
		return this.db.transaction(() => {
			const member = this.member(organizationId, userId);
			if (member.role === input.role) return member;
			requireMayGrant(actor, input.role);
			if (member.role === "OWNER") {
				if (actor.role !== "OWNER") throw new Forbidden("only an OWNER may change an OWNER's role");
				this.ensureAnotherOwner(organizationId, userId, "demote");
			}
			this.db
				.prepare("UPDATE memberships SET role = ? WHERE organization_id = ? AND user_id = ?")
				.run(input.role, organizationId, userId);
			this.audit.record(actor, {
				action: "member.role_updated",
				resourceType: "member",
				resourceId: userId,
				description: `Changed the role of ${member.email} from ${member.role} to ${input.role}`,
				metadata: { from: member.role, to: input.role, email: member.email },
			});
			return { ...member, role: input.role };
		})();
	}

	/** DELETE /v1/organizations/{orgId}/members/{userId}; ends the member's sign-ins there. */
	removeMember(actor: Actor, organizationId: string, userId: string): void {
		this.organizations.scoped(actor, organizationId);
		requirePermission(actor, "admin");
		this.db.transaction(() => {
			const member = this.member(organizationId, userId);
			if (member.role === "OWNER") {
				if (actor.role !== "OWNER") throw new Forbidden("only an OWNER may remove an OWNER");
				this.ensureAnotherOwner(organizationId, userId, "remove");
			}
			this.db.prepare("DELETE FROM memberships WHERE organization_id = ? AND user_id = ?").run(organizationId, userId);
			this.db
				.prepare(
					`UPDATE token_families SET revoked_at = ?, revoked_reason = 'membership removed'
					 WHERE organization_id = ? AND user_id = ? AND revoked_at IS NULL`,
				)
				.run(nowIso(), organizationId, userId);
			this.audit.record(actor, {
				action: "member.removed",
				resourceType: "member",
				resourceId: userId,
				description: `Removed ${member.email} (${member.role}) from the organization`,
				metadata: { role: member.role, email: member.email },
			});
		})();
	}

	/** The organization of the first owner: what the CLI acts on when none is named. */
	firstOwner(): {
		userId: string;
		organizationId: string;
		email: string;
	} | null {
		return (
			this.db
				.query<{ userId: string; organizationId: string; email: string }, []>(
					`SELECT m.user_id AS userId, m.organization_id AS organizationId, u.email AS email
					 FROM memberships m JOIN users u ON u.id = m.user_id
					 WHERE m.role = 'OWNER' ORDER BY m.created_at LIMIT 1`,
				)
				.get() ?? null
		);
	}

	private member(organizationId: string, userId: string): Member {
		const row = this.db
			.query<MemberRow, [string, string]>(
				`SELECT m.user_id, u.email, u.name, m.role, m.created_at, u.last_login_at
				 FROM memberships m JOIN users u ON u.id = m.user_id
				 WHERE m.organization_id = ? AND m.user_id = ?`,
			)
			.get(organizationId, userId);
		if (!row) throw new NotFound("member", userId);
		return toMember(row);
	}

	private ensureAnotherOwner(organizationId: string, userId: string, verb: string): void {
		const others =
			this.db
				.query<{ n: number }, [string, string]>(
					"SELECT COUNT(*) AS n FROM memberships WHERE organization_id = ? AND role = 'OWNER' AND user_id != ?",
				)
				.get(organizationId, userId)?.n ?? 0;
		if (others === 0) throw new Conflict("last_owner", `cannot ${verb} the last OWNER of the organization`);
	}
}
