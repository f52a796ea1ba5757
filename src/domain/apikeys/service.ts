// API keys: pp_live_/pp_test_ + 40 base-62 characters. The key is shown once; only its
// SHA-256 is stored (the key is high-entropy, so a fast hash is the right tool).
import type { Database } from "bun:sqlite";
import { timingSafeEqual } from "node:crypto";
import { requirePermission } from "../../auth/rbac.ts";
import { type Actor, type Permission, ROLE_PERMISSIONS, type Role } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { Conflict, Forbidden, NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso, randomString } from "../ids.ts";
import { type Page, paginate } from "../pagination.ts";
import { check } from "../validate.ts";
import { ApiKeyCreate } from "./model.ts";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_PATTERN = /^pp_(live|test)_[0-9A-Za-z]{40}$/;
export const PERMISSIONS: Permission[] = ["read", "write", "delete", "admin"];
/** last_used_at is written at most this often per key, so a busy key does not write on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;
/**
 * Resolved keys are remembered this long so a busy key costs no query per request; revocation
 * here clears the cache at once, changes made by another process (the CLI) apply within this time.
 */
const RESOLVE_CACHE_MS = 1000;
const RESOLVE_CACHE_MAX = 10_000;

export interface ApiKey {
	id: string;
	name: string;
	environment: "live" | "test";
	prefix: string;
	permissions: Permission[];
	expiresAt: string | null;
	lastUsedAt: string | null;
	revokedAt: string | null;
	createdAt: string;
}

interface ApiKeyRow {
	id: string;
	organization_id: string;
	created_by: string | null;
	name: string;
	environment: "live" | "test";
	display_prefix: string;
	key_hash: string;
	permissions: string;
	expires_at: string | null;
	last_used_at: string | null;
	revoked_at: string | null;
	created_at: string;
}

const toApiKey = (r: ApiKeyRow): ApiKey => ({
	id: r.id,
	name: r.name,
	environment: r.environment,
	prefix: r.display_prefix,
	permissions: JSON.parse(r.permissions),
	expiresAt: r.expires_at,
	lastUsedAt: r.last_used_at,
	revokedAt: r.revoked_at,
	createdAt: r.created_at,
});

export function hashKey(key: string): string {
	return new Bun.CryptoHasher("sha256").update(key).digest("hex");
}

export class ApiKeyService {
	private readonly byHash;
	private readonly touch;
	/** Resolved keys for RESOLVE_CACHE_MS, with what each request would otherwise recompute. */
	private readonly resolved = new Map<
		string,
		{
			row: (ApiKeyRow & { role: Role | null; email: string | null }) | null;
			at: number;
			hash: Buffer | null;
			permissions: Permission[];
		}
	>();

	constructor(
		private readonly db: Database,
		private readonly audit: AuditService,
	) {
		this.byHash = db.query<ApiKeyRow & { role: Role | null; email: string | null }, [string]>(
			`SELECT k.*, m.role AS role, u.email AS email FROM api_keys k
			 LEFT JOIN memberships m ON m.organization_id = k.organization_id AND m.user_id = k.created_by
			 LEFT JOIN users u ON u.id = k.created_by
			 WHERE k.key_hash = ?`,
		);
		this.touch = db.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?");
	}

	/** POST /v1/api-keys: validates untrusted input, then create(). */
	createFrom(actor: Actor, input: unknown): { key: string; apiKey: ApiKey } {
		requirePermission(actor, "write");
		check(ApiKeyCreate, input);
		return this.create(actor, input);
	}

	/** GET /v1/api-keys: the organization's keys (admins) or the actor's own keys; never secrets. */
	list(actor: Actor, page?: number, pageSize?: number): Page<ApiKey> {
		requirePermission(actor, "read");
		const rows = actor.permissions.includes("admin")
			? this.db
					.query<ApiKeyRow, [string]>("SELECT * FROM api_keys WHERE organization_id = ? ORDER BY created_at DESC, id")
					.all(actor.organizationId)
			: this.db
					.query<ApiKeyRow, [string, string]>(
						"SELECT * FROM api_keys WHERE organization_id = ? AND created_by = ? ORDER BY created_at DESC, id",
					)
					.all(actor.organizationId, actor.userId ?? "");
		return paginate(rows.map(toApiKey), page, pageSize);
	}

	/** DELETE /v1/api-keys/{id}: the creator may revoke their key, admins any key of the organization. */
	revoke(actor: Actor, id: string): ApiKey {
		const row = this.db
			.query<ApiKeyRow, [string, string]>("SELECT * FROM api_keys WHERE id = ? AND organization_id = ?")
			.get(id, actor.organizationId);
		if (!row) throw new NotFound("api key", id);
		if (
			!(actor.permissions.includes("admin") || (row.created_by === actor.userId && actor.permissions.includes("write")))
		)
			throw new Forbidden("only the key's creator or an admin may revoke it");
		if (row.revoked_at) throw new Conflict("already_revoked", "the key is already revoked");
		return this.db.transaction(() => {
			this.db.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").run(nowIso(), id);
			this.resolved.clear();
			this.audit.record(actor, {
				action: "apikey.revoked",
				resourceType: "api_key",
				resourceId: id,
				description: `Revoked API key '${row.name}'`,
			});
			return toApiKey(this.db.query<ApiKeyRow, [string]>("SELECT * FROM api_keys WHERE id = ?").get(id) as ApiKeyRow);
		})();
	}

	/** Creates a key within the actor's organization and permissions; returns the secret once. */
	create(
		actor: Actor,
		input: {
			name: string;
			permissions: Permission[];
			environment?: "live" | "test";
			expiresAt?: string | null;
		},
	): { key: string; apiKey: ApiKey } {
		const errors = [];
		if (input.name.trim() === "")
			errors.push({
				field: "name",
				code: "required",
				message: "must not be empty",
			});
		if (input.permissions.length === 0)
			errors.push({
				field: "permissions",
				code: "required",
				message: "at least one permission",
			});
		for (const p of input.permissions) {
			if (!PERMISSIONS.includes(p))
				errors.push({
					field: "permissions",
					code: "invalid_value",
					message: `unknown permission "${p}"`,
				});
		}
		if (
			input.expiresAt != null &&
			(Number.isNaN(Date.parse(input.expiresAt)) || Date.parse(input.expiresAt) <= Date.now())
		)
			errors.push({
				field: "expiresAt",
				code: "invalid_value",
				message: "must be a future ISO 8601 time",
			});
		if (errors.length) throw new ValidationError(errors);
		const beyond = input.permissions.filter((p) => !actor.permissions.includes(p));
		if (beyond.length) throw new Forbidden(`cannot grant permissions you do not have: ${beyond.join(", ")}`);

		const environment = input.environment ?? "live";
		const key = `pp_${environment}_${randomString(40, BASE62)}`;
		const id = newId("key");
		const now = nowIso();
		const expiresAt = input.expiresAt ? new Date(input.expiresAt).toISOString() : null;
		this.db.transaction(() => {
			this.db
				.prepare(
					`INSERT INTO api_keys (id, organization_id, created_by, name, environment, display_prefix, key_hash,
						permissions, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(
					id,
					actor.organizationId,
					actor.userId,
					input.name.trim(),
					environment,
					key.slice(0, 12),
					hashKey(key),
					JSON.stringify([...new Set(input.permissions)]),
					expiresAt,
					now,
				);
			this.audit.record(actor, {
				action: "apikey.created",
				resourceType: "api_key",
				resourceId: id,
				description: `Created API key '${input.name.trim()}'`,
				metadata: { permissions: input.permissions, environment },
			});
		})();
		const row = this.db.query<ApiKeyRow, [string]>("SELECT * FROM api_keys WHERE id = ?").get(id) as ApiKeyRow;
		return { key, apiKey: toApiKey(row) };
	}

	/**
	 * Resolves a presented key to the actor it acts as, or null. A key never exceeds its
	 * creator's current role: the permissions are the intersection of both.
	 */
	authenticate(presented: string, context: { ipAddress: string | null; userAgent: string | null }): Actor | null {
		if (!KEY_PATTERN.test(presented)) return null;
		const digest = new Bun.CryptoHasher("sha256").update(presented).digest();
		const hash = digest.toString("hex");
		const now = Date.now();
		let cached = this.resolved.get(hash);
		if (!cached || now - cached.at > RESOLVE_CACHE_MS) {
			if (this.resolved.size >= RESOLVE_CACHE_MAX) this.resolved.clear();
			const found = this.byHash.get(hash);
			cached = {
				row: found,
				at: now,
				hash: found ? Buffer.from(found.key_hash, "hex") : null,
				permissions: found ? JSON.parse(found.permissions) : [],
			};
			this.resolved.set(hash, cached);
		}
		const row = cached.row;
		if (!row || !cached.hash || !timingSafeEqual(cached.hash, digest)) return null;
		if (row.revoked_at || (row.expires_at && Date.parse(row.expires_at) <= Date.now())) return null;
		// A key dies with its creator's membership: it never outlives or exceeds them.
		const role = row.role;
		if (!role) return null;
		if (!row.last_used_at || now - Date.parse(row.last_used_at) >= LAST_USED_RESOLUTION_MS) {
			row.last_used_at = new Date(now).toISOString();
			this.touch.run(row.last_used_at, row.id);
		}
		const keyPermissions = cached.permissions;
		return {
			kind: "apikey",
			organizationId: row.organization_id,
			userId: row.created_by,
			email: row.email,
			role,
			permissions: keyPermissions.filter((p) => ROLE_PERMISSIONS[role].includes(p)),
			sandbox: row.environment === "test",
			ipAddress: context.ipAddress,
			userAgent: context.userAgent,
			credential: { type: "apikey", id: row.id },
		};
	}
}
