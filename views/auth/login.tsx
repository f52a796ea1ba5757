// GET/POST /login: the web UI's sign-in form. Works without JavaScript; the error is announced.
import { AuthPage } from "./page.tsx";

export function LoginPage(props: { next: string; error?: string; email?: string }): string {
	return (
		<AuthPage title="Sign in">
			<h1>Sign in</h1>
			{props.error ? (
				<p class="error" role="alert" id="login-error" safe>
					{props.error}
				</p>
			) : (
				""
			)}
			<form method="post" action="/login" aria-describedby={props.error ? "login-error" : undefined}>
				<input type="hidden" name="next" value={props.next} />
				<label for="email">Email</label>
				<input id="email" name="email" type="email" autocomplete="username" required value={props.email ?? ""} />
				<label for="password">Password</label>
				<input id="password" name="password" type="password" autocomplete="current-password" required />
				<button type="submit">Sign in</button>
			</form>
		</AuthPage>
	) as string;
}
