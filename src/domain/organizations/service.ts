// Organizations: the tenant boundary. Every resource row carries organization_id and every
// query of a service filters by the actor's organization.
import type { Database } from "bun:sqlite";
import type { Actor } from "../actor.ts";
import { NotFound } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";

export interface Organization {
	id: string;
	name: string;
	logoUrl: string | null;
	tier: "FREE" | "PRO" | "ENTERPRISE";
	createdAt: string;
	updatedAt: string;
}

interface OrganizationRow {
	id: string;
	name: string;
	logo_url: string | null;
	tier: Organization["tier"];
	created_at: string;
	updated_at: string;
}

const toOrganization = (r: OrganizationRow): Organization => ({
	id: r.id,
	name: r.name,
	logoUrl: r.logo_url,
	tier: r.tier,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
});

export class OrganizationService {
	constructor(private readonly db: Database) {}

	/** Inserts a row; callers run it inside their own transaction (see UserService.createOwner). */
	insert(name: string): Organization {
		const now = nowIso();
		const id = newId("org");
		this.db
			.prepare("INSERT INTO organizations (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)")
			.run(id, name, now, now);
		return this.get(id);
	}

	get(id: string): Organization {
		const row = this.db.query<OrganizationRow, [string]>("SELECT * FROM organizations WHERE id = ?").get(id);
		if (!row) throw new NotFound("organization", id);
		return toOrganization(row);
	}

	current(actor: Actor): Organization {
		return this.get(actor.organizationId);
	}

	count(): number {
		return this.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM organizations").get()?.n ?? 0;
	}
}
