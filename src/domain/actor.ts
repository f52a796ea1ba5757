// Who is acting: a signed-in user, an API key, or the local operator at the CLI.
// Services check permissions and write audit entries from this, never from HTTP context.

export type Role = "OWNER" | "ADMIN" | "MEMBER" | "VIEWER";
export type Permission = "read" | "write" | "delete" | "admin";

export interface Actor {
	kind: "user" | "apikey" | "system";
	organizationId: string;
	userId: string | null;
	email: string | null;
	role: Role;
	/** API keys carry explicit permissions; users derive them from their role. */
	permissions: Permission[];
	/** pp_test_ keys act on sandbox data only. */
	sandbox: boolean;
	ipAddress: string | null;
	userAgent: string | null;
	/** What the actor presented: the API key, token family (login, session, OAuth grant) or OAuth client. */
	credential?: { type: "apikey" | "token" | "session" | "client"; id: string };
}

export const ROLE_PERMISSIONS: Record<Role, Permission[]> = {
	OWNER: ["read", "write", "delete", "admin"],
	ADMIN: ["read", "write", "delete", "admin"],
	MEMBER: ["read", "write", "delete"],
	VIEWER: ["read"],
};

export function systemActor(organizationId: string): Actor {
	return {
		kind: "system",
		organizationId,
		userId: null,
		email: null,
		role: "OWNER",
		permissions: ROLE_PERMISSIONS.OWNER,
		sandbox: false,
		ipAddress: null,
		userAgent: "pistonprotection-cli",
	};
}
