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

/** The tab icon browsers ask for at /favicon.ico: a small shield, as SVG. */
const ICON =
	'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path fill="#1d4ed8" d="M16 2 4 7v8c0 7.5 5.1 13.4 12 15 6.9-1.6 12-7.5 12-15V7z"/><path fill="#fff" d="M11 16h10v2H11zm0-5h10v2H11zm0 10h6v2h-6z"/></svg>';

export function assetRoutes() {
	return new Elysia({ name: "ui-assets" })
		.get(
			"/favicon.ico",
			() =>
				new Response(ICON, {
					headers: { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400" },
				}),
			{ detail: { hide: true } },
		)
		.get(
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
