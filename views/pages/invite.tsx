// Accepting an invitation: the link's token, and a password (new account or the existing one's).
import { ErrorSummary, Field, type FormState } from "../components.tsx";
import { BareLayout } from "../layout.tsx";

export function InvitePage(props: { form: FormState; done?: boolean }): string {
	return BareLayout({
		title: "Accept invitation",
		children: (
			<>
				<h1>Accept invitation</h1>
				{props.done ? (
					<p class="notice" role="status">
						You have joined the organization. <a href="/login">Sign in</a>.
					</p>
				) : (
					<>
						<p>Choose a password for a new account, or enter the password of your existing account.</p>
						<ErrorSummary form={props.form} />
						<form method="post" action="/invite" class="panel" novalidate>
							<input type="hidden" name="token" value={props.form.values.token ?? ""} />
							<Field form={props.form} name="name" label="Your name (optional)" autocomplete="name" />
							<Field
								form={props.form}
								name="password"
								label="Password"
								type="password"
								autocomplete="new-password"
								required
							/>
							<button type="submit">Accept</button>
						</form>
					</>
				)}
			</>
		) as string,
	});
}
