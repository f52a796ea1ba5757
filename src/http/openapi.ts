// OpenAPI details for routes whose input the domain validates itself (one schema, declared once
// in the resource's model.ts, used for validation there and for the document here).
import type { TSchema } from "@sinclair/typebox";

export function doc(
	tag: string,
	summary: string,
	opts: { body?: TSchema; response?: TSchema; status?: number; public?: boolean } = {},
) {
	const status = String(opts.status ?? 200);
	return {
		detail: {
			tags: [tag],
			summary,
			...(opts.public ? { security: [] } : {}),
			...(opts.body ? { requestBody: { required: true, content: { "application/json": { schema: opts.body } } } } : {}),
			responses: {
				[status]: opts.response
					? { description: "OK", content: { "application/json": { schema: opts.response } } }
					: { description: "OK" },
				default: { description: "problem+json (RFC 7807)" },
			},
		},
	};
}
