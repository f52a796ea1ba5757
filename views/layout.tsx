// The admin UI's frame: one document for every signed-in page (nav, theme switch, sign-out),
// and the page title. Pages render their content; the route returns it alone to htmx requests.
import type { Children } from "@kitajs/html";
import { ASSET_BASE } from "../src/ui/assets.ts";

export type Section =
	| "dashboard"
	| "backends"
	| "rules"
	| "ips"
	| "attacks"
	| "alerts"
	| "webhooks"
	| "members"
	| "api-keys"
	| "oauth-clients"
	| "audit"
	| "settings";

export interface Viewer {
	email: string;
	role: string;
	organizationName: string;
	csrf: string;
	/** What the viewer's role allows: controls for anything else are not rendered. */
	can: { write: boolean; delete: boolean; admin: boolean };
}

const NAV: Array<{ section: Section; href: string; label: string; admin?: boolean }> = [
	{ section: "dashboard", href: "/", label: "Dashboard" },
	{ section: "backends", href: "/backends", label: "Backends" },
	{ section: "rules", href: "/rules", label: "Filter rules" },
	{ section: "ips", href: "/ips", label: "IP lists" },
	{ section: "attacks", href: "/attacks", label: "Attacks" },
	{ section: "alerts", href: "/alerts", label: "Alerts" },
	{ section: "webhooks", href: "/webhooks", label: "Webhooks" },
	{ section: "members", href: "/members", label: "Members" },
	{ section: "api-keys", href: "/api-keys", label: "API keys" },
	{ section: "oauth-clients", href: "/oauth-clients", label: "OAuth clients", admin: true },
	{ section: "audit", href: "/audit", label: "Audit log", admin: true },
	{ section: "settings", href: "/settings", label: "Settings" },
];

/** The head every UI document shares (signed-in pages, setup, invitation acceptance). */
export function Head(props: { title: string; csrf?: string }): string {
	return (
		<head>
			<meta charset="utf-8" />
			<meta name="viewport" content="width=device-width, initial-scale=1" />
			<meta name="color-scheme" content="light dark" />
			<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}' />
			{props.csrf ? <meta name="csrf-token" content={props.csrf} /> : ""}
			<title safe>{props.title} · PistonProtection</title>
			<link rel="stylesheet" href={`${ASSET_BASE}/app.css`} />
			<script src={`${ASSET_BASE}/app.js`} />
			<script src={`${ASSET_BASE}/htmx.min.js`} defer />
		</head>
	) as string;
}

export function Layout(props: { title: string; section: Section; viewer: Viewer; children: Children }): string {
	const v = props.viewer;
	return (
		"<!DOCTYPE html>" +
		(
			<html lang="en">
				<Head title={props.title} csrf={v.csrf} />
				<body hx-headers={JSON.stringify({ "X-CSRF-Token": v.csrf })}>
					<a class="skip" href="#main">
						Skip to content
					</a>
					<header class="top">
						<a class="brand" href="/">
							PistonProtection
						</a>
						<span class="who">
							<span safe>{v.email}</span> · <span safe>{v.role}</span> · <span safe>{v.organizationName}</span>
						</span>
						<button type="button" id="theme-toggle" class="secondary small" aria-pressed="false">
							Dark theme
						</button>
						<form method="post" action="/logout">
							<input type="hidden" name="_csrf" value={v.csrf} />
							<button type="submit" class="secondary small">
								Sign out
							</button>
						</form>
					</header>
					<nav class="main" aria-label="Main">
						<ul>
							{NAV.filter((n) => !n.admin || v.can.admin).map((n) => (
								<li>
									<a href={n.href} aria-current={n.section === props.section ? "page" : undefined} safe>
										{n.label}
									</a>
								</li>
							))}
						</ul>
					</nav>
					<main id="main" tabindex="-1">
						{props.children}
					</main>
				</body>
			</html>
		)
	);
}

/** Setup and invitation pages: the same look, no navigation (nobody is signed in yet). */
export function BareLayout(props: { title: string; children: Children }): string {
	return (
		"<!DOCTYPE html>" +
		(
			<html lang="en">
				<Head title={props.title} />
				<body>
					<header class="top">
						<span class="brand">PistonProtection</span>
						<button type="button" id="theme-toggle" class="secondary small" aria-pressed="false">
							Dark theme
						</button>
					</header>
					<main id="main" class="auth">
						{props.children}
					</main>
				</body>
			</html>
		)
	);
}
