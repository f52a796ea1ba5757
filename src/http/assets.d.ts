// Swagger UI's assets, imported as text (`with { type: "text" }`) so the bundler embeds them.
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
	const text: string;
	export default text;
}
declare module "swagger-ui-dist/swagger-ui.css" {
	const text: string;
	export default text;
}
declare module "htmx.org/dist/htmx.min.js" {
	const text: string;
	export default text;
}
