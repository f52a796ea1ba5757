// Sign-in and the credentials it hands out. A sign-in is a token family: an API login (access +
// rotating refresh tokens), a web session (cookie + CSRF token) or an OAuth grant. Presenting a
// spent refresh token revokes its whole family; logging out revokes the family, which ends its
// access tokens at once (they carry the family id and it is checked on every request).
import type { Database } from "bun:sqlite";
import type { Config } from "../config.ts";
import type { Actor, Role } from "../domain/actor.ts";
import type { ApiKeyService } from "../domain/apikeys/service.ts";
import type { AuditService } from "../domain/audit/service.ts";
import { Unauthorized } from "../domain/errors.ts";
import { newId, nowIso } from "../domain/ids.ts";
import { type AccessClaims, signAccessToken, verifyAccessToken } from "./jwt.ts";
import { ACCESS_TOKEN_TTL_SECONDS, type KeyRing } from "./keys.ts";
import { scopedPermissions } from "./rbac.ts";
import { hmacHex, newSecret, safeEqual, sha256Hex } from "./secrets.ts";
import type { LoginThrottle } from "./throttle.ts";

export const FULL_SCOPE = "read write delete admin";
const REFRESH_PREFIX = "ppr_";
const SESSION_PREFIX = "pps_";
const INVALID_LOGIN = "invalid email or password";

export interface RequestContext {
	ipAddress: string | null;
	userAgent: string | null;
}

export interface TokenPair {
	accessToken: string;
	refreshToken: string;
	expiresIn: number;
	tokenType: "Bearer";
}

interface FamilyRow {
	id: string;
	kind: "api" | "web" | "oauth";
	user_id: string;
	organization_id: string;
	client_id: string | null;
	scope: string;
	expires_at: string;
	revoked_at: string | null;
	role: Role | null;
	email: string;
}

interface RefreshRow {
	token_hash: string;
	family_id: string;
	expires_at: string;
	used_at: string | null;
}

export class AuthService {
	/** Verifying against this when the account does not exist keeps failures equally slow. */
	private readonly dummyHash: Promise<string>;
	private readonly familyById;

	constructor(
		private readonly db: Database,
		private readonly config: () => Config,
		private readonly audit: AuditService,
		private readonly apiKeys: ApiKeyService,
		readonly keys: KeyRing,
		private readonly throttle: LoginThrottle,
	) {
		this.dummyHash = Bun.password.hash(newSecret("dummy"), { algorithm: "argon2id" });
		this.familyById = db.query<FamilyRow, [string]>(
			`SELECT f.*, m.role AS role, u.email AS email FROM token_families f
			 JOIN users u ON u.id = f.user_id
			 LEFT JOIN memberships m ON m.organization_id = f.organization_id AND m.user_id = f.user_id
			 WHERE f.id = ?`,
		);
	}

	/** POST /v1/auth/login: an API sign-in with an access token and a refresh token. */
	async login(email: string, password: string, ctx: RequestContext): Promise<TokenPair> {
		const user = await this.verifyPassword(email, password, ctx, "api");
		const familyId = this.createFamily(
			"api",
			user,
			FULL_SCOPE,
			null,
			ctx,
			this.config().auth.refresh_token_ttl_seconds,
		);
		return this.issuePair(familyId, user.userId, user.organizationId, FULL_SCOPE, null);
	}

	/** The web UI's sign-in: a session cookie value and its CSRF token. */
	async loginSession(
		email: string,
		password: string,
		ctx: RequestContext,
	): Promise<{ sessionToken: string; csrfToken: string; maxAge: number }> {
		const user = await this.verifyPassword(email, password, ctx, "web");
		const sessionToken = newSecret(SESSION_PREFIX);
		const maxAge = this.config().auth.session_ttl_seconds;
		this.createFamily("web", user, FULL_SCOPE, null, ctx, maxAge, sha256Hex(sessionToken));
		return { sessionToken, csrfToken: this.csrfToken(sessionToken), maxAge };
	}

	/** POST /v1/auth/refresh: rotates the refresh token; a spent one revokes its family. */
	async refresh(refreshToken: string, ctx: RequestContext, clientId: string | null = null): Promise<TokenPair> {
		const hash = sha256Hex(refreshToken);
		const now = nowIso();
		const outcome = this.db.transaction(() => {
			const row = this.db.query<RefreshRow, [string]>("SELECT * FROM refresh_tokens WHERE token_hash = ?").get(hash);
			if (!row || !refreshToken.startsWith(REFRESH_PREFIX)) return { error: "invalid refresh token" } as const;
			const family = this.familyById.get(row.family_id);
			if (!family) return { error: "invalid refresh token" } as const;
			if (family.client_id !== clientId) return { error: "invalid refresh token" } as const;
			const actor = this.familyActor(family, ctx);
			if (row.used_at) {
				if (!family.revoked_at) {
					this.revokeFamily(family.id, "refresh token reuse");
					this.audit.record(actor, {
						action: "auth.refresh_reused",
						resourceType: "session",
						resourceId: family.id,
						description: `A spent refresh token was presented again; revoked the sign-in of ${family.email}`,
					});
				}
				return { error: "refresh token already used; the sign-in has been revoked" } as const;
			}
			if (family.revoked_at || Date.parse(row.expires_at) <= Date.now() || !family.role)
				return { error: "refresh token expired or revoked" } as const;
			this.db.prepare("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?").run(now, hash);
			this.audit.record(actor, {
				action: "auth.token_refreshed",
				resourceType: "session",
				resourceId: family.id,
				description: `Refreshed the access token of ${family.email}`,
			});
			return { family } as const;
		})();
		if ("error" in outcome) throw new Unauthorized(outcome.error);
		const f = outcome.family;
		return this.issuePair(f.id, f.user_id, f.organization_id, f.scope, f.client_id);
	}

	/** Ends the sign-in the actor is using (token family or web session). */
	logout(actor: Actor): void {
		const credential = actor.credential;
		if (!credential || (credential.type !== "token" && credential.type !== "session"))
			throw new Unauthorized("only a signed-in session can log out; revoke API keys instead");
		this.db.transaction(() => {
			this.revokeFamily(credential.id, "logout");
			this.audit.record(actor, {
				action: "auth.logout",
				resourceType: "session",
				resourceId: credential.id,
				description: `Signed out ${actor.email ?? ""}`.trim(),
			});
		})();
	}

	/** A family of the given kind with its first refresh token; used by OAuth grants too. */
	createFamily(
		kind: "api" | "web" | "oauth",
		user: { userId: string; organizationId: string },
		scope: string,
		clientId: string | null,
		ctx: RequestContext,
		ttlSeconds: number,
		sessionHash: string | null = null,
	): string {
		const id = newId("ses");
		const now = nowIso();
		this.db
			.prepare(
				`INSERT INTO token_families (id, kind, user_id, organization_id, client_id, scope, session_hash,
					created_at, expires_at, ip_address, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			)
			.run(
				id,
				kind,
				user.userId,
				user.organizationId,
				clientId,
				scope,
				sessionHash,
				now,
				new Date(Date.now() + ttlSeconds * 1000).toISOString(),
				ctx.ipAddress,
				ctx.userAgent,
			);
		return id;
	}

	/** A fresh access token and a new refresh token in the family. */
	async issuePair(
		familyId: string,
		userId: string,
		organizationId: string,
		scope: string,
		clientId: string | null,
	): Promise<TokenPair> {
		const refreshToken = newSecret(REFRESH_PREFIX);
		const ttl = this.config().auth.refresh_token_ttl_seconds;
		this.db
			.prepare("INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
			.run(sha256Hex(refreshToken), familyId, nowIso(), new Date(Date.now() + ttl * 1000).toISOString());
		const accessToken = await this.accessToken({
			sub: userId,
			org: organizationId,
			scope,
			fam: familyId,
			cid: clientId ?? undefined,
		});
		return { accessToken, refreshToken, expiresIn: ACCESS_TOKEN_TTL_SECONDS, tokenType: "Bearer" };
	}

	accessToken(claims: AccessClaims): Promise<string> {
		return signAccessToken(this.keys, claims);
	}

	/** Resolves `Authorization: Bearer <api key | access token>`; null when it is not valid. */
	async authenticateBearer(credential: string, ctx: RequestContext): Promise<Actor | null> {
		if (credential.startsWith("pp_live_") || credential.startsWith("pp_test_"))
			return this.apiKeys.authenticate(credential, ctx);
		const claims = await verifyAccessToken(this.keys, credential);
		if (!claims) return null;
		if (claims.fam) {
			const family = this.familyById.get(claims.fam);
			if (!family || family.revoked_at || family.user_id !== claims.sub || family.organization_id !== claims.org)
				return null;
			return this.familyActor(family, ctx);
		}
		if (claims.cid) return this.clientActor(claims.cid, claims.org, claims.scope, ctx);
		return null;
	}

	/** Resolves the web session cookie; null when unknown, expired or revoked. */
	authenticateSession(sessionToken: string, ctx: RequestContext): Actor | null {
		if (!sessionToken.startsWith(SESSION_PREFIX)) return null;
		const row = this.db
			.query<{ id: string }, [string]>("SELECT id FROM token_families WHERE session_hash = ? AND kind = 'web'")
			.get(sha256Hex(sessionToken));
		if (!row) return null;
		const family = this.familyById.get(row.id);
		if (!family || family.revoked_at || Date.parse(family.expires_at) <= Date.now()) return null;
		const actor = this.familyActor(family, ctx);
		return actor.permissions.length ? { ...actor, credential: { type: "session", id: family.id } } : null;
	}

	/** The CSRF token of a session: an HMAC of the cookie value, so nothing more is stored. */
	csrfToken(sessionToken: string): string {
		return hmacHex(this.keys.csrfSecret(), `csrf:${sessionToken}`);
	}

	checkCsrf(sessionToken: string, presented: string | null | undefined): boolean {
		return typeof presented === "string" && safeEqual(this.csrfToken(sessionToken), presented);
	}

	/** An actor for a client-credentials token: the client's creator, narrowed to the token's scope. */
	clientActor(clientId: string, organizationId: string, scope: string, ctx: RequestContext): Actor | null {
		const row = this.db
			.query<
				{ created_by: string | null; role: Role | null; email: string | null; revoked_at: string | null },
				[string, string]
			>(
				`SELECT c.created_by, c.revoked_at, m.role AS role, u.email AS email FROM oauth_clients c
				 LEFT JOIN memberships m ON m.organization_id = c.organization_id AND m.user_id = c.created_by
				 LEFT JOIN users u ON u.id = c.created_by
				 WHERE c.id = ? AND c.organization_id = ?`,
			)
			.get(clientId, organizationId);
		if (!row || row.revoked_at || !row.role) return null;
		return {
			kind: "apikey",
			organizationId,
			userId: row.created_by,
			email: row.email,
			role: row.role,
			permissions: scopedPermissions(row.role, scope),
			sandbox: false,
			ipAddress: ctx.ipAddress,
			userAgent: ctx.userAgent,
			credential: { type: "client", id: clientId },
		};
	}

	/** Checks the password (argon2id), throttled; returns the user's first organization. */
	async verifyPassword(
		email: string,
		password: string,
		ctx: RequestContext,
		kind: "api" | "web" | "oauth",
	): Promise<{ userId: string; organizationId: string; email: string; role: Role }> {
		const delay = this.throttle.admit(email, ctx.ipAddress);
		if (delay) await Bun.sleep(delay);
		const user = this.db
			.query<
				{ id: string; email: string; password_hash: string; organization_id: string | null; role: Role | null },
				[string]
			>(
				`SELECT u.id, u.email, u.password_hash, m.organization_id, m.role FROM users u
				 LEFT JOIN memberships m ON m.user_id = u.id
				 WHERE u.email = ? ORDER BY m.created_at LIMIT 1`,
			)
			.get(email);
		const ok = await Bun.password.verify(password, user?.password_hash ?? (await this.dummyHash));
		const base = {
			kind: "user" as const,
			role: "VIEWER" as const,
			permissions: [],
			sandbox: false,
			ipAddress: ctx.ipAddress,
			userAgent: ctx.userAgent,
		};
		if (!(ok && user?.organization_id && user.role)) {
			this.throttle.failed(email, ctx.ipAddress);
			this.audit.recordEvent(
				{ ...base, organizationId: user?.organization_id ?? null, userId: user?.id ?? null, email },
				{
					action: "auth.login_failed",
					resourceType: "session",
					resourceId: null,
					description: `Failed sign-in for ${email}`,
					metadata: { method: kind },
				},
			);
			throw new Unauthorized(INVALID_LOGIN);
		}
		this.throttle.succeeded(email, ctx.ipAddress);
		const now = nowIso();
		this.db.transaction(() => {
			this.db.prepare("UPDATE users SET last_login_at = ? WHERE id = ?").run(now, user.id);
			this.audit.record(
				{
					...base,
					organizationId: user.organization_id as string,
					userId: user.id,
					email: user.email,
					role: user.role as Role,
				},
				{
					action: "auth.login",
					resourceType: "session",
					resourceId: null,
					description: `Signed in ${user.email}`,
					metadata: { method: kind },
				},
			);
		})();
		return { userId: user.id, organizationId: user.organization_id, email: user.email, role: user.role };
	}

	private familyActor(family: FamilyRow, ctx: RequestContext): Actor {
		const role = family.role ?? "VIEWER";
		return {
			kind: "user",
			organizationId: family.organization_id,
			userId: family.user_id,
			email: family.email,
			role,
			// A removed member keeps no access through a sign-in that outlived the membership.
			permissions: family.role ? scopedPermissions(role, family.scope) : [],
			sandbox: false,
			ipAddress: ctx.ipAddress,
			userAgent: ctx.userAgent,
			credential: { type: family.kind === "web" ? "session" : "token", id: family.id },
		};
	}

	private revokeFamily(id: string, reason: string): void {
		this.db
			.prepare("UPDATE token_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL")
			.run(nowIso(), reason, id);
	}
}
