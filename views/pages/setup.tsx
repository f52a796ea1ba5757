// First run: no owner exists yet, so the first visitor creates the organization and its OWNER.
import { ErrorSummary, Field, type FormState } from "../components.tsx";
import { BareLayout } from "../layout.tsx";

export function SetupPage(props: { form: FormState; minPassword: number }): string {
	return BareLayout({
		title: "First-run setup",
		children: (
			<>
				<h1>Welcome to PistonProtection</h1>
				<p>No owner account exists yet. Create the organization and its owner; you sign in with it next.</p>
				<ErrorSummary form={props.form} />
				<form method="post" action="/setup" class="panel" novalidate>
					<Field form={props.form} name="organizationName" label="Organization name" required />
					<Field form={props.form} name="email" label="Owner email" type="email" autocomplete="username" required />
					<Field
						form={props.form}
						name="password"
						label="Password"
						type="password"
						autocomplete="new-password"
						hint={`At least ${props.minPassword} characters.`}
						required
					/>
					<Field
						form={props.form}
						name="confirm"
						label="Repeat the password"
						type="password"
						autocomplete="new-password"
						required
					/>
					<button type="submit">Create owner</button>
				</form>
			</>
		) as string,
	});
}
