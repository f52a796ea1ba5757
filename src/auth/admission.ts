// What every API call goes through, for every face: the Bearer credential (API key or access
// token) resolved to an actor, and the rate-limit decision — per organization at its tier once
// authenticated, per source address at the anonymous tier otherwise.
import type { Actor } from "../domain/actor.ts";
import type { Services } from "../services.ts";
import type { RateDecision } from "./ratelimit.ts";
import type { RequestContext } from "./service.ts";

/** null: no Bearer credential was presented; otherwise the actor, or null inside when it was refused. */
export async function bearerActor(
	services: Services,
	authorization: string | null | undefined,
	ctx: RequestContext,
): Promise<{ actor: Actor | null } | null> {
	if (!authorization || !/^Bearer\s/i.test(authorization)) return null;
	const match = /^Bearer\s+(\S+)$/i.exec(authorization);
	return { actor: match?.[1] ? await services.auth.authenticateBearer(match[1], ctx) : null };
}

export function rateDecision(services: Services, actor: Actor | null, ctx: RequestContext): RateDecision {
	return actor
		? services.rateLimiter.consume(`org:${actor.organizationId}`, services.organizations.tier(actor.organizationId))
		: services.rateLimiter.consume(`ip:${ctx.ipAddress ?? "unknown"}`, services.config.api.anonymous_tier);
}
