// Backends: the list (search, status filter), the one-click protection level, and the detail
// page with origin health and per-backend charts.
import type { Backend } from "../../src/domain/backends/model.ts";
import { PROTECTION_LEVELS } from "../../src/domain/backends/model.ts";
import type { CollectorState } from "../../src/telemetry/collector.ts";
import { LineChart } from "../chart.tsx";
import { ActionForm, Badge, Csrf, formatRate, formatTime, Notice, Pager } from "../components.tsx";
import type { Viewer } from "../layout.tsx";

const LEVEL_LABELS: Record<string, string> = {
	OFF: "Off",
	LOW: "Low",
	MEDIUM: "Medium",
	HIGH: "High",
	UNDER_ATTACK: "Under attack",
};

/** The protection level as one button per level; the current one is pressed. */
export function LevelSwitch(props: { backend: Backend; viewer: Viewer; back: string }): string {
	const b = props.backend;
	const current = b.protection.level;
	if (!props.viewer.can.write)
		return (
			<span id={`level-${b.id}`}>
				<Badge kind={current} text={LEVEL_LABELS[current] ?? current} />
			</span>
		) as string;
	return (
		<form
			id={`level-${b.id}`}
			method="post"
			action={`/backends/${b.id}/level`}
			hx-post={`/backends/${b.id}/level`}
			hx-target="this"
			hx-swap="outerHTML"
		>
			<Csrf token={props.viewer.csrf} />
			<input type="hidden" name="back" value={props.back} />
			<fieldset class="levels">
				<legend class="skip">
					Protection level of <span safe>{b.name}</span>
				</legend>
				{PROTECTION_LEVELS.map((level) => (
					<button
						type="submit"
						name="level"
						value={level}
						class="secondary small"
						aria-pressed={level === current ? "true" : "false"}
						safe
					>
						{LEVEL_LABELS[level] ?? level}
					</button>
				))}
			</fieldset>
		</form>
	) as string;
}

export interface BackendListProps {
	viewer: Viewer;
	backends: Backend[];
	pagination: { page: number; pageSize: number; totalCount: number; hasNext: boolean };
	search: string;
	status: string;
	notice?: string;
}

const STATUS_OPTIONS = [
	["", "Any status"],
	["healthy", "Healthy"],
	["degraded", "Degraded"],
	["unhealthy", "Unhealthy"],
	["unknown", "Unknown"],
] as const;

export function BackendListPage(props: BackendListProps): string {
	const back = `/backends${props.search || props.status ? `?${new URLSearchParams({ search: props.search, status: props.status })}` : ""}`;
	return (
		<>
			<div class="spread">
				<h1>Backends</h1>
				{props.viewer.can.write ? (
					<a class="button" href="/backends/new">
						New backend
					</a>
				) : (
					""
				)}
			</div>
			<Notice message={props.notice} />
			<form
				method="get"
				action="/backends"
				class="row panel"
				aria-label="Search"
				hx-get="/backends"
				hx-trigger="input changed delay:300ms from:#f-search, change from:#f-status, submit"
				hx-target="#backend-list"
				hx-select="#backend-list"
				hx-swap="outerHTML"
				hx-push-url="true"
			>
				<div class="field">
					<label for="f-search">Search names and domains</label>
					<input id="f-search" type="search" name="search" value={props.search} />
				</div>
				<div class="field">
					<label for="f-status">Status</label>
					<select id="f-status" name="status">
						{STATUS_OPTIONS.map(([value, label]) => (
							<option value={value} selected={value === props.status} safe>
								{label}
							</option>
						))}
					</select>
				</div>
				<div class="field">
					<button type="submit" class="secondary">
						Filter
					</button>
				</div>
			</form>
			<div id="backend-list">
				{props.backends.length ? (
					<div class="table-wrap">
						<table class="stack">
							<thead>
								<tr>
									<th>Name</th>
									<th>Type</th>
									<th>Health</th>
									<th>Listeners</th>
									<th>Protection level</th>
								</tr>
							</thead>
							<tbody>
								{props.backends.map((b) => (
									<tr>
										<td data-label="Name">
											<a href={`/backends/${b.id}`} safe>
												{b.name}
											</a>
											<div class="muted small" safe>
												{b.domains.join(", ")}
											</div>
										</td>
										<td data-label="Type" safe>
											{b.type}
										</td>
										<td data-label="Health">
											<Badge kind={b.status.health} text={b.status.health} />{" "}
											<span class="muted small">
												{b.status.healthyOrigins}/{b.status.totalOrigins}
											</span>
										</td>
										<td data-label="Listeners" class="mono small" safe>
											{b.listeners.map((l) => `${l.address || "*"}:${l.port}/${l.protocol}`).join(" ")}
										</td>
										<td data-label="Level">
											<LevelSwitch backend={b} viewer={props.viewer} back={back} />
										</td>
									</tr>
								))}
							</tbody>
						</table>
					</div>
				) : (
					<p class="muted">No backends match.</p>
				)}
				<Pager base="/backends" query={{ search: props.search, status: props.status }} pagination={props.pagination} />
			</div>
		</>
	) as string;
}

/** One second of a backend; rxBps in bits per second. */
export interface BackendPoint {
	at: number;
	rxPps: number;
	passPps: number;
	dropPps: number;
	rxBps: number;
}

export interface BackendDetailProps {
	viewer: Viewer;
	backend: Backend;
	sampler: CollectorState;
	points: BackendPoint[];
	seconds: number;
	ruleCount: number;
	notice?: string;
}

export function BackendLive(props: BackendDetailProps): string {
	const b = props.backend;
	const p = props.points;
	return (
		<section
			id="backend-live"
			hx-get={`/backends/${b.id}`}
			hx-trigger="every 2s"
			hx-select="#backend-live"
			hx-swap="outerHTML"
		>
			<div class="grid">
				<div class="panel">
					<div class="muted small">Health</div>
					<div class="stat">
						<Badge kind={b.status.health} text={b.status.health} />
					</div>
					<div class="muted small">
						{b.status.healthyOrigins} of {b.status.totalOrigins} origins healthy
					</div>
				</div>
				<div class="panel">
					<div class="muted small">Received now</div>
					<div class="stat" safe>
						{p.length ? `${formatRate(p.at(-1)?.rxPps)} pps` : "—"}
					</div>
					<div class="muted small" safe>
						{p.length ? `${formatRate(p.at(-1)?.rxBps, "b/s")}` : "no samples"}
					</div>
				</div>
				<div class="panel">
					<div class="muted small">Open connections</div>
					<div class="stat" safe>
						{b.status.activeConnections === null ? "—" : String(b.status.activeConnections)}
					</div>
					<div class="muted small">through the proxy</div>
				</div>
			</div>
			{props.sampler.state === "sampling" ? (
				<div class="grid">
					<LineChart
						id="backend-pps"
						title="Packets per second"
						unit=""
						seconds={props.seconds}
						series={[
							{ label: "received", kind: "rx", values: p.map((x) => x.rxPps) },
							{ label: "passed", kind: "pass", values: p.map((x) => x.passPps) },
							{ label: "dropped", kind: "drop", values: p.map((x) => x.dropPps) },
						]}
					/>
					<LineChart
						id="backend-bps"
						title="Bits per second received"
						unit="b/s"
						seconds={props.seconds}
						series={[{ label: "received", kind: "rx", values: p.map((x) => x.rxBps) }]}
					/>
				</div>
			) : (
				<p class="muted">No live counters: the data plane is not loaded.</p>
			)}
			<h2>Origins</h2>
			<div class="table-wrap">
				<table class="stack">
					<thead>
						<tr>
							<th>Name</th>
							<th>Address</th>
							<th class="num">Weight</th>
							<th class="num">Priority</th>
							<th>Enabled</th>
							<th>Health</th>
						</tr>
					</thead>
					<tbody>
						{b.origins.map((o) => (
							<tr>
								<td data-label="Name" safe>
									{o.name}
								</td>
								<td data-label="Address" class="mono" safe>
									{`${o.address}:${o.port}`}
								</td>
								<td data-label="Weight" class="num">
									{o.weight}
								</td>
								<td data-label="Priority" class="num">
									{o.priority}
								</td>
								<td data-label="Enabled">{o.enabled ? "yes" : "no"}</td>
								<td data-label="Health">
									<Badge kind={o.healthStatus} text={o.healthStatus} />
								</td>
							</tr>
						))}
					</tbody>
				</table>
			</div>
			{b.origins.length ? "" : <p class="muted">No origins: nothing to forward to.</p>}
		</section>
	) as string;
}

function Setting(props: { label: string; value: string }): string {
	return (
		<tr>
			<th scope="row" safe>
				{props.label}
			</th>
			<td safe>{props.value}</td>
		</tr>
	) as string;
}

const rate = (r?: { requestsPerSecond: number; burstSize?: number }) =>
	r ? `${r.requestsPerSecond}/s${r.burstSize ? `, burst ${r.burstSize}` : ""}` : "level default";

export function BackendDetailPage(props: BackendDetailProps): string {
	const b = props.backend;
	const pr = b.protection;
	const hc = b.healthCheck;
	return (
		<>
			<div class="spread">
				<h1 safe>{b.name}</h1>
				<div class="row">
					<a class="button secondary" href={`/rules?backendId=${b.id}`}>
						Filter rules ({props.ruleCount})
					</a>
					{props.viewer.can.write ? (
						<a class="button" href={`/backends/${b.id}/edit`}>
							Edit
						</a>
					) : (
						""
					)}
				</div>
			</div>
			<Notice message={props.notice} />
			<div class="panel">
				<div class="spread">
					<strong>Protection level</strong>
					<LevelSwitch backend={b} viewer={props.viewer} back={`/backends/${b.id}`} />
				</div>
			</div>
			<BackendLive {...props} />
			<h2>Configuration</h2>
			<div class="table-wrap">
				<table>
					<tbody>
						<Setting label="Type" value={b.type} />
						<Setting
							label="Listeners"
							value={b.listeners.map((l) => `${l.address || "*"}:${l.port}/${l.protocol}`).join(", ")}
						/>
						<Setting label="Domains" value={b.domains.join(", ") || "—"} />
						<Setting
							label="Load balancer"
							value={`${b.loadBalancer.algorithm}${b.loadBalancer.stickySessions ? ", sticky sessions" : ""}`}
						/>
						<Setting
							label="Health check"
							value={
								hc.enabled
									? `every ${hc.intervalSeconds ?? "?"}s, timeout ${hc.timeoutSeconds ?? "?"}s, healthy after ${hc.healthyThreshold ?? "?"}, unhealthy after ${hc.unhealthyThreshold ?? "?"}${hc.minecraft?.queryStatus ? ", Minecraft status query" : ""}${hc.http ? `, HTTP ${hc.http.path}` : ""}`
									: "off"
							}
						/>
						<Setting label="Protection" value={`${pr.enabled ? "on" : "off"}, level ${pr.level}`} />
						<Setting label="Per-source rate limit" value={rate(pr.perIpRateLimit)} />
						<Setting label="Backend rate limit" value={rate(pr.globalRateLimit)} />
						<Setting
							label="Per-source bandwidth"
							value={pr.perIpBandwidth ? `${formatRate(pr.perIpBandwidth.bytesPerSecond, "B/s")}` : "level default"}
						/>
						<Setting
							label="GeoIP"
							value={pr.geoIp && pr.geoIp.mode !== "OFF" ? `${pr.geoIp.mode}: ${pr.geoIp.countries.join(", ")}` : "off"}
						/>
						<Setting
							label="Challenge"
							value={
								pr.challenge?.enabled
									? `${pr.challenge.type ?? "default"}${pr.challenge.difficulty ? `, difficulty ${pr.challenge.difficulty}` : ""}`
									: "off"
							}
						/>
						<Setting label="Created" value={formatTime(b.createdAt)} />
						<Setting label="Updated" value={formatTime(b.updatedAt)} />
					</tbody>
				</table>
			</div>
			{props.viewer.can.delete ? (
				<p>
					<ActionForm
						action={`/backends/${b.id}/delete`}
						csrf={props.viewer.csrf}
						label="Delete backend"
						danger
						confirm={`Delete backend '${b.name}' with its rules? This cannot be undone.`}
					/>
				</p>
			) : (
				""
			)}
		</>
	) as string;
}
