// The OpenAPI document (/v1/docs/json) and its Swagger UI page (/v1/docs). The UI's assets are
// embedded in the binary and served from /v1/docs/assets; the page loads nothing from elsewhere.
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "text" };
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "text" };
import { VERSION } from "../../version.ts";

const ASSETS = "/v1/docs/assets";

export function docsRoutes() {
	return new Elysia({ name: "docs" })
		.use(
			openapi({
				path: "/v1/docs",
				specPath: "/v1/docs/json",
				provider: "swagger-ui",
				swagger: { cdn: `${ASSETS}/swagger-ui-bundle.js`, theme: `${ASSETS}/swagger-ui.css`, autoDarkMode: false },
				exclude: { paths: [/^\/v1\/docs/, "/healthz", "/readyz", "/login", "/logout"] },
				documentation: {
					info: {
						title: "PistonProtection API",
						version: VERSION,
						description: "REST API of the appliance (shared/spec/api.md)",
					},
					components: {
						securitySchemes: {
							bearer: { type: "http", scheme: "bearer", description: "API key (pp_live_…, pp_test_…) or access token" },
						},
					},
					security: [{ bearer: [] }],
				},
			}),
		)
		.get(`${ASSETS}/swagger-ui-bundle.js`, () => asset(swaggerBundle, "text/javascript; charset=utf-8"), {
			detail: { hide: true },
		})
		.get(`${ASSETS}/swagger-ui.css`, () => asset(swaggerCss, "text/css; charset=utf-8"), { detail: { hide: true } });
}

function asset(body: string, type: string): Response {
	return new Response(body, { headers: { "content-type": type, "cache-control": "public, max-age=86400" } });
}
