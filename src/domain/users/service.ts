// Users and their memberships. Passwords are hashed with argon2id (Bun.password).
import type { Database } from "bun:sqlite";
import { type Actor, systemActor } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { Conflict, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import type { Organization, OrganizationService } from "../organizations/service.ts";

export const MIN_PASSWORD_LENGTH = 12;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

export interface User {
	id: string;
	email: string;
	name: string;
	createdAt: string;
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
		const errors = [];
		if (!EMAIL.test(input.email))
			errors.push({
				field: "email",
				code: "invalid_format",
				message: "not an email address",
			});
		if (input.password.length < MIN_PASSWORD_LENGTH)
			errors.push({
				field: "password",
				code: "too_short",
				message: `must be at least ${MIN_PASSWORD_LENGTH} characters`,
			});
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
			const now = nowIso();
			const id = newId("usr");
			this.db
				.prepare(
					"INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (?, ?, '', ?, ?, ?)",
				)
				.run(id, input.email, hash, now, now);
			this.db
				.prepare("INSERT INTO memberships (organization_id, user_id, role, created_at) VALUES (?, ?, 'OWNER', ?)")
				.run(organization.id, id, now);
			const actor: Actor = {
				...systemActor(organization.id),
				userId: id,
				email: input.email,
			};
			this.audit.record(actor, {
				action: "organization.created",
				resourceType: "organization",
				resourceId: organization.id,
				description: `Created organization '${organization.name}' with owner ${input.email}`,
			});
			return {
				user: { id, email: input.email, name: "", createdAt: now },
				organization,
			};
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
}
