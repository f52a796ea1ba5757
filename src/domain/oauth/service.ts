// OAuth 2.0 (RFC 6749) for third-party integrations: registered clients (secret shown once,
// stored hashed; redirect URIs matched exactly), the Authorization Code grant with PKCE (S256,
// RFC 7636; codes single-use and short-lived), Client Credentials, and refresh-token rotation.
// Tokens issued here are the same access tokens the API accepts from a login.
import type { Database } from "bun:sqlite";
import { requirePermission, scopedPermissions } from "../../auth/rbac.ts";
import { newSecret, safeEqual, sha256Hex } from "../../auth/secrets.ts";
import type { AuthService, RequestContext } from "../../auth/service.ts";
import type { Config } from "../../config.ts";
import type { Actor, Permission, Role } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { Conflict, DomainError, NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import { type Page, paginate } from "../pagination.ts";
import { check } from "../validate.ts";
import { type OAuthClient, OAuthClientCreate } from "./model.ts";

const SECRET_PREFIX = "ppcs_";
const CODE_PREFIX = "ppc_";
const PKCE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** An RFC 6749 error: `error` is the protocol's code, rendered alongside problem+json. */
export class OAuthError extends DomainError {
	constructor(
		readonly error: string,
		message: string,
		status = 400,
	) {
		super(status, status === 401 ? "authentication" : "validation", message);
	}
}

interface ClientRow {
	id: string;
	organization_id: string;
	created_by: string | null;
	name: string;
	secret_hash: string;
	redirect_uris: string;
	scopes: string;
	created_at: string;
	revoked_at: string | null;
}

const toClient = (r: ClientRow): OAuthClient => ({
	id: r.id,
	name: r.name,
	redirectUris: JSON.parse(r.redirect_uris),
	scopes: JSON.parse(r.scopes),
	createdAt: r.created_at,
	revokedAt: r.revoked_at,
});

export interface AuthorizeRequest {
	client: OAuthClient;
	redirectUri: string;
	scope: string;
	state: string | null;
	codeChallenge: string;
}

export interface OAuthTokenResponse {
	access_token: string;
	token_type: "Bearer";
	expires_in: number;
	scope: string;
	refresh_token?: string;
}

export class OAuthService {
	constructor(
		private readonly db: Database,
		private readonly config: () => Config,
		private readonly auth: AuthService,
		private readonly audit: AuditService,
	) {}

	/** POST /v1/oauth/clients: admins register a client; its secret is returned once. */
	createClient(actor: Actor, input: unknown): OAuthClient & { clientSecret: string } {
		requirePermission(actor, "admin");
		check(OAuthClientCreate, input);
		for (const [i, uri] of input.redirectUris.entries()) {
			if (!validRedirect(uri))
				throw ValidationError.field(
					`redirectUris[${i}]`,
					"invalid_url",
					"must be an absolute https URL (http only for loopback) without fragment",
				);
		}
		const beyond = input.scopes.filter((s) => !actor.permissions.includes(s));
		if (beyond.length)
			throw ValidationError.field(
				"scopes",
				"invalid_value",
				`cannot grant scopes you do not have: ${beyond.join(", ")}`,
			);
		const secret = newSecret(SECRET_PREFIX);
		const id = newId("cl");
		this.db.transaction(() => {
			this.db
				.prepare(
					`INSERT INTO oauth_clients (id, organization_id, created_by, name, secret_hash, redirect_uris, scopes, created_at)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(
					id,
					actor.organizationId,
					actor.userId,
					input.name.trim(),
					sha256Hex(secret),
					JSON.stringify(input.redirectUris),
					JSON.stringify([...new Set(input.scopes)]),
					nowIso(),
				);
			this.audit.record(actor, {
				action: "oauth_client.created",
				resourceType: "oauth_client",
				resourceId: id,
				description: `Registered OAuth client '${input.name.trim()}'`,
				metadata: { redirectUris: input.redirectUris, scopes: input.scopes },
			});
		})();
		return { ...this.getClient(actor, id), clientSecret: secret };
	}

	listClients(actor: Actor, page?: number, pageSize?: number): Page<OAuthClient> {
		requirePermission(actor, "admin");
		const rows = this.db
			.query<ClientRow, [string]>("SELECT * FROM oauth_clients WHERE organization_id = ? ORDER BY created_at DESC")
			.all(actor.organizationId);
		return paginate(rows.map(toClient), page, pageSize);
	}

	getClient(actor: Actor, id: string): OAuthClient {
		requirePermission(actor, "admin");
		const row = this.db
			.query<ClientRow, [string, string]>("SELECT * FROM oauth_clients WHERE id = ? AND organization_id = ?")
			.get(id, actor.organizationId);
		if (!row) throw new NotFound("oauth client", id);
		return toClient(row);
	}

	/** Revoking a client ends every grant and token it holds. */
	revokeClient(actor: Actor, id: string): void {
		const client = this.getClient(actor, id);
		if (client.revokedAt) throw new Conflict("already_revoked", "the client is already revoked");
		this.db.transaction(() => {
			const now = nowIso();
			this.db.prepare("UPDATE oauth_clients SET revoked_at = ? WHERE id = ?").run(now, id);
			this.db
				.prepare(
					"UPDATE token_families SET revoked_at = ?, revoked_reason = 'client revoked' WHERE client_id = ? AND revoked_at IS NULL",
				)
				.run(now, id);
			this.audit.record(actor, {
				action: "oauth_client.revoked",
				resourceType: "oauth_client",
				resourceId: id,
				description: `Revoked OAuth client '${client.name}'`,
			});
		})();
	}

	/**
	 * Checks an authorization request. Errors about the client or redirect URI must not redirect
	 * (`redirect: false`); the others go back to the client's redirect URI with `error` and `state`.
	 */
	checkAuthorize(params: URLSearchParams): AuthorizeRequest {
		const clientId = params.get("client_id") ?? "";
		const row = this.clientRow(clientId);
		if (!row || row.revoked_at) throw new OAuthError("invalid_client", "unknown or revoked client_id");
		const client = toClient(row);
		const redirectUri = params.get("redirect_uri") ?? "";
		if (!client.redirectUris.includes(redirectUri))
			throw new OAuthError("invalid_request", "redirect_uri does not exactly match a registered redirect URI");
		const state = params.get("state");
		const fail = (error: string, message: string) => new AuthorizeRedirect(redirectUri, error, message, state);
		if (params.get("response_type") !== "code") throw fail("unsupported_response_type", "response_type must be 'code'");
		const challenge = params.get("code_challenge") ?? "";
		if (!/^[A-Za-z0-9_-]{43}$/.test(challenge))
			throw fail("invalid_request", "code_challenge (S256, PKCE) is required");
		if ((params.get("code_challenge_method") ?? "plain") !== "S256")
			throw fail("invalid_request", "code_challenge_method must be S256");
		const requested = (params.get("scope") ?? client.scopes.join(" ")).split(/\s+/).filter(Boolean);
		if (requested.length === 0 || requested.some((s) => !client.scopes.includes(s as Permission)))
			throw fail("invalid_scope", `scope must be a subset of: ${client.scopes.join(" ")}`);
		return { client, redirectUri, scope: [...new Set(requested)].join(" "), state, codeChallenge: challenge };
	}

	/** The user approved: a single-use code bound to client, redirect URI, scope and PKCE challenge. */
	approve(actor: Actor, request: AuthorizeRequest): string {
		const row = this.clientRow(request.client.id);
		if (!row || row.revoked_at || row.organization_id !== actor.organizationId)
			throw new OAuthError("access_denied", "this client belongs to another organization");
		// The grant never exceeds the approving user's role.
		const scope = request.scope
			.split(" ")
			.filter((s) => actor.permissions.includes(s as Permission))
			.join(" ");
		if (!scope)
			throw new AuthorizeRedirect(
				request.redirectUri,
				"access_denied",
				"no requested scope is permitted to you",
				request.state,
			);
		const code = newSecret(CODE_PREFIX);
		const now = Date.now();
		this.db.transaction(() => {
			this.db
				.prepare(
					`INSERT INTO oauth_codes (code_hash, client_id, user_id, organization_id, redirect_uri, scope, code_challenge,
						created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(
					sha256Hex(code),
					request.client.id,
					actor.userId,
					actor.organizationId,
					request.redirectUri,
					scope,
					request.codeChallenge,
					new Date(now).toISOString(),
					new Date(now + this.config().auth.oauth_code_ttl_seconds * 1000).toISOString(),
				);
			this.audit.record(actor, {
				action: "oauth.authorized",
				resourceType: "oauth_client",
				resourceId: request.client.id,
				description: `Authorized '${request.client.name}' for ${scope}`,
				metadata: { scope },
			});
		})();
		return code;
	}

	/** POST /oauth/token. */
	async token(
		form: URLSearchParams,
		basic: { id: string; secret: string } | null,
		ctx: RequestContext,
	): Promise<OAuthTokenResponse> {
		const grant = form.get("grant_type");
		const client = this.authenticateClient(form, basic);
		if (grant === "authorization_code") return this.exchangeCode(client, form, ctx);
		if (grant === "client_credentials") return this.clientCredentials(client, form, ctx);
		if (grant === "refresh_token") {
			const token = form.get("refresh_token");
			if (!token) throw new OAuthError("invalid_request", "refresh_token is required");
			try {
				const pair = await this.auth.refresh(token, ctx, client.id);
				const family = this.db
					.query<{ scope: string }, [string]>(
						"SELECT f.scope FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id WHERE r.token_hash = ?",
					)
					.get(sha256Hex(pair.refreshToken));
				return {
					access_token: pair.accessToken,
					token_type: "Bearer",
					expires_in: pair.expiresIn,
					refresh_token: pair.refreshToken,
					scope: family?.scope ?? "",
				};
			} catch (err) {
				if (err instanceof DomainError && err.status === 401) throw new OAuthError("invalid_grant", err.message);
				throw err;
			}
		}
		throw new OAuthError(
			"unsupported_grant_type",
			"grant_type must be authorization_code, client_credentials or refresh_token",
		);
	}

	private async exchangeCode(
		client: ClientRow,
		form: URLSearchParams,
		ctx: RequestContext,
	): Promise<OAuthTokenResponse> {
		const code = form.get("code") ?? "";
		const verifier = form.get("code_verifier") ?? "";
		if (!PKCE_VERIFIER.test(verifier)) throw new OAuthError("invalid_request", "code_verifier (PKCE) is required");
		const hash = sha256Hex(code);
		const outcome = this.db.transaction(() => {
			const row = this.db
				.query<
					{
						client_id: string;
						user_id: string;
						organization_id: string;
						redirect_uri: string;
						scope: string;
						code_challenge: string;
						expires_at: string;
						used_at: string | null;
					},
					[string]
				>("SELECT * FROM oauth_codes WHERE code_hash = ?")
				.get(hash);
			if (!row || row.client_id !== client.id) return "the code is invalid";
			if (row.used_at) {
				// A replayed code revokes what the first exchange issued (RFC 6749 §4.1.2).
				this.db
					.prepare(
						`UPDATE token_families SET revoked_at = ?, revoked_reason = 'authorization code replayed'
						 WHERE client_id = ? AND user_id = ? AND created_at >= ? AND revoked_at IS NULL`,
					)
					.run(nowIso(), row.client_id, row.user_id, row.used_at);
				return "the code was already used";
			}
			this.db.prepare("UPDATE oauth_codes SET used_at = ? WHERE code_hash = ?").run(nowIso(), hash);
			if (Date.parse(row.expires_at) <= Date.now()) return "the code has expired";
			if (row.redirect_uri !== (form.get("redirect_uri") ?? ""))
				return "redirect_uri does not match the authorization request";
			const challenge = new Bun.CryptoHasher("sha256").update(verifier).digest("base64url");
			if (!safeEqual(challenge, row.code_challenge)) return "code_verifier does not match the code_challenge";
			return row;
		})();
		if (typeof outcome === "string") throw new OAuthError("invalid_grant", outcome);
		const role = this.roleOf(outcome.organization_id, outcome.user_id);
		if (!role) throw new OAuthError("invalid_grant", "the user is no longer a member of the organization");
		const scope = scopedPermissions(role, outcome.scope).join(" ");
		const familyId = this.auth.createFamily(
			"oauth",
			{ userId: outcome.user_id, organizationId: outcome.organization_id },
			scope,
			client.id,
			ctx,
			this.config().auth.refresh_token_ttl_seconds,
		);
		const pair = await this.auth.issuePair(familyId, outcome.user_id, outcome.organization_id, scope, client.id);
		return {
			access_token: pair.accessToken,
			token_type: "Bearer",
			expires_in: pair.expiresIn,
			refresh_token: pair.refreshToken,
			scope,
		};
	}

	private async clientCredentials(
		client: ClientRow,
		form: URLSearchParams,
		ctx: RequestContext,
	): Promise<OAuthTokenResponse> {
		const allowed: string[] = JSON.parse(client.scopes);
		const requested = (form.get("scope") ?? allowed.join(" ")).split(/\s+/).filter(Boolean);
		if (requested.length === 0 || requested.some((s) => !allowed.includes(s)))
			throw new OAuthError("invalid_scope", `scope must be a subset of: ${allowed.join(" ")}`);
		const role = client.created_by ? this.roleOf(client.organization_id, client.created_by) : null;
		if (!role) throw new OAuthError("invalid_client", "the client's creator is no longer a member", 401);
		const scope = scopedPermissions(role, [...new Set(requested)].join(" ")).join(" ");
		const actor = this.auth.clientActor(client.id, client.organization_id, scope, ctx);
		if (actor)
			this.audit.record(actor, {
				action: "oauth.client_credentials",
				resourceType: "oauth_client",
				resourceId: client.id,
				description: `Issued a client-credentials token to '${client.name}'`,
				metadata: { scope },
			});
		const accessToken = await this.auth.accessToken({
			sub: client.id,
			org: client.organization_id,
			scope,
			cid: client.id,
		});
		return { access_token: accessToken, token_type: "Bearer", expires_in: 900, scope };
	}

	/** Client authentication: HTTP Basic or client_id/client_secret in the form (RFC 6749 §2.3.1). */
	private authenticateClient(form: URLSearchParams, basic: { id: string; secret: string } | null): ClientRow {
		const id = basic?.id ?? form.get("client_id") ?? "";
		const secret = basic?.secret ?? form.get("client_secret") ?? "";
		const row = this.clientRow(id);
		const ok = safeEqual(sha256Hex(secret), row?.secret_hash ?? sha256Hex(newSecret("absent")));
		if (!row || !ok || row.revoked_at) throw new OAuthError("invalid_client", "client authentication failed", 401);
		return row;
	}

	private clientRow(id: string): ClientRow | null {
		return this.db.query<ClientRow, [string]>("SELECT * FROM oauth_clients WHERE id = ?").get(id);
	}

	private roleOf(organizationId: string, userId: string): Role | null {
		return (
			this.db
				.query<{ role: Role }, [string, string]>(
					"SELECT role FROM memberships WHERE organization_id = ? AND user_id = ?",
				)
				.get(organizationId, userId)?.role ?? null
		);
	}
}

/** An authorization error that goes back to the client's redirect URI. */
export class AuthorizeRedirect extends OAuthError {
	constructor(
		readonly redirectUri: string,
		error: string,
		message: string,
		readonly state: string | null,
	) {
		super(error, message);
	}

	location(): string {
		const url = new URL(this.redirectUri);
		url.searchParams.set("error", this.error);
		url.searchParams.set("error_description", this.message);
		if (this.state !== null) url.searchParams.set("state", this.state);
		return url.toString();
	}
}

function validRedirect(uri: string): boolean {
	try {
		const url = new URL(uri);
		if (url.hash) return false;
		if (url.protocol === "https:") return true;
		return url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
	} catch {
		return false;
	}
}
