// Access tokens: EdDSA-signed JWTs, 900 s, carrying who (sub), where (org), what may be done
// (scope) and the token family (fam) or OAuth client (cid) that issued them, so revoking the
// family ends its access tokens too.
import { errors, jwtVerify, SignJWT } from "jose";
import { ACCESS_TOKEN_TTL_SECONDS, type KeyRing } from "./keys.ts";

const ISSUER = "pistonprotection";
const AUDIENCE = "pistonprotection-api";

export interface AccessClaims {
	/** User id; for client-credentials tokens the client id. */
	sub: string;
	org: string;
	scope: string;
	fam?: string;
	cid?: string;
}

export async function signAccessToken(keys: KeyRing, claims: AccessClaims): Promise<string> {
	const key = keys.signingKey();
	return new SignJWT({ org: claims.org, scope: claims.scope, fam: claims.fam, cid: claims.cid })
		.setProtectedHeader({ alg: "EdDSA", typ: "JWT", kid: key.kid })
		.setSubject(claims.sub)
		.setIssuer(ISSUER)
		.setAudience(AUDIENCE)
		.setIssuedAt()
		.setJti(crypto.randomUUID())
		.setExpirationTime(`${ACCESS_TOKEN_TTL_SECONDS}s`)
		.sign(key.privateKey);
}

/** The claims of a valid token, or null for anything forged, expired, or signed by an unknown key. */
export async function verifyAccessToken(keys: KeyRing, token: string): Promise<AccessClaims | null> {
	try {
		const { payload } = await jwtVerify(
			token,
			(header) => {
				const key = header.kid ? keys.verificationKey(header.kid) : null;
				if (!key) throw new errors.JWKSNoMatchingKey();
				return key;
			},
			{ issuer: ISSUER, audience: AUDIENCE, algorithms: ["EdDSA"] },
		);
		if (typeof payload.sub !== "string" || typeof payload.org !== "string" || typeof payload.scope !== "string")
			return null;
		return {
			sub: payload.sub,
			org: payload.org,
			scope: payload.scope,
			fam: typeof payload.fam === "string" ? payload.fam : undefined,
			cid: typeof payload.cid === "string" ? payload.cid : undefined,
		};
	} catch {
		return null;
	}
}
