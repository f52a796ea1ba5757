// A domain error as a page: not found, not permitted, or a refused request.
export function ErrorPage(props: { status: number; message: string }): string {
	const title = props.status === 404 ? "Not found" : props.status === 403 ? "Not permitted" : "Request refused";
	return (
		<>
			<h1 safe>{title}</h1>
			<p class="alert" role="alert" safe>
				{props.message}
			</p>
			<p>
				<a href="/">Back to the dashboard</a>
			</p>
		</>
	) as string;
}
