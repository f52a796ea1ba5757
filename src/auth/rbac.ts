// The role table of the spec, enforced by every service:
//   OWNER  full access and billing (the organization's tier)
//   ADMIN  full access except billing
//   MEMBER create and manage backends and rules (read, write, delete)
//   VIEWER read-only
// An actor's permissions are already the intersection of its role and its credential
// (API key permissions, OAuth scope), so checks look at permissions, and at the role for billing.
import { type Actor, type Permission, ROLE_PERMISSIONS, type Role } from "../domain/actor.ts";
import { Forbidden } from "../domain/errors.ts";

export const ROLES: Role[] = ["OWNER", "ADMIN", "MEMBER", "VIEWER"];
export const PERMISSIONS: Permission[] = ["read", "write", "delete", "admin"];

export function requirePermission(actor: Actor, permission: Permission): void {
	if (!actor.permissions.includes(permission)) throw new Forbidden(`requires the '${permission}' permission`);
}

/** Billing (the tier) belongs to owners, and only through a credential that carries admin. */
export function requireOwner(actor: Actor): void {
	requirePermission(actor, "admin");
	if (actor.role !== "OWNER") throw new Forbidden("only an OWNER may do this");
}

/** Granting a role needs every permission of that role; OWNER can only be granted by an OWNER. */
export function requireMayGrant(actor: Actor, role: Role): void {
	requirePermission(actor, "admin");
	if (role === "OWNER" && actor.role !== "OWNER") throw new Forbidden("only an OWNER may grant the OWNER role");
}

/** Permissions of a role narrowed to a scope ("read write"); unknown scope words are ignored. */
export function scopedPermissions(role: Role, scope: string): Permission[] {
	const wanted = new Set(scope.split(" "));
	return ROLE_PERMISSIONS[role].filter((p) => wanted.has(p));
}
