// Settings: the organization's name, the data plane (interfaces, XDP mode, what it applied),
// GeoIP databases (status and update), and what each protection level means by default.
import type { GeoDatabaseInfo } from "../../src/geoip/database.ts";
import type { UpdateResult } from "../../src/geoip/update.ts";
import type { DataPlaneReadiness } from "../../src/services.ts";
import { Badge, Csrf, ErrorSummary, Field, type FormState, formatRate, formatTime, Notice } from "../components.tsx";
import type { Viewer } from "../layout.tsx";

export interface LevelRow {
	level: string;
	summary: string;
	srcPkt: string;
	srcByte: string;
	globPkt: string;
	globByte: string;
}

export interface GeoRow {
	kind: string;
	path: string;
	info: GeoDatabaseInfo | null;
	error: string | null;
	updateSource: boolean;
}

export interface SettingsProps {
	viewer: Viewer;
	orgForm: FormState;
	dataplane: DataPlaneReadiness;
	config: {
		enabled: boolean;
		interfaces: string[];
		xdpMode: string;
		pinPath: string;
		adminNetworks: string[];
		managementPorts: number[];
	};
	geo: GeoRow[];
	geoResults?: UpdateResult[];
	schedule: string;
	levels: LevelRow[];
	notice?: string;
}

export function SettingsPage(props: SettingsProps): string {
	const dp = props.dataplane;
	const c = props.config;
	const v = props.viewer;
	return (
		<>
			<h1>Settings</h1>
			<Notice message={props.notice} />
			<h2>Organization</h2>
			{v.can.admin ? (
				<form method="post" action="/settings/organization" class="panel row" novalidate>
					<Csrf token={v.csrf} />
					<ErrorSummary form={props.orgForm} />
					<Field form={props.orgForm} name="name" label="Name" required />
					<div class="field">
						<button type="submit">Save</button>
					</div>
				</form>
			) : (
				<p class="panel" safe>
					{props.orgForm.values.name ?? ""}
				</p>
			)}
			<h2>Data plane</h2>
			<div class="table-wrap">
				<table>
					<tbody>
						<tr>
							<th scope="row">State</th>
							<td>
								<Badge kind={dp.state} text={dp.state} />
								{dp.error ? (
									<p class="field-error" safe>
										{dp.error}
									</p>
								) : (
									""
								)}
							</td>
						</tr>
						<tr>
							<th scope="row">Attached interfaces</th>
							<td safe>{dp.interfaces.map((i) => `${i.name} (${i.mode})`).join(", ") || "none"}</td>
						</tr>
						<tr>
							<th scope="row">Configured interfaces</th>
							<td safe>{c.interfaces.join(", ") || "none (dataplane.interfaces)"}</td>
						</tr>
						<tr>
							<th scope="row">XDP mode</th>
							<td safe>{c.xdpMode}</td>
						</tr>
						<tr>
							<th scope="row">Pinned maps</th>
							<td class="mono" safe>
								{c.pinPath}
							</td>
						</tr>
						<tr>
							<th scope="row">Applied revisions</th>
							<td safe>
								{dp.applied
									? `services ${dp.applied.services}, rules ${dp.applied.rules}, lists ${dp.applied.lists}`
									: "—"}
							</td>
						</tr>
						<tr>
							<th scope="row">Admin networks</th>
							<td class="mono small" safe>
								{c.adminNetworks.join(", ")}
							</td>
						</tr>
						<tr>
							<th scope="row">Management ports</th>
							<td safe>{c.managementPorts.join(", ")}</td>
						</tr>
					</tbody>
				</table>
			</div>
			<p class="muted small">
				These come from the configuration file; change them there and reload (SIGHUP) or restart the service.
			</p>
			<h2>GeoIP databases</h2>
			{props.geoResults ? (
				<ul class="notice" role="status">
					{props.geoResults.map((r) => (
						<li safe>{`${r.kind}: ${r.status}${r.detail ? ` — ${r.detail}` : ""}`}</li>
					))}
				</ul>
			) : (
				""
			)}
			<div class="table-wrap">
				<table class="stack">
					<thead>
						<tr>
							<th>Kind</th>
							<th>File</th>
							<th>Format</th>
							<th>Built</th>
							<th>Update source</th>
						</tr>
					</thead>
					<tbody>
						{props.geo.map((g) => (
							<tr>
								<td data-label="Kind" safe>
									{g.kind}
								</td>
								<td data-label="File">
									<span class="mono small" safe>
										{g.path}
									</span>
									{g.info ? "" : <Badge kind="off" text={g.error ? "unreadable" : "missing"} />}
									{g.error ? (
										<p class="field-error" safe>
											{g.error}
										</p>
									) : (
										""
									)}
								</td>
								<td data-label="Format" safe>
									{g.info ? `${g.info.format} ${g.info.databaseType}` : "—"}
								</td>
								<td data-label="Built" safe>
									{formatTime(g.info?.builtAt)}
								</td>
								<td data-label="Update source">{g.updateSource ? "configured" : "none configured"}</td>
							</tr>
						))}
					</tbody>
				</table>
			</div>
			<p class="muted small">
				Scheduled update: <code safe>{props.schedule}</code>
			</p>
			{v.can.admin ? (
				<form method="post" action="/settings/geoip/update" data-confirm="Download the GeoIP databases now?">
					<Csrf token={v.csrf} />
					<button type="submit" class="secondary">
						Update GeoIP databases now
					</button>
				</form>
			) : (
				""
			)}
			<h2>Protection level defaults</h2>
			<div class="table-wrap">
				<table class="stack">
					<thead>
						<tr>
							<th>Level</th>
							<th>Adds</th>
							<th class="num">Per source packets/s (burst)</th>
							<th class="num">Per source bytes/s (burst)</th>
							<th class="num">Backend packets/s (burst)</th>
							<th class="num">Backend bytes/s (burst)</th>
						</tr>
					</thead>
					<tbody>
						{props.levels.map((l) => (
							<tr>
								<td data-label="Level">
									<Badge kind={l.level} text={l.level} />
								</td>
								<td data-label="Adds" safe>
									{l.summary}
								</td>
								<td data-label="Per source packets/s" class="num" safe>
									{l.srcPkt}
								</td>
								<td data-label="Per source bytes/s" class="num" safe>
									{l.srcByte}
								</td>
								<td data-label="Backend packets/s" class="num" safe>
									{l.globPkt}
								</td>
								<td data-label="Backend bytes/s" class="num" safe>
									{l.globByte}
								</td>
							</tr>
						))}
					</tbody>
				</table>
			</div>
			<p class="muted small">A backend's own rate limits (Backends → Edit) replace these numbers for it.</p>
		</>
	) as string;
}

export const limitText = (l: { rate: number; burst: number }, unit = "") =>
	l.rate === 0 ? "none" : `${formatRate(l.rate, unit)} (${formatRate(l.burst, unit)})`;
