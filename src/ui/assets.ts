// Static assets of the web UI, embedded in the binary (import attributes) and served with
// long cache lifetimes under a versioned path, so the appliance needs no CDN and no files on disk.
import { Elysia } from "elysia";
import htmx from "htmx.org/dist/htmx.min.js" with { type: "text" };
import { VERSION } from "../version.ts";
import styles from "./static/app.css" with { type: "text" };
import script from "./static/app.js" with { type: "text" };

export const ASSET_BASE = `/static/${VERSION}`;

const ASSETS: Record<string, { body: string; type: string }> = {
	"htmx.min.js": { body: htmx, type: "text/javascript; charset=utf-8" },
	"app.css": { body: styles, type: "text/css; charset=utf-8" },
	"app.js": { body: script, type: "text/javascript; charset=utf-8" },
};

export function assetRoutes() {
	return new Elysia({ name: "ui-assets" }).get(
		`${ASSET_BASE}/:file`,
		({ params, set }) => {
			const asset = ASSETS[params.file];
			if (!asset) {
				set.status = 404;
				return "not found";
			}
			return new Response(asset.body, {
				headers: { "content-type": asset.type, "cache-control": "public, max-age=31536000, immutable" },
			});
		},
		{ detail: { hide: true } },
	);
}
