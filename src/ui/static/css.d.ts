// Stylesheets are imported as text (`with { type: "text" }`) so the bundler embeds them.
declare module "*.css" {
	const text: string;
	export default text;
}
