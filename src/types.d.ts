// Files embedded into the compiled binary by Bun's import attributes.
declare module "*.sql" {
	const text: string;
	export default text;
}
declare module "*.o" {
	const path: string;
	export default path;
}
declare module "*.proto" {
	const text: string;
	export default text;
}
