// GET /oauth/authorize: asks the signed-in user whether a client may act for them.
import { AuthPage } from "./page.tsx";

export interface ConsentProps {
	clientName: string;
	email: string;
	scopes: string[];
	csrfToken: string;
	/** The authorization request's parameters, posted back unchanged. */
	params: Array<[string, string]>;
}

const SCOPE_TEXT: Record<string, string> = {
	read: "read your organization's resources",
	write: "create and update resources",
	delete: "delete resources",
	admin: "administer the organization (members, keys, settings)",
};

export function ConsentPage(props: ConsentProps): string {
	return (
		<AuthPage title="Authorize access">
			<h1>Authorize access</h1>
			<p>
				<strong safe>{props.clientName}</strong> asks to act as <strong safe>{props.email}</strong> and:
			</p>
			<ul>
				{props.scopes.map((s) => (
					<li safe>{SCOPE_TEXT[s] ?? s}</li>
				))}
			</ul>
			<form method="post" action="/oauth/authorize">
				<input type="hidden" name="_csrf" value={props.csrfToken} />
				{props.params.map(([name, value]) => (
					<input type="hidden" name={name} value={value} />
				))}
				<button type="submit" name="decision" value="approve">
					Allow
				</button>{" "}
				<button type="submit" name="decision" value="deny">
					Deny
				</button>
			</form>
		</AuthPage>
	) as string;
}
